// Which second a PPS pulse marks (docs/design.md, "PPS: numbering a pulse"). Pure: the
// pulse's kernel timestamp and the lock's latest sample in, a second or the
// reason for dropping the pulse out; no fds, no clocks read here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string_view>

#include "core/source_rules.hpp"
#include "shmrefclock/sample.hpp"

namespace shmrefclock {

// The limit on ages (exactly 2 s is accepted): a lock sample received more
// than this before the pulse is stale (docs/design.md, "PPS: numbering a pulse"), and like
// chrony's RCL_AddPulse() we also refuse one received more than this after
// the pulse; a pulse handled more than this after its edge is late.
inline constexpr std::int64_t pps_max_lock_age_ns = SourceRules::stale_after_ns;
// The lock's time carried to the pulse must be within this of the second it
// rounds to (docs/design.md: chrony's lock window). Exactly 0.4 s is accepted.
inline constexpr std::int64_t pps_lock_window_ns = 400'000'000;

// Which edge of the pulse marks the second (`edge`).
enum class PpsEdge { assert_edge, clear_edge };
std::string_view to_string(PpsEdge edge);

enum class PulseVerdict {
    numbered,
    // The pulse reached the event loop more than 2 s after its edge (a
    // stalled loop, or an old event reported by a freshly opened device):
    // its sample would be stale before it is read.
    pulse_late,
    // The lock refclock has no current sample (never had one, or withdrawn).
    no_lock_time,
    // Its latest sample was received more than 2 s before the pulse.
    lock_stale,
    // Its latest sample was received more than 2 s after the pulse: the
    // pulse waited that long to be handled, or the clock stepped.
    lock_in_future,
    // The carried-forward time is more than 0.4 s from any second.
    outside_window,
    // Its edge was stamped before CLOCK_REALTIME was last stepped: on the old
    // scale, off by the step (PpsCore decides this one, not number_pulse).
    before_clock_step,
    // Numbered, but the synchronized kernel clock disagrees with the second
    // by more than its bound (core/witness.hpp): judged as an NMEA sample
    // is (PpsCore decides this one too).
    witness,
};
inline constexpr std::size_t pulse_verdict_count = 8;

// A short phrase for logs, e.g. "lock sample is more than 2 s old".
std::string_view to_string(PulseVerdict verdict);
// The identifier, e.g. "lock_stale": a counter's key in the live state and a
// Prometheus label value (docs/design.md, "Live state").
std::string_view name(PulseVerdict verdict);

struct PulseNumbering {
    PulseVerdict verdict = PulseVerdict::no_lock_time;
    // The second the pulse marks (tv_nsec 0); set when numbered.
    timespec second{};
    // The lock's time at the pulse: its reference time + (pulse − its
    // receive time); the pulse itself for the system clock. Set unless there
    // is no lock sample.
    timespec carried{};
    // carried − the nearest second, in [-0.5 s, +0.5 s); set with `carried`
    // once the lock's age has passed.
    std::int64_t residual_ns = 0;
    // pulse − the lock sample's receive time (negative when the sample
    // arrived after the edge but before the pulse was handled, which is
    // legitimate: the loop may see both in one batch); 0 for the system
    // clock.
    std::int64_t lock_age_ns = 0;
};

// Number a pulse (the kernel's timestamp of the edge) from a refclock's
// latest sample (its `offset` already applied, as RefclockDirectory returns
// it). `handled`: CLOCK_REALTIME when the pulse reached the event loop.
PulseNumbering number_pulse(timespec pulse, const std::optional<Sample>& lock, timespec handled);

// lock = "system": the system clock numbers the pulse, i.e. the carried time
// is the pulse's own kernel timestamp.
PulseNumbering number_pulse_by_system_clock(timespec pulse, timespec handled);

} // namespace shmrefclock
