#include "daemon/notify.hpp"

#include <ctime>

#include "io/service_manager.hpp"

namespace shmrefclock::notify {

namespace {
void send(const std::string& message) {
    service_manager::notify(message);
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
    return service_manager::watchdog_usec();
}

} // namespace shmrefclock::notify
