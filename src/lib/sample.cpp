#include "shmrefclock/sample.hpp"

#include <cmath>
#include <limits>

namespace shmrefclock {

namespace {

constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t int64_min = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t time_t_max = std::numeric_limits<time_t>::max();
constexpr std::int64_t time_t_min = std::numeric_limits<time_t>::min();

// A timespec as (seconds, nanoseconds in [0, 1e9)), whatever tv_nsec held
// (a hostile SHM segment can hold anything). Seconds saturate at the int64
// range: a time that far out is no time anyone reports.
struct Normal {
    std::int64_t s;
    std::int64_t ns;
};

Normal normalise(timespec t) {
    const auto nsec = static_cast<std::int64_t>(t.tv_nsec);
    std::int64_t carry = nsec / ns_per_s;
    std::int64_t ns = nsec % ns_per_s;
    if (ns < 0) { // C++ division truncates toward zero
        ns += ns_per_s;
        --carry;
    }
    std::int64_t s = 0;
    if (__builtin_add_overflow(static_cast<std::int64_t>(t.tv_sec), carry, &s)) {
        s = carry > 0 ? int64_max : int64_min;
    }
    return {s, ns};
}

// (s, ns) as a timespec; beyond the range of time_t (or at the end of the
// int64 range, where an overflow saturated), the end of time_t's range.
timespec saturated_timespec(std::int64_t s, std::int64_t ns) {
    if (s > time_t_max || s == int64_max) {
        return timespec{static_cast<time_t>(time_t_max), static_cast<long>(ns_per_s - 1)};
    }
    if (s < time_t_min || s == int64_min) {
        return timespec{static_cast<time_t>(time_t_min), 0};
    }
    return timespec{static_cast<time_t>(s), static_cast<long>(ns)};
}

} // namespace

timespec timespec_add(timespec t, std::int64_t nanoseconds) {
    const Normal n = normalise(t);
    std::int64_t ns = n.ns + nanoseconds % ns_per_s; // in (-1e9, 2e9)
    std::int64_t carry = nanoseconds / ns_per_s;
    if (ns < 0) {
        ns += ns_per_s;
        --carry;
    } else if (ns >= ns_per_s) {
        ns -= ns_per_s;
        ++carry;
    }
    std::int64_t s = 0;
    if (__builtin_add_overflow(n.s, carry, &s)) {
        // The ends of time, not a second before them.
        return carry > 0 ? saturated_timespec(int64_max, 0) : saturated_timespec(int64_min, 0);
    }
    return saturated_timespec(s, ns);
}

std::int64_t timespec_diff_ns(timespec a, timespec b) {
    const Normal x = normalise(a);
    const Normal y = normalise(b);
    // Saturate at +-INT64_MAX (symmetric, so that callers may negate or take
    // the absolute value): a difference of 292 years is no plausible one,
    // and every caller compares it with bounds of seconds.
    const std::int64_t beyond = x.s > y.s || (x.s == y.s && x.ns > y.ns) ? int64_max : -int64_max;
    std::int64_t seconds = 0;
    std::int64_t whole = 0;
    std::int64_t result = 0;
    if (__builtin_sub_overflow(x.s, y.s, &seconds) ||
        __builtin_mul_overflow(seconds, ns_per_s, &whole) ||
        __builtin_add_overflow(whole, x.ns - y.ns, &result) || result == int64_min) {
        return beyond;
    }
    return result;
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
    return saturated_timespec(s, ns);
}

std::int64_t timespec_to_ns(timespec t) {
    return timespec_diff_ns(t, timespec{});
}

} // namespace shmrefclock
