#include "core/nmea_core.hpp"

#include <cstdlib>

#include <fmt/format.h>

#include "core/time_format.hpp"

namespace shmrefclock {

CycleCheck::Verdict CycleCheck::add(timespec reference, timespec receive, int min_fixes) {
    Verdict verdict = Verdict::acquiring;
    if (last_reference && last_receive) {
        const std::int64_t reported = timespec_diff_ns(reference, *last_reference);
        const std::int64_t elapsed = timespec_diff_ns(receive, *last_receive);
        if (std::llabs(reported - elapsed) > agreement_ns) {
            consecutive = 0;
            verdict = Verdict::jumped;
        } else if (reference.tv_sec == last_reference->tv_sec) {
            // A receiver reporting 5 times a second: one sample per second
            // (a reader keeps only the last write before its poll anyway).
            last_reference = reference;
            last_receive = receive;
            return Verdict::same_second;
        }
    }
    last_reference = reference;
    last_receive = receive;
    ++consecutive;
    if (verdict == Verdict::jumped) {
        return verdict;
    }
    return consecutive >= min_fixes ? Verdict::publish : Verdict::acquiring;
}

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
    case CycleOutcome::Kind::jumped:
        return "time does not follow the previous cycle's";
    case CycleOutcome::Kind::acquiring:
        return "acquiring: fewer than min-fixes agreeing cycles";
    case CycleOutcome::Kind::same_second:
        return "second already published";
    case CycleOutcome::Kind::witness:
        return "refused by the kernel witness";
    case CycleOutcome::Kind::implausible_date:
        return "date not plausible";
    }
    return "?";
}

NmeaCore::NmeaCore(NmeaSettings settings)
    : settings_(std::move(settings)), rules_("starting"), parser_(settings_.floor),
      witness_(settings_.witness) {}

Actions NmeaCore::opened(std::int64_t monotonic_ns, bool line_rate, std::string_view description) {
    Actions actions;
    actions.log(MessageLevel::info, fmt::format("opened {} ({})", settings_.device, description));
    opened_monotonic_ = monotonic_ns;
    line_rate_ = line_rate;
    parser_.reset();
    cycle_.clear();
    check_.reset();
    in_cycle_ = false;
    actions.watch_device = true;
    rules_.set_health(actions, fmt::format("waiting for data on {}", settings_.device));
    return actions;
}

Actions NmeaCore::device_failed(const std::string& message) {
    Actions actions;
    in_cycle_ = false;
    actions.disarm(TimerId::batch);
    rules_.device_failed(actions, message);
    return actions;
}

Actions NmeaCore::readable(const Stamp& stamp, int queued) {
    Actions actions;
    if (in_cycle_) {
        return actions; // the batch timer reads the rest
    }
    // The stamp is when the loop saw the fd readable. On a line-rate device
    // the first of `queued` bytes arrived (queued - 1) byte times earlier.
    timespec start = stamp.realtime;
    if (line_rate_ && queued > 1) {
        start = timespec_add(start, -(queued - 1) * byte_time_ns(settings_.baud));
    }
    in_cycle_ = true;
    cycle_start_ = start;
    // The evidence for repairing a date (docs/design.md, "Evidence for a
    // receiver's time").
    parser_.set_system_clock(settings_.stamps_are_evidence ? std::optional<time_t>(start.tv_sec)
                                                           : settings_.system_clock);
    cycle_start_monotonic_ = stamp.monotonic_ns;
    // Right after an open the line's past is unknown (tcflush dropped what
    // was queued; a TCP peer sends from wherever it is): a byte that comes
    // at once may be the middle of a cycle, and its stamp would be late by
    // the part we missed. Only a line seen quiet for as long as a gap that
    // ends a cycle vouches for the stamp.
    cycle_stamped_ = stamp.monotonic_ns - opened_monotonic_ >= 2 * batch_period_ns;
    cycle_first_.reset();
    cycle_.clear();
    // From here on the batch timer reads; the fd would wake us per byte.
    actions.watch_device = false;
    actions.arm(TimerId::batch, batch_period_ns, batch_period_ns);
    return actions;
}

void NmeaCore::received(std::string_view bytes) {
    parser_.feed(bytes, [this](const nmea::Sentence& sentence) {
        cycle_.add(sentence);
        if (!cycle_first_) {
            cycle_first_ = sentence;
        }
    });
}

Actions NmeaCore::read_done(std::size_t total) {
    Actions actions;
    if (total == 0 && in_cycle_) {
        // Readable but nothing to read: a hangup is reported by read() as an
        // error, so this was spurious. Wait for the next byte.
        in_cycle_ = false;
        actions.disarm(TimerId::batch);
        actions.watch_device = true;
    }
    return actions;
}

Actions NmeaCore::batch(std::int64_t monotonic_ns, std::size_t total) {
    Actions actions;
    if (!in_cycle_) {
        return actions;
    }
    const std::int64_t age = monotonic_ns - cycle_start_monotonic_;
    if (total > 0 && age < max_cycle_ns) {
        return actions; // still arriving
    }
    // Quiet for a batch period: the cycle is complete. Or it never went quiet.
    finish_cycle(actions, monotonic_ns);
    if (total > 0) {
        // The line has not been quiet: what follows is mid-stream, and its
        // first byte's stamp says nothing about when a cycle began.
        cycle_stamped_ = false;
        rules_.set_health(actions, "line never quiet: cannot find the start of a cycle (too "
                                   "much output for the baud rate?)");
        cycle_.clear();
        cycle_first_.reset();
        cycle_start_monotonic_ = monotonic_ns;
        return actions;
    }
    // Quiet for a batch period: the cycle is complete.
    in_cycle_ = false;
    actions.disarm(TimerId::batch);
    actions.watch_device = true;
    return actions;
}

