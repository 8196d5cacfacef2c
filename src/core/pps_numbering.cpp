#include "core/pps_numbering.hpp"

namespace shmrefclock {

namespace {

constexpr long half_second_ns = 500'000'000;

// Round `carried` to the nearest second (half a second rounds up) and judge
// the distance against the lock window.
PulseNumbering round_to_second(PulseNumbering result) {
    const timespec& carried = result.carried;
    const time_t second = carried.tv_nsec >= half_second_ns ? carried.tv_sec + 1 : carried.tv_sec;
    result.residual_ns =
        carried.tv_nsec >= half_second_ns ? carried.tv_nsec - ns_per_s : carried.tv_nsec;
    if (result.residual_ns > pps_lock_window_ns || result.residual_ns < -pps_lock_window_ns) {
        result.verdict = PulseVerdict::outside_window;
        return result;
    }
    result.verdict = PulseVerdict::numbered;
    result.second = timespec{second, 0};
    return result;
}

} // namespace

std::string_view to_string(PpsEdge edge) {
    return edge == PpsEdge::assert_edge ? "assert" : "clear";
}

std::string_view to_string(PulseVerdict verdict) {
    switch (verdict) {
    case PulseVerdict::numbered:
        return "numbered";
    case PulseVerdict::pulse_late:
        return "pulse was handled more than 2 s after its edge";
    case PulseVerdict::no_lock_time:
        return "lock has no current time";
    case PulseVerdict::lock_stale:
        return "lock sample is more than 2 s old";
    case PulseVerdict::lock_in_future:
        return "lock sample is more than 2 s after the pulse";
    case PulseVerdict::outside_window:
        return "lock time is more than 0.4 s from a second";
    case PulseVerdict::before_clock_step:
        return "its edge was stamped before the system clock was stepped";
    case PulseVerdict::witness:
        return "refused by the kernel witness";
    case PulseVerdict::label_disagrees:
        return "the receiver's label for the pulse (TIM-TP) names another second than its fix";
    case PulseVerdict::not_locked:
        return "the receiver says the pulse is not locked to GNSS (TIM-TP TpNotLocked)";
    }
    return "?";
}

std::string_view name(PulseVerdict verdict) {
    switch (verdict) {
    case PulseVerdict::numbered:
        return "numbered";
    case PulseVerdict::pulse_late:
        return "pulse_late";
    case PulseVerdict::no_lock_time:
        return "no_lock_time";
    case PulseVerdict::lock_stale:
        return "lock_stale";
    case PulseVerdict::lock_in_future:
        return "lock_in_future";
    case PulseVerdict::outside_window:
        return "outside_window";
    case PulseVerdict::before_clock_step:
        return "before_clock_step";
    case PulseVerdict::witness:
        return "witness";
    case PulseVerdict::label_disagrees:
        return "label_disagrees";
    case PulseVerdict::not_locked:
        return "not_locked";
    }
    return "?";
}
static_assert(static_cast<std::size_t>(PulseVerdict::not_locked) + 1 == pulse_verdict_count,
              "pulse_verdict_count counts every PulseVerdict");

bool labels(const PulseLabel& label, timespec edge) {
    const std::int64_t after = timespec_diff_ns(edge, label.announced);
    return after > 0 && after <= pulse_label_window_ns;
}

timespec pulse_edge_corrected(timespec edge, std::int32_t q_err_ps) {
    // ps to ns, to the nearest (half away from zero).
    const std::int64_t ps = q_err_ps;
    const std::int64_t ns = ps >= 0 ? (ps + 500) / 1000 : -((-ps + 500) / 1000);
    return timespec_add(edge, ns);
}

PulseNumbering number_pulse(timespec pulse, const std::optional<Sample>& lock, timespec handled) {
    PulseNumbering result;
    if (timespec_diff_ns(handled, pulse) > pps_max_lock_age_ns) {
        result.verdict = PulseVerdict::pulse_late;
        return result;
    }
    if (!lock) {
        result.verdict = PulseVerdict::no_lock_time;
        return result;
    }
    result.lock_age_ns = timespec_diff_ns(pulse, lock->receive_time);
    result.carried = timespec_add(lock->reference_time, result.lock_age_ns);
    if (result.lock_age_ns < -pps_max_lock_age_ns) {
        result.verdict = PulseVerdict::lock_in_future;
        return result;
    }
    if (result.lock_age_ns > pps_max_lock_age_ns) {
        result.verdict = PulseVerdict::lock_stale;
        return result;
    }
    return round_to_second(result);
}

PulseNumbering number_pulse_by_system_clock(timespec pulse, timespec handled) {
    PulseNumbering result;
    if (timespec_diff_ns(handled, pulse) > pps_max_lock_age_ns) {
        result.verdict = PulseVerdict::pulse_late;
        return result;
    }
    result.carried = pulse;
    return round_to_second(result);
}

} // namespace shmrefclock
