// When something happened: CLOCK_REALTIME (what samples carry) and
// CLOCK_MONOTONIC (what durations are measured on), read together when the
// event loop wakes up (io/event_loop.hpp).
#pragma once

#include <cstdint>
#include <ctime>

namespace shmrefclock {

struct Stamp {
    timespec realtime{};
    std::int64_t monotonic_ns = 0;
};

} // namespace shmrefclock
