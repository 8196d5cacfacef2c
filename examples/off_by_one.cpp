// Feed SHM unit 2 the system time minus one second, once a second: the NTP
// daemon must then find the system clock 1.000 s fast. The C++ twin of
// off_by_one.py, against the installed library only:
//
//     c++ off_by_one.cpp $(pkg-config --cflags --libs shmrefclock) -o off_by_one
#include <shmrefclock/shm.hpp>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <ctime>

#include <unistd.h>

namespace {
volatile std::sig_atomic_t stop = 0;
}

int main() {
    std::signal(SIGINT, [](int) { stop = 1; });
    std::signal(SIGTERM, [](int) { stop = 1; });
    try {
        shmrefclock::ShmWriter shm(2); // created 0600, or attached after the checks
        while (!stop) {
            timespec now{};
            clock_gettime(CLOCK_REALTIME, &now);
            const std::int64_t receive_ns = std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
            shm.write(receive_ns - 1'000'000'000, receive_ns, shmrefclock::Leap::none, -20);
            sleep(1); // a signal ends it early
        }
    } catch (const shmrefclock::ShmError& e) { // e.g. a segment someone else owns
        std::fprintf(stderr, "off_by_one: %s\n", e.what());
        return 1;
    }
    return 0; // ~ShmWriter cleared `valid`
}
