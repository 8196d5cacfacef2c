// Continuity of a receiver's time (docs/design.md, "NMEA: continuity"):
// the receiver's time minus CLOCK_MONOTONIC is a timeline, and every cycle
// that names a valid time is judged against the timeline of the samples
// already published, whatever was refused in between. A cycle off that
// timeline is not published; a new timeline that holds is believed only on
// the kernel witness's word or after a probation. Late is acceptable, wrong
// is not (issue 18).
//
// Pure: times come in as arguments, the kernel's state as data. All
// arithmetic saturates (sample.hpp): a receiver's time can be anything, and
// a wrapped difference could look like "1 s later".
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <vector>

#include "core/kernel_clock.hpp"
#include "core/witness.hpp"
#include "shmrefclock/sample.hpp"

namespace shmrefclock {

// `step-probation`: how long a new timeline must hold before it is believed
// without the witness. Ten minutes: a receiver that is wrong by a whole
// second stays wrong for longer than that only if it is wrong for good
// (then it is the user's to see: the warnings, the counter, the status), and
// a real correction (the leap count learnt after a cold start, 12.5 minutes
// of almanac at most) costs ten minutes of no samples, never a wrong one.
inline constexpr std::int64_t default_step_probation_ns = 600 * ns_per_s;

// One cycle on the timeline's scale: the reported time (POSIX time plus the
// leap seconds believed since the check began, so that the scale does not
// stand still for 23:59:60) and its first byte on CLOCK_MONOTONIC. Elapsed
// time is measured on the monotonic clock: CLOCK_REALTIME repeats 23:59:59
// when the kernel inserts a leap second, and is stepped by NTP daemons.
struct TimelinePoint {
    timespec reference{};
    std::int64_t receive_ns = 0;
};

// Points of one timeline at log-spaced ages: the newest, then each about
// twice as old as the one before (at most twice), none older than
// Timeline::judge_span_ns. Judging a cycle against every one of them
// catches a walk of rate r within about tolerance / (r - 2 max_walk_ppm) of
// its start, whatever the age of the timeline: never after a deviation that
// grows with the run, as one point at the run's start did.
class Anchors {
public:
    void add(TimelinePoint point);
    const std::vector<TimelinePoint>& points() const { return points_; } // newest first
    const TimelinePoint& newest() const { return points_.front(); }
    bool empty() const { return points_.empty(); }
    // Bounded: ages double at least every second point up to judge_span_ns.
    static constexpr std::size_t max_points = 32;

private:
    std::vector<TimelinePoint> points_;
};

// The kernel witness's data for one cycle, to judge a new timeline
// (core/witness.hpp).
struct StepEvidence {
    WitnessSettings settings{};
    KernelClock kernel{};
    timespec receive{}; // the cycle's first-byte stamp, CLOCK_REALTIME
};

class Timeline {
public:
    // A cycle is on a timeline if it is within this of every anchor's time
    // carried forward, plus max_walk_ppm of the span. 50 ms: a UART or USB
    // receiver's first-byte stamp jitters by milliseconds, a loaded machine
    // (CI with compiles beside it) has delayed a stamp by tens of ms, and a
    // false step costs a probation; and the tolerance is what a walk may
    // reach before it is caught, which must stay well under the 0.1 s that
    // is wrong (issue 18): a cycle 0.12 s off the timeline is refused.
    static constexpr std::int64_t tolerance_ns = 50'000'000;
    // What the monotonic clock's own rate error can explain: the kernel
    // corrects the frequency by at most 500 ppm, a slew by ntpd's adjtime
    // adds as much, a crystal is off by less than 100 ppm. A receiver that
    // walks slower than this cannot be told from the system clock: that is
    // the kernel witness's job. chronyd's fast slews (maxslewrate, up to
    // 83,333 ppm) are not covered: they look like a walk, and cost a
    // probation unless the witness vouches for the new timeline.
    static constexpr std::int64_t max_walk_ppm = 1000;
    // A timeline judges cycles only while its newest point is younger than
    // this: beyond it, tolerance + span x max_walk_ppm reaches half a second
    // and could no longer tell a wrong second from the clock's own drift.
    static constexpr std::int64_t judge_span_ns =
        (ns_per_s / 2 - tolerance_ns) / max_walk_ppm * 1'000'000;
    // This long without a cycle to judge (no fix, an unplugged receiver, a
    // receiver that restarted) and the receiver may really have
    // restarted: a fresh acquisition may begin, believed after
    // min-fixes cycles -- unless its timeline differs from the last by a
    // whole number of seconds (judged while the last is younger than
    // judge_span_ns), which is a step like any other. A minute: a receiver
    // power-cycled takes longer than that to a fix (a cold start, 30 s and
    // more), a receiver that drops some cycles or sends no-fix cycles among
    // valid ones (every refusal in issue 18) is never silent for as long.
    static constexpr std::int64_t restart_silence_ns = 60 * ns_per_s;

