// Health reports to the service manager (sd_notify(3), sent by
// io/service_manager.hpp). Without $NOTIFY_SOCKET every call does nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace shmrefclock::notify {

void ready();
void status(const std::string& line);
void watchdog();
// RELOADING=1 with MONOTONIC_USEC, as systemd 253's Type=notify-reload wants.
void reloading();
void stopping();
// The watchdog period the manager asked for ($WATCHDOG_USEC), if any.
std::optional<std::uint64_t> watchdog_usec();

} // namespace shmrefclock::notify
