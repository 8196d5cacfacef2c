#include "shmrefclock/sample.hpp"

#include <cmath>

namespace shmrefclock {

timespec timespec_add(timespec t, std::int64_t nanoseconds) {
    std::int64_t ns = t.tv_nsec + nanoseconds % ns_per_s;
    std::int64_t s = t.tv_sec + nanoseconds / ns_per_s;
    if (ns < 0) {
        ns += ns_per_s;
        --s;
    } else if (ns >= ns_per_s) {
        ns -= ns_per_s;
        ++s;
    }
    return timespec{static_cast<time_t>(s), static_cast<long>(ns)};
}

std::int64_t timespec_diff_ns(timespec a, timespec b) {
    return (static_cast<std::int64_t>(a.tv_sec) - b.tv_sec) * ns_per_s + (a.tv_nsec - b.tv_nsec);
}

std::int64_t offset_to_ns(double seconds) {
    return std::llround(seconds * 1e9);
}

timespec timespec_from_ns(std::int64_t nanoseconds) {
    std::int64_t s = nanoseconds / ns_per_s;
    std::int64_t ns = nanoseconds % ns_per_s;
    if (ns < 0) { // C++ division truncates toward zero
        ns += ns_per_s;
        --s;
    }
    return timespec{static_cast<time_t>(s), static_cast<long>(ns)};
}

std::int64_t timespec_to_ns(timespec t) {
    return static_cast<std::int64_t>(t.tv_sec) * ns_per_s + t.tv_nsec;
}

} // namespace shmrefclock