void NmeaCore::report(CycleOutcome::Kind kind, const nmea::Sentence* time) {
    if (observer_) {
        CycleOutcome outcome;
        outcome.kind = kind;
        if (time != nullptr) {
            outcome.time = *time;
        }
        outcome.receive_time = cycle_start_;
        observer_(outcome);
    }
}

void NmeaCore::finish_cycle(Actions& actions, std::int64_t now_ns) {
    const nmea::Counters& now = parser_.counters();
    if (now.bad_checksum != reported_.bad_checksum || now.garbage != reported_.garbage ||
        now.over_long != reported_.over_long || now.malformed != reported_.malformed) {
        actions.log(MessageLevel::debug,
                    fmt::format("dropped so far: {} bad checksum, {} malformed, {} garbage, {} "
                                "over-long",
                                now.bad_checksum, now.malformed, now.garbage, now.over_long));
        reported_ = now;
    }
    const nmea::Sentence* time = cycle_.time();
    if (time == nullptr && !cycle_first_) {
        // Nothing that bears a time: line noise between cycles, or a cycle
        // whose every sentence failed its checksum. That says nothing about
        // the fix, so like a missed cycle it neither counts nor breaks the
        // run of agreeing cycles (the next time is still checked against
        // the time elapsed since the last one).
        return;
    }
    if (time == nullptr && cycle_.implausible_date() != nullptr) {
        refuse_date(actions, *cycle_.implausible_date());
        return;
    }
    if (time == nullptr) {
        // The receiver says it has no fix; the stale timer withdraws the last
        // sample 2 s after its cycle, and the status says why meanwhile.
        check_.consecutive = 0;
        report(CycleOutcome::Kind::no_fix, &*cycle_first_);
        rules_.set_health(actions, "no fix");
        return;
    }
    if (!cycle_stamped_) {
        actions.log(MessageLevel::debug,
                    fmt::format("cycle {} from {} not published: its first byte was not seen "
                                "after a quiet line",
                                format_utc(*time->utc), time->name()));
        report(CycleOutcome::Kind::not_stamped, time);
        return;
    }
    if (time->leap_second) {
        // 23:59:60 has no POSIX name; the readers would see 23:59:59 twice.
        actions.log(MessageLevel::info,
                    fmt::format("leap second {} not published", format_utc(*time->utc)));
        report(CycleOutcome::Kind::leap_second, time);
        return;
    }
    const timespec reference = *time->utc;
    switch (check_.add(reference, cycle_start_, settings_.min_fixes)) {
    case CycleCheck::Verdict::jumped:
        actions.log(MessageLevel::warn,
                    fmt::format("receiver time {} ({}) does not follow the previous cycle's; not "
                                "published until {} cycles agree",
                                format_utc(reference), time->name(), settings_.min_fixes));
        report(CycleOutcome::Kind::jumped, time);
        rules_.set_health(actions, "time jumped; re-acquiring");
        return;
    case CycleCheck::Verdict::acquiring:
        report(CycleOutcome::Kind::acquiring, time);
        rules_.set_health(actions, fmt::format("acquiring: {} of {} fixes", check_.consecutive,
                                               settings_.min_fixes));
        return;
    case CycleCheck::Verdict::same_second:
        report(CycleOutcome::Kind::same_second, time);
        return;
    case CycleCheck::Verdict::publish:
        break;
    }
    // The kernel witness has the last word (core/witness.hpp).
    if (!witness_.allows(actions, reference, cycle_start_, now_ns, time->name())) {
        report(CycleOutcome::Kind::witness, time);
        rules_.set_health(actions, witness_.health());
        return;
    }
    Sample sample;
    sample.reference_time = reference;
    sample.receive_time = cycle_start_;
    // Stale 2 s after this cycle began, unless a newer one is published.
    rules_.publish(actions, sample, now_ns - cycle_start_monotonic_);
    rules_.device_works();
    report(CycleOutcome::Kind::published, time);
    actions.log(MessageLevel::debug,
                fmt::format("cycle {} from {}{}", format_utc(reference), time->name(),
                            time->date_repaired ? " (date repaired: GPS week rollover)" : ""));
    rules_.set_health(actions, fmt::format("fix, time from {}", time->name()));
}

void NmeaCore::refuse_date(Actions& actions, const nmea::Sentence& sentence) {
    // A receiver naming a date that cannot be today: like no fix, it
    // restarts acquisition. The health and the log say which date and why;
    // the shell rate-limits the log by its text.
    check_.consecutive = 0;
    report(CycleOutcome::Kind::implausible_date, &sentence);
    const std::string date =
        sentence.utc ? format_utc(*sentence.utc, 0).substr(0, 10) : std::string("?");
    const std::string why = fmt::format("refused date {} from {}: {}", date, sentence.name(),
                                        nmea::to_string(sentence.date_problem));
    actions.log(MessageLevel::warn, why, true);
    rules_.set_health(
        actions, fmt::format("{} ({} sentences so far)", why, parser_.counters().implausible_date));
}

Actions NmeaCore::stale() {
    Actions actions;
    if (rules_.stale(actions)) {
        actions.log(MessageLevel::warn, "no valid time for 2 s; withdrawing the sample");
        // The last good cycle is kept: a cycle whose time follows it by the
        // time elapsed is published at once (one unreadable cycle is already
        // 2 s without a time). A cycle without a fix has restarted the
        // count, a time that jumped is caught by the check, a reopen starts
        // afresh.
        rules_.set_health(actions, "stale: no valid time for 2 s");
    }
    return actions;
}

} // namespace shmrefclock
