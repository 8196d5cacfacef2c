#include "daemon/notify.hpp"

#include <ctime>

#include "config_h.hpp"
#if SHMREFCLOCK_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace shmrefclock::notify {

namespace {
void send(const std::string& message) {
#if SHMREFCLOCK_HAVE_SYSTEMD
    // unset_environment = 0: a reload keeps notifying.
    sd_notify(0, message.c_str());
#else
    (void)message;
#endif
}
} // namespace

void ready() {
    send("READY=1");
}

void status(const std::string& line) {
    send("STATUS=" + line);
}

void watchdog() {
    send("WATCHDOG=1");
}

void reloading() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    const auto usec = static_cast<unsigned long long>(now.tv_sec) * 1000000ULL +
                      static_cast<unsigned long long>(now.tv_nsec) / 1000ULL;
    send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void stopping() {
    send("STOPPING=1");
}

std::optional<std::uint64_t> watchdog_usec() {
#if SHMREFCLOCK_HAVE_SYSTEMD
    std::uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        return usec;
    }
#endif
    return std::nullopt;
}

} // namespace shmrefclock::notify
