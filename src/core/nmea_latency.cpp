#include "core/nmea_latency.hpp"

#include <cmath>

#include "shmrefclock/sample.hpp"

namespace shmrefclock {

std::int64_t NmeaLatency::latency_ns(timespec edge, timespec pulse_second, timespec receive,
                                     timespec named_second) {
    const std::int64_t arrival = timespec_diff_ns(receive, named_second); // R - S
    const std::int64_t pulse = timespec_diff_ns(edge, pulse_second);      // E - N
    // Saturating: both are seconds at most for pulses that were numbered.
    if ((pulse < 0 && arrival > INT64_MAX + pulse) || (pulse > 0 && arrival < INT64_MIN + pulse)) {
        return pulse < 0 ? INT64_MAX : -INT64_MAX; // as timespec_diff_ns saturates
    }
    return arrival - pulse;
}

bool NmeaLatency::settled(const Summary& summary) {
    if (summary.count < min_pulses) {
        return false;
    }
    // 1.858 MAD / sqrt(n) <= max (see the header).
    const double error = 1.858 * static_cast<double>(summary.spread_ns) /
                         std::sqrt(static_cast<double>(summary.count));
    return error <= static_cast<double>(max_standard_error_ns);
}

bool NmeaLatency::settled() const {
    const auto now = summary();
    return now && settled(*now);
}

std::optional<NmeaLatency::Report> NmeaLatency::add(timespec edge, timespec pulse_second,
                                                    timespec receive, timespec named_second) {
    window_.add(latency_ns(edge, pulse_second, receive, named_second));
    ++pulses_;
    const auto now = summary();
    if (!now || !settled(*now)) {
        return std::nullopt;
    }
    if (logged_ns_) {
        // In doubles: saturated latencies must not overflow the difference.
        const double moved =
            std::abs(static_cast<double>(now->median_ns) - static_cast<double>(*logged_ns_));
        if (moved <= static_cast<double>(relog_change_ns)) {
            return std::nullopt;
        }
    }
    logged_ns_ = now->median_ns;
    return Report{*now};
}

} // namespace shmrefclock
