// A time sample: what a source measured and what the outputs publish.
#pragma once

#include <cstdint>
#include <ctime>
#include <limits>

#include "shmrefclock/export.hpp"

namespace shmrefclock {

inline constexpr std::int64_t ns_per_s = 1'000'000'000;
inline constexpr std::int64_t seconds_per_day = 86400; // POSIX days have no leap seconds

// Leap indicator as the SHM segment and NTP carry it.
enum class Leap : int { none = 0, insert = 1, remove = 2, unsynchronized = 3 };

struct Sample {
    // True UTC of the instant, as the source reports it (after `offset`).
    timespec reference_time{};
    // CLOCK_REALTIME at the instant the sample was received.
    timespec receive_time{};
    Leap leap = Leap::none;
    // log2 seconds.
    int precision = -1;
    // A PPS pulse numbered by the system clock rather than by a time source:
    // chrony's SOCK refclock then numbers the second itself (sock_sample.pulse).
    bool pulse = false;
};

// Nanosecond arithmetic on timespec kept in one place so that every source
// normalises the same way (tv_nsec always in [0, 1e9), also when the input's
// was not) and none can overflow. The times compared come from receivers and
// SHM segments, that is from outside: a ZDA in the year 2611 is 2^64 ns from
// 2026, and a wrapped difference would look like a plausible one. So every
// result SATURATES instead of wrapping: a difference at +-INT64_MAX
// (+-292 years; symmetric, so that it may be negated or its absolute value
// taken), a time at the range of time_t (2038 where time_t has 32 bits).
// Every caller compares differences with bounds of seconds, which a
// saturated one never meets.
SHMREFCLOCK_API timespec timespec_add(timespec t, std::int64_t nanoseconds);
SHMREFCLOCK_API std::int64_t timespec_diff_ns(timespec a, timespec b); // a - b
SHMREFCLOCK_API std::int64_t offset_to_ns(double seconds);
// Nanoseconds since the epoch <-> timespec (tv_nsec in [0, 1e9) also for
// times before 1970). timespec_to_ns saturates after 2262 and before 1677:
// compare timespecs field by field, not by this, where that matters.
SHMREFCLOCK_API timespec timespec_from_ns(std::int64_t nanoseconds);
SHMREFCLOCK_API std::int64_t timespec_to_ns(timespec t);
// a - b in nanoseconds (two monotonic or epoch times), saturating as
// timespec_diff_ns does: at +-INT64_MAX, never INT64_MIN. Inline, so that
// the rules in src/core/ that take such times from outside use this one.
constexpr std::int64_t saturating_sub_ns(std::int64_t a, std::int64_t b) {
    std::int64_t result = 0;
    if (__builtin_sub_overflow(a, b, &result) ||
        result == std::numeric_limits<std::int64_t>::min()) {
        return a > b ? std::numeric_limits<std::int64_t>::max()
                     : -std::numeric_limits<std::int64_t>::max();
    }
    return result;
}
// Nanoseconds as seconds, for offsets in messages and chrony's SOCK.
constexpr double ns_to_seconds(std::int64_t nanoseconds) {
    return static_cast<double>(nanoseconds) / 1e9;
}

} // namespace shmrefclock