    enum class Verdict {
        publish,
        acquiring,   // fewer than min-fixes agreeing cycles since the last doubt
        jumped,      // off the timeline, and does not follow the last cycle
        walked,      // follows the last cycle, but off the timeline
        same_second, // on the timeline, within a second already counted
        repeat,      // the same time as the last cycle: a repeated cycle
        probation,   // on a new timeline that holds, not believed yet
    };
    struct Judgement {
        Verdict verdict = Verdict::acquiring;
        // Off a timeline: how far, at which span (the worst excess).
        std::int64_t deviation_ns = 0;
        std::int64_t span_ns = 0;
        // A new timeline that needs evidence has held for min-fixes cycles
        // (its probation starts), or is now believed: after its probation,
        // or on the witness's word. `step_ns`: new minus old timeline.
        bool probation_started = false;
        bool probation_ended = false;
        bool witnessed = false;
        std::int64_t step_ns = 0;
    };

    explicit Timeline(int min_fixes = 3, std::int64_t probation_ns = default_step_probation_ns)
        : min_fixes_(min_fixes), probation_ns_(probation_ns) {}

    // Judge a cycle that names a valid time: `reference` (23:59:59 with
    // `leap_second` for 23:59:60, as the parser reports it), first byte at
    // `receive_ns` (CLOCK_MONOTONIC). `leap_believed`: a 23:59:60 moves the
    // scale (a valid list schedules it); otherwise it is a -1 s step like
    // any other. `evidence`: the kernel witness, if the shell read it.
    Judgement add(timespec reference, std::int64_t receive_ns, bool leap_second = false,
                  bool leap_believed = true, const StepEvidence* evidence = nullptr);
    // The cycle add() said to publish goes out (or is refused by the
    // witness only): it anchors the believed timeline.
    void published();
    // A refused cycle (no fix, disagreeing sentences, a clock step...):
    // min-fixes cycles on the timeline again before the next sample. The
    // timeline itself is kept: a refused cycle says nothing about it.
    void break_run() { consecutive_ = 0; }
    // The daemon reloaded its configuration: the same receiver goes on, and
    // what was believed of it stays believed (a reload is no restart
    // silence). Takes `old`'s timelines and candidate, keeps this one's
    // min-fixes and probation; min-fixes cycles again before a sample.
    void carry_from(const Timeline& old);

    int consecutive() const { return consecutive_; }
    bool believed() const { return believed_.has_value(); }
    // A new timeline on probation (it has held for min-fixes cycles and
    // waits for evidence): how long it has left, its step from the old one.
    bool on_probation() const {
        return candidate_ && candidate_->needs_evidence &&
               candidate_->count >= std::max(min_fixes_, 2);
    }
    std::int64_t probation_ns() const { return probation_ns_; }
    std::int64_t probation_left_ns(std::int64_t now_ns) const;
    std::int64_t probation_step_ns() const { return candidate_ ? candidate_->step_ns : 0; }

private:
    // A timeline not (yet) believed: the start-up acquisition, or a step.
    struct Candidate {
        Anchors anchors;
        int count = 0;
        std::int64_t first_ns = 0;
        bool needs_evidence = false;
        std::int64_t step_ns = 0;
        bool announced = false; // its probation was reported as started
    };
    struct Fit {
        bool on = true;
        std::int64_t deviation_ns = 0;
        std::int64_t span_ns = 0;
    };
    static Fit fit(const Anchors& anchors, const TimelinePoint& point);
    // The old timeline's reference at `point`'s stamp, carried from its newest anchor.
    static timespec carried(const Anchors& anchors, std::int64_t receive_ns);
    // A step on probation goes on with `point`: it is on the new timeline
    // and nearer to it than to the believed one (which may still take it,
    // its allowance grown with the time since its last anchor).
    bool continues_step(const TimelinePoint& point) const;
    // The cycle is off the believed timeline, or there is none to judge
    // by: it belongs to a new one, which is believed after min-fixes
    // cycles if nothing was believed before, else only on evidence.
    Judgement off_timeline(const TimelinePoint& point, std::int64_t scale_ns,
                           const Fit& believed_fit, const std::optional<TimelinePoint>& before,
                           const StepEvidence* evidence);
    void adopt();

    int min_fixes_;
    std::int64_t probation_ns_;
    std::optional<Anchors> believed_;
    // The timeline believed before a restart silence: a new one must not
    // differ from it by a whole number of seconds.
    std::optional<Anchors> previous_;
    std::optional<Candidate> candidate_;
    int consecutive_ = 0;
    std::optional<TimelinePoint> last_;          // the last cycle judged
    std::optional<TimelinePoint> pending_;       // add() said publish
    std::optional<std::int64_t> counted_second_; // the last cycle that counted, run scale
    std::optional<timespec> last_reported_;
    bool last_leap_second_ = false;
    // Leap seconds believed since the check began; `in_leap_second`: the
    // last cycle was a believed 23:59:60, the next one a second further on.
    std::int64_t leap_seconds_ = 0;
    bool in_leap_second_ = false;
};

} // namespace shmrefclock
