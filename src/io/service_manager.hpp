// The two systemd interfaces the daemon uses, spoken directly rather than
// through libsystemd: on bookworm libsystemd.so.0 maps libgcrypt,
// libgpg-error, liblzma, libzstd, liblz4 and libcap with it, about 1 MB of
// the daemon's resident set for two calls (issue 22, bench/README.md "Where
// the memory goes"). Both interfaces are documented as stable for
// reimplementation: the notification datagram (sd_notify(3), "NOTES") and
// the environment of the watchdog (sd_watchdog_enabled(3)). The journal is
// reached through stderr with sd-daemon(3)'s priority prefixes (io/log.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace shmrefclock::service_manager {

// Sends `message` (e.g. "READY=1", several assignments separated by '\n')
// as one datagram to $NOTIFY_SOCKET: a path, or an abstract socket when it
// starts with '@'. False when the variable is unset, names no AF_UNIX
// socket we can reach (vsock addresses are not supported), or the send
// fails; the daemon runs on either way, as it would under libsystemd.
bool notify(std::string_view message);

// The watchdog period the manager asked for: $WATCHDOG_USEC, when
// $WATCHDOG_PID is unset or names this process (the manager sets it so that
// a child does not take its parent's watchdog).
std::optional<std::uint64_t> watchdog_usec();

// The rule of watchdog_usec() on given values (null: unset), for tests:
// a positive decimal period, and a pid that is unset or `self`.
std::optional<std::uint64_t> watchdog_usec_from(const char* usec, const char* pid, long self);

} // namespace shmrefclock::service_manager
