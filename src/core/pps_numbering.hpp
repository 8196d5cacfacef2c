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
    // The receiver labelled the pulse (u-blox TIM-TP) with another second
    // than its fix, carried to the pulse, rounds to: one of the two is a
    // wrong second, and which cannot be told.
    label_disagrees,
    // The receiver labelled the pulse as not locked to GNSS (u-blox TIM-TP
    // TpNotLocked): its edge is the receiver's oscillator's guess.
    not_locked,
};
inline constexpr std::size_t pulse_verdict_count = 10;

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

// The receiver's own word on its next pulse, sent before it (u-blox TIM-TP:
// "the time of the next pulse", core/ubx_epoch.hpp): which UTC second the
// pulse marks and its quantization error.
struct PulseLabel {
    timespec second{};    // UTC, tv_nsec 0
    timespec announced{}; // CLOCK_REALTIME: the first-byte stamp of the cycle that carried it
    // qErr (ps), when the receiver says it is valid: the pulse's edge came
    // this much before the true second (the true second is the edge + qErr,
    // pulse_edge_corrected).
    std::optional<std::int32_t> q_err_ps;
    // The receiver's estimate of its time's accuracy in the epoch that
    // carried the label (tAcc, ns): the pulse's precision is no finer.
    std::optional<std::int64_t> t_acc_ns;
    // False when the receiver says the pulse is not locked to GNSS (TIM-TP
    // TpNotLocked): it comes from the receiver's free-running oscillator,
    // and is not published (PulseVerdict::not_locked).
    bool locked = true;
    // The receiver's leap indicator for that second, from its own
    // announcement (NAV-TIMELS: core/leap_seconds.hpp,
    // receiver_leap_announcement): the pulse of 00:00:00 on December 31
    // carries the day's leap, which the lock's sample of 23:59:59 the day
    // before cannot.
    Leap leap = Leap::none;
};
// A label is the one of a pulse whose edge came after it was announced and
// within this: TIM-TP precedes its pulse by less than the 1 s period (the
// messages between two pulses belong to the second, u-blox's timing
// integration manuals), plus the line's delivery.
inline constexpr std::int64_t pulse_label_window_ns = 1'200'000'000;
// Whether `label` is the one of the pulse at `edge`.
bool labels(const PulseLabel& label, timespec edge);
// The instant of the true second, on the system clock, of a pulse whose
// edge the kernel stamped at `edge`: the edge + qErr, rounded to the
// nanosecond (satpulse's convention, gps/gpsprot/msg.go: "the true time of
// the top of second is the time of the pulse plus the PulseOffset", qErr).
timespec pulse_edge_corrected(timespec edge, std::int32_t q_err_ps);

// Number a pulse (the kernel's timestamp of the edge) from a refclock's
// latest sample (its `offset` already applied, as RefclockDirectory returns
// it). `handled`: CLOCK_REALTIME when the pulse reached the event loop.
PulseNumbering number_pulse(timespec pulse, const std::optional<Sample>& lock, timespec handled);

// lock = "system": the system clock numbers the pulse, i.e. the carried time
// is the pulse's own kernel timestamp.
PulseNumbering number_pulse_by_system_clock(timespec pulse, timespec handled);

} // namespace shmrefclock
