#include "core/timeline.hpp"

#include "shmrefclock/sample.hpp"

#include <algorithm>
#include <cstdlib>

namespace shmrefclock {

namespace {

// a - b, saturating (the monotonic times come from the shell, or from a
// replay of anything): the library's, shmrefclock/sample.hpp.
constexpr std::int64_t elapsed_ns(std::int64_t a, std::int64_t b) {
    return saturating_sub_ns(a, b);
}

bool same_time(timespec a, timespec b) {
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

// What a timeline allows over `span_ns`: the stamp jitter, plus what the
// monotonic clock's rate error adds. The division first keeps the product
// in range for any span.
std::int64_t allowed_ns(std::int64_t span_ns) {
    return Timeline::tolerance_ns + span_ns / 1'000'000 * Timeline::max_walk_ppm;
}

// Judgeable: the newest point is young enough that the allowance is under
// half a second (Timeline::judge_span_ns).
bool judgeable(const Anchors& anchors, std::int64_t receive_ns) {
    return !anchors.empty() &&
           elapsed_ns(receive_ns, anchors.newest().receive_ns) <= Timeline::judge_span_ns;
}

} // namespace

void Anchors::add(TimelinePoint point) {
    points_.insert(points_.begin(), point);
    const auto age = [&](const TimelinePoint& p) {
        return elapsed_ns(point.receive_ns, p.receive_ns);
    };
    // Older than a timeline can judge by: of no use (the newest is kept
    // whatever its age, it is the one added).
    while (points_.size() > 1 && age(points_.back()) > Timeline::judge_span_ns) {
        points_.pop_back();
    }
    // Keep a point only if dropping it would leave its neighbours more than
    // a factor of two apart in age: every age up to the oldest then has a
    // point at most twice as old, and the ages double at least every other
    // point (about 2 log2(judge_span / 1 s) points).
    for (std::size_t j = 1; j + 1 < points_.size();) {
        if (age(points_[j + 1]) <= 2 * age(points_[j - 1])) {
            points_.erase(points_.begin() + static_cast<std::ptrdiff_t>(j));
        } else {
            ++j;
        }
    }
    if (points_.size() > max_points) {
        points_.resize(max_points);
    }
}

Timeline::Fit Timeline::fit(const Anchors& anchors, const TimelinePoint& point) {
    Fit result;
    std::int64_t worst = 0;
    for (const TimelinePoint& anchor : anchors.points()) {
        const std::int64_t span = elapsed_ns(point.receive_ns, anchor.receive_ns);
        const std::int64_t deviation =
            timespec_diff_ns(point.reference, timespec_add(anchor.reference, span));
        // A stamp before an anchor's: the stamps are not in order, nothing
        // can be judged from them, and nothing is believed.
        const std::int64_t excess = span < 0 ? INT64_MAX : std::llabs(deviation) - allowed_ns(span);
        if (excess > 0 && (result.on || excess > worst)) {
            result.on = false;
            worst = excess;
            result.deviation_ns = deviation;
            result.span_ns = span;
        }
    }
    return result;
}

timespec Timeline::carried(const Anchors& anchors, std::int64_t receive_ns) {
    const TimelinePoint& newest = anchors.newest();
    return timespec_add(newest.reference, elapsed_ns(receive_ns, newest.receive_ns));
}

std::int64_t Timeline::probation_left_ns(std::int64_t now_ns) const {
    if (!on_probation()) {
        return 0;
    }
    return std::max<std::int64_t>(0, probation_ns_ - elapsed_ns(now_ns, candidate_->first_ns));
}

Timeline::Judgement Timeline::add(timespec reference, std::int64_t receive_ns, bool leap_second,
                                  bool leap_believed, const StepEvidence* evidence) {
    if (last_reported_ && same_time(reference, *last_reported_) &&
        leap_second == last_leap_second_) {
        // A receiver that sends each cycle twice (or a reader of a relay
        // that does): the repeat says nothing new, is not published again
        // and does not break the run -- its stamp is later than the
        // original's, by however long the repeat took.
        return Judgement{Verdict::repeat};
    }
    last_reported_ = reference;
    last_leap_second_ = leap_second;
    // The scale counts the believed leap seconds: 23:59:59, 23:59:60 and
    // 00:00:00 are POSIX 59, 59 and 60 but 2 s apart. A believed 23:59:60
    // is put a second after 23:59:59; the first cycle after it moves the
    // scale on. One not believed stays on POSIX time: a -1 s step, which
    // needs evidence like any other.
    const bool counted_leap = leap_second && leap_believed;
    if (in_leap_second_ && !counted_leap) {
        ++leap_seconds_;
    }
    in_leap_second_ = counted_leap;
    const std::int64_t scale_ns = (leap_seconds_ + (counted_leap ? 1 : 0)) * ns_per_s;
    const TimelinePoint point{timespec_add(reference, scale_ns), receive_ns};

    // Silence long enough for a restart: a fresh acquisition, compared
    // with the last timeline only for whole seconds.
    if (last_ && elapsed_ns(receive_ns, last_->receive_ns) >= restart_silence_ns) {
        if (believed_) {
            previous_ = std::move(believed_);
            believed_.reset();
        }
        candidate_.reset();
        consecutive_ = 0;
    }
    const std::optional<TimelinePoint> before = last_;
    last_ = point;
    pending_.reset();

    if (believed_ && judgeable(*believed_, receive_ns)) {
        const Fit on_believed = fit(*believed_, point);
        if (on_believed.on && continues_step(point)) {
            // On both: a step the believed timeline's allowance has grown
            // to cover (50 ms + 1000 ppm of the time since its last
            // anchor: a 0.1 s step after 50 s of refusals). The cycle
            // continues the new timeline more closely: it stays on
            // probation, not believed by the clock's drift allowance.
            Fit off = on_believed;
            off.on = false;
            off.deviation_ns = timespec_diff_ns(point.reference, carried(*believed_, receive_ns));
            return off_timeline(point, scale_ns, off, before, evidence);
        }
        if (on_believed.on) {
            // The believed timeline holds: a new one that had started is
            // forgotten (it did not hold continuously).
            candidate_.reset();
            if (counted_second_ && point.reference.tv_sec == *counted_second_) {
                // A receiver reporting 5 times a second: one sample per
                // second (a reader keeps only the last write before its
                // poll anyway).
                return Judgement{Verdict::same_second};
            }
            counted_second_ = point.reference.tv_sec;
            ++consecutive_;
            if (consecutive_ >= min_fixes_) {
                pending_ = point;
                return Judgement{Verdict::publish};
            }
            return Judgement{Verdict::acquiring};
        }
        return off_timeline(point, scale_ns, on_believed, before, evidence);
    }
    return off_timeline(point, scale_ns, Fit{false, 0, 0}, before, evidence);
}

bool Timeline::continues_step(const TimelinePoint& point) const {
    if (!candidate_ || !candidate_->needs_evidence || !believed_ ||
        !fit(candidate_->anchors, point).on) {
        return false;
    }
    const std::int64_t from_step = std::llabs(
        timespec_diff_ns(point.reference, carried(candidate_->anchors, point.receive_ns)));
    const std::int64_t from_believed =
        std::llabs(timespec_diff_ns(point.reference, carried(*believed_, point.receive_ns)));
    // A tie goes to the believed timeline: two stamps late by tens of ms on
    // a loaded machine must not start a probation.
    return from_step < from_believed;
}

Timeline::Judgement Timeline::off_timeline(const TimelinePoint& point, std::int64_t scale_ns,
                                           const Fit& believed_fit,
                                           const std::optional<TimelinePoint>& before,
                                           const StepEvidence* evidence) {
    Judgement judgement;
    // A cycle well off the believed timeline restarts the count of
    // min-fixes; one just outside the tolerance (a stamp a loaded machine
    // delayed by more than it) costs only itself.
    if (!believed_ || std::llabs(believed_fit.deviation_ns) >= 2 * tolerance_ns) {
        consecutive_ = 0;
    }
    const Fit on_candidate = candidate_ ? fit(candidate_->anchors, point) : Fit{false, 0, 0};
    if (candidate_ && on_candidate.on) {
        if (point.reference.tv_sec == candidate_->anchors.newest().reference.tv_sec) {
            return Judgement{Verdict::same_second};
        }
        candidate_->anchors.add(point);
        ++candidate_->count;
        judgement.verdict = candidate_->needs_evidence ? Verdict::probation : Verdict::acquiring;
    } else {
        // A new timeline starts here. Off the believed one (or the one
        // being acquired): jumped if it does not even follow the last
        // cycle judged, walked if it does (the timeline moved slowly).
        const bool had_timeline = believed_.has_value() || candidate_.has_value();
        const Fit& off = believed_ ? believed_fit : on_candidate;
        judgement.deviation_ns = off.deviation_ns;
        judgement.span_ns = off.span_ns;
        if (had_timeline) {
            bool follows = false;
            if (before) {
                Anchors last;
                last.add(*before);
                follows = fit(last, point).on;
            }
            judgement.verdict = follows ? Verdict::walked : Verdict::jumped;
        }
        Candidate candidate;
        candidate.anchors.add(point);
        candidate.count = 1;
        candidate.first_ns = point.receive_ns;
        if (believed_) {
            // Any timeline but the believed one needs evidence, however
            // long ago the believed one was last confirmed: the receiver
            // has not been silent.
            candidate.needs_evidence = true;
            candidate.step_ns =
                timespec_diff_ns(point.reference, carried(*believed_, point.receive_ns));
        }
        candidate_ = std::move(candidate);
    }
    Candidate& candidate = *candidate_;
    if (!believed_) {
        consecutive_ = candidate.count; // acquiring: "n of min-fixes"
    }
    // A timeline that would replace the believed one holds only from its
    // second cycle, whatever min-fixes says: one cycle is a jump, not a
    // timeline.
    if (candidate.count <
        (believed_ || candidate.needs_evidence ? std::max(min_fixes_, 2) : min_fixes_)) {
        return judgement;
    }
    if (!candidate.needs_evidence && !believed_ && previous_ && !candidate.announced &&
        judgeable(*previous_, point.receive_ns)) {
        // After a restart silence: the same timeline give or take a
        // fraction of a second (a receiver restarted with another latency)
        // is a fresh acquisition; a whole number of seconds off is a step.
        const std::int64_t step =
            timespec_diff_ns(point.reference, carried(*previous_, point.receive_ns));
        const std::int64_t seconds = (step + (step < 0 ? -ns_per_s / 2 : ns_per_s / 2)) / ns_per_s;
        if (seconds != 0) {
            candidate.needs_evidence = true;
            candidate.step_ns = step;
        }
    }
    if (!candidate.needs_evidence) {
        adopt();
        judgement.verdict = Verdict::publish;
        return judgement;
    }
    judgement.step_ns = candidate.step_ns;
    const Anchors& old = believed_ ? *believed_ : *previous_;
    if (evidence != nullptr) {
        // The synchronized kernel vouches for the new timeline and refuses
        // the old one: that is evidence. If it would take both (maxerror
        // too large to tell them apart), it is none.
        const timespec reported = timespec_add(point.reference, -scale_ns);
        const timespec old_reported = timespec_add(carried(old, point.receive_ns), -scale_ns);
        const WitnessVerdict on_new =
            judge_witness(evidence->settings, evidence->kernel, reported, evidence->receive);
        const WitnessVerdict on_old =
            judge_witness(evidence->settings, evidence->kernel, old_reported, evidence->receive);
        if (on_new.kind == WitnessVerdict::Kind::agree &&
            on_old.kind == WitnessVerdict::Kind::disagree) {
            judgement.witnessed = true;
            adopt();
            judgement.verdict = Verdict::publish;
            return judgement;
        }
    }
    if (elapsed_ns(point.receive_ns, candidate.first_ns) >= probation_ns_) {
        judgement.probation_ended = true;
        adopt();
        judgement.verdict = Verdict::publish;
        return judgement;
    }
    if (!candidate.announced) {
        candidate.announced = true;
        judgement.probation_started = true;
    }
    judgement.verdict = Verdict::probation;
    return judgement;
}

void Timeline::adopt() {
    const TimelinePoint point = candidate_->anchors.newest();
    believed_ = std::move(candidate_->anchors);
    candidate_.reset();
    previous_.reset();
    consecutive_ = std::max(min_fixes_, 1);
    counted_second_ = point.reference.tv_sec;
    pending_.reset(); // already an anchor
}

void Timeline::carry_from(const Timeline& old) {
    const int min_fixes = min_fixes_;
    const std::int64_t probation_ns = probation_ns_;
    *this = old;
    min_fixes_ = min_fixes;
    probation_ns_ = probation_ns;
    consecutive_ = 0;
    pending_.reset();
}

void Timeline::published() {
    if (pending_ && believed_) {
        believed_->add(*pending_);
    }
    pending_.reset();
}

} // namespace shmrefclock
