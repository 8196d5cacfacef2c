// The words and the identifiers of a cycle's outcome (core/nmea_core.hpp):
// what `decode` and the logs say, and the key each outcome is counted under
// in the live state and /metrics.
#include <cstddef>
#include <string_view>

#include "core/nmea_core.hpp"

namespace shmrefclock {

std::string_view to_string(CycleOutcome::Kind kind) {
    switch (kind) {
    case CycleOutcome::Kind::published:
        return "published";
    case CycleOutcome::Kind::no_time:
        return "no time-bearing sentence";
    case CycleOutcome::Kind::no_fix:
        return "receiver reports no fix";
    case CycleOutcome::Kind::not_stamped:
        return "first byte not seen after a quiet line";
    case CycleOutcome::Kind::leap_second:
        return "leap second 23:59:60 is not published";
    case CycleOutcome::Kind::unscheduled_leap:
        return "23:59:60 where the leap-second list has no leap second";
    case CycleOutcome::Kind::jumped:
        return "time is off the timeline and does not follow the previous cycle";
    case CycleOutcome::Kind::disagreeing:
        return "the cycle's sentences name different seconds";
    case CycleOutcome::Kind::time_late:
        return "time-bearing sentence began long after the cycle's first byte";
    case CycleOutcome::Kind::walked:
        return "time walks off the timeline";
    case CycleOutcome::Kind::repeat:
        return "repeat of the previous cycle";
    case CycleOutcome::Kind::acquiring:
        return "acquiring: fewer than min-fixes agreeing cycles";
    case CycleOutcome::Kind::same_second:
        return "second already published";
    case CycleOutcome::Kind::witness:
        return "refused by the kernel witness";
    case CycleOutcome::Kind::implausible_date:
        return "date not plausible";
    case CycleOutcome::Kind::probation:
        return "on a new timeline, on probation (step-probation or the witness)";
    case CycleOutcome::Kind::sub_second:
        return "between whole seconds (a receiver faster than 1 Hz, or the first cycle)";
    case CycleOutcome::Kind::leap_unknown:
        return "leap-second count not yet known to the receiver";
    }
    return "?";
}

std::string_view name(CycleOutcome::Kind kind) {
    switch (kind) {
    case CycleOutcome::Kind::published:
        return "published";
    case CycleOutcome::Kind::no_time:
        return "no_time";
    case CycleOutcome::Kind::no_fix:
        return "no_fix";
    case CycleOutcome::Kind::not_stamped:
        return "not_stamped";
    case CycleOutcome::Kind::time_late:
        return "time_late";
    case CycleOutcome::Kind::disagreeing:
        return "disagreeing";
    case CycleOutcome::Kind::leap_second:
        return "leap_second";
    case CycleOutcome::Kind::unscheduled_leap:
        return "unscheduled_leap";
    case CycleOutcome::Kind::jumped:
        return "jumped";
    case CycleOutcome::Kind::walked:
        return "walked";
    case CycleOutcome::Kind::repeat:
        return "repeat";
    case CycleOutcome::Kind::acquiring:
        return "acquiring";
    case CycleOutcome::Kind::same_second:
        return "same_second";
    case CycleOutcome::Kind::witness:
        return "witness";
    case CycleOutcome::Kind::implausible_date:
        return "implausible_date";
    case CycleOutcome::Kind::probation:
        return "probation";
    case CycleOutcome::Kind::sub_second:
        return "sub_second";
    case CycleOutcome::Kind::leap_unknown:
        return "leap_unknown";
    }
    return "?";
}
static_assert(static_cast<std::size_t>(CycleOutcome::Kind::leap_unknown) + 1 == cycle_outcome_count,
              "cycle_outcome_count counts every CycleOutcome::Kind");

} // namespace shmrefclock
