#include "core/nmea_core.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include <fmt/format.h>

#include "core/time_format.hpp"

namespace shmrefclock {

NmeaCore::NmeaCore(NmeaSettings settings)
    : settings_(std::move(settings)), rules_("starting"), parser_(settings_.floor),
      check_(settings_.min_fixes, settings_.step_probation_ns), witness_(settings_.witness) {
    if (settings_.configure_ubx && settings_.read_ubx) {
        configurator_.emplace(*settings_.configure_ubx);
    }
}

Actions NmeaCore::opened(std::int64_t monotonic_ns, bool line_rate, std::string_view description) {
    Actions actions;
    ++activity_.device_opens;
    actions.log(MessageLevel::info, fmt::format("opened {} ({})", settings_.device, description));
    opened_monotonic_ = monotonic_ns;
    // Right after an open the line's past is unknown (tcflush dropped what
    // was queued; a TCP peer sends from wherever it is): count the open as
    // data, so that only a line then seen quiet for the quiet gap vouches
    // for a first byte.
    last_data_ns_ = monotonic_ns;
    timeless_end_ns_.reset();
    line_rate_ = line_rate;
    parser_.reset();
    // A frame cut by the reopen is the old connection's (counted truncated);
    // its bytes go nowhere, like the parser's partial line.
    (void)framer_.finish();
    parser_.skip_to(framer_.position());
    cycle_ = {};
    // The timeline is kept (issue 18): a receiver unplugged and plugged in
    // again, or a reopen after an error, is still judged by what was
    // believed; only a restart silence begins afresh (core/timeline.hpp).
    check_.break_run();
    // Another receiver may be behind the path now: its lengths are read by
    // the shared fields until its own MON-VER names its protocol.
    protocol_.reset();
    in_cycle_ = false;
    actions.watch_device = true;
    rules_.set_health(actions, fmt::format("waiting for data on {}", settings_.device));
    answers_.clear();
    if (configurator_) {
        // A receiver reopened may have restarted: configure it again.
        actions.append(configurator_->start());
    }
    return actions;
}

Actions NmeaCore::answer_timeout() {
    return configurator_ ? configurator_->timeout() : Actions{};
}

Actions NmeaCore::device_failed(const std::string& message) {
    Actions actions;
    fail(actions, message);
    return actions;
}

void NmeaCore::fail(Actions& actions, const std::string& message) {
    ++activity_.device_failures;
    in_cycle_ = false;
    actions.disarm(TimerId::batch);
    rules_.device_failed(actions, message);
}

Actions NmeaCore::handle(const NmeaRead& read) {
    Actions actions;
    if (read.kernel) {
        witness_.kernel_clock(*read.kernel);
    }
    if (read.wake == NmeaRead::Wake::device) {
        woke(actions, read.stamp, read.queued);
    }
    take(read.bytes);
    for (const ubx::Item& frame : answers_) {
        actions.append(configurator_->answer(frame));
    }
    answers_.clear();
    if (read.failure) {
        fail(actions, *read.failure);
        return actions;
    }
    if (read.wake == NmeaRead::Wake::device) {
        read_done(actions, read.stamp.monotonic_ns, read.bytes.size());
    } else {
        batch(actions, read.stamp.monotonic_ns, read.bytes.size(), read.leap_seconds);
    }
    return actions;
}

void NmeaCore::woke(Actions& actions, const Stamp& stamp, int queued) {
    if (in_cycle_) {
        return; // the batch timer reads the rest
    }
    // The stamp is when the loop saw the fd readable. On a line-rate device
    // the first of `queued` bytes arrived (queued - 1) byte times earlier.
    const std::int64_t earlier =
        line_rate_ && queued > 1 ? (queued - 1) * byte_time_ns(settings_.baud) : 0;
    in_cycle_ = true;
    cycle_.start = timespec_add(stamp.realtime, -earlier);
    // The evidence for repairing a date (docs/design.md, "Evidence for a
    // receiver's time").
    parser_.set_system_clock(settings_.stamps_are_evidence
                                 ? std::optional<time_t>(cycle_.start.tv_sec)
                                 : settings_.system_clock);
    cycle_.start_monotonic = stamp.monotonic_ns;
    cycle_.first_byte_ns = stamp.monotonic_ns - earlier;
    // The quiet gap is judged on the line's real idle time: from the last
    // read that returned bytes (the last byte came at or before it) to this
    // first byte. A line that drips a byte every 30 ms goes quiet for a
    // batch period between bytes, but never for the quiet gap.
    cycle_.stamped = cycle_.first_byte_ns - last_data_ns_ >= quiet_gap_ns;
    if (timeless_end_ns_ && cycle_.first_byte_ns - *timeless_end_ns_ < cycle_gap_ns) {
        // Bytes without a time came shortly before (850 ms of GSV, a 60 ms
        // gap, then the RMC): they may have been the start of this second's
        // cycle, and then this first byte is late by all of them.
        cycle_.stamped = false;
        cycle_.after_timeless = true;
    } else {
        cycle_.after_timeless = false;
    }
    start_cycle();
    // From here on the batch timer reads; the fd would wake us per byte.
    actions.watch_device = false;
    actions.arm(TimerId::batch, batch_period_ns, batch_period_ns);
}

void NmeaCore::start_cycle() {
    // From nothing, as a whole; only what dates its first byte goes on
    // (woke() has just set it, or a cycle that never went quiet goes on).
    CycleState next;
    next.stamped = cycle_.stamped;
    next.after_timeless = cycle_.after_timeless;
    next.start = cycle_.start;
    next.start_monotonic = cycle_.start_monotonic;
    next.first_byte_ns = cycle_.first_byte_ns;
    next.begin_pos = stream_pos_;
    next.unsupported = parser_.counters().unsupported;
    cycle_ = std::move(next);
}

namespace {

// Whether two sentences name the same second: the same POSIX second (and
// both 23:59:60 or neither), or without a date the same time of day. The
// fraction is not compared: a cycle is about one second.
bool name_same_second(const nmea::Sentence& a, const nmea::Sentence& b) {
    if (a.utc && b.utc) {
        return a.utc->tv_sec == b.utc->tv_sec && a.leap_second == b.leap_second;
    }
    return !a.time || !b.time ||
           (a.time->hour == b.time->hour && a.time->minute == b.time->minute &&
            a.time->second == b.time->second);
}

} // namespace

void NmeaCore::take(std::string_view bytes) {
    stream_pos_ += bytes.size();
    activity_.bytes += bytes.size();
    if (!settings_.read_ubx) {
        // The parser frames sentences; classify() says what each is to the
        // cycle.
        parser_.feed(bytes, [this](const nmea::Sentence& sentence) { classify(sentence); });
        return;
    }
    // The framer takes out the UBX frames and hands on the rest unchanged,
    // with its stream positions (core/ubx_frame.hpp).
    for (const ubx::Item& item : framer_.feed(bytes)) {
        take_item(item);
    }
}

void NmeaCore::take_item(const ubx::Item& item) {
    if (item.kind == ubx::Item::Kind::other) {
        if (!settings_.read_nmea) {
            return;
        }
        parser_.skip_to(item.stream_begin);
        parser_.feed(item.text(), [this](const nmea::Sentence& sentence) { classify(sentence); });
        return;
    }
    if (ubx::is(ubx::mon_ver, item.message_class, item.message_id)) {
        // The receiver's protocol version decides how the timing messages'
        // lengths are checked (ubx::length_rule): MON-VER comes when polled
        // (ubx-configure, gpsd, u-center) or at the receiver's start-up.
        if (const auto version = ubx::decode_mon_ver(ubx::Payload{item.bytes})) {
            if (const auto protocol = ubx::protocol_version(*version)) {
                protocol_ = protocol;
            }
        }
    }
    if (configurator_ && (item.message_class == ubx::ack_ack.message_class ||
                          ubx::is(ubx::mon_ver, item.message_class, item.message_id) ||
                          ubx::is(ubx::cfg_tp5, item.message_class, item.message_id))) {
        answers_.push_back(item);
    }
    if (item.stream_begin < cycle_.begin_pos) {
        // Began before the cycle's first byte, as `foreign` sentences do.
        cycle_.foreign_frame = true;
        return;
    }
    cycle_.epoch.add(item, ubx::length_rule(protocol_));
}

void NmeaCore::classify(const nmea::Sentence& sentence) {
    if (sentence.stream_begin < cycle_.begin_pos) {
        // It began before the cycle's first byte: the first byte's stamp
        // is not its own (a line that drips, a cycle's tail glued to the
        // next one). It belongs to no cycle.
        if (!cycle_.foreign) {
            cycle_.foreign = sentence;
        }
        return;
    }
    if (sentence.time) {
        if (!cycle_.named) {
            cycle_.named = sentence;
        } else if (!cycle_.disagreeing && !name_same_second(*cycle_.named, sentence)) {
            cycle_.disagreeing = sentence;
        }
    }
    cycle_.sentences.add(sentence);
    if (!cycle_.first) {
        cycle_.first = sentence;
    }
}

void NmeaCore::read_done(Actions& actions, std::int64_t wake_ns, std::size_t total) {
    if (total > 0) {
        last_data_ns_ = wake_ns;
        cycle_.reads.push_back({stream_pos_, wake_ns});
    }
    if (total == 0 && in_cycle_) {
        // Readable but nothing to read: a hangup is reported by read() as an
        // error, so this was spurious. Wait for the next byte.
        in_cycle_ = false;
        actions.disarm(TimerId::batch);
        actions.watch_device = true;
    }
}

void NmeaCore::batch(Actions& actions, std::int64_t monotonic_ns, std::size_t total,
                     const LeapListLoad* leap_seconds) {
    if (!in_cycle_) {
        return;
    }
    if (total > 0) {
        last_data_ns_ = monotonic_ns;
        cycle_.reads.push_back({stream_pos_, monotonic_ns});
    }
    const std::int64_t age = monotonic_ns - cycle_.start_monotonic;
    if (total > 0 && age < max_cycle_ns) {
        return; // still arriving
    }
    if (total == 0 && monotonic_ns - last_data_ns_ < min_quiet_read_ns) {
        // An empty read right after one that returned bytes: the loop was
        // held up past a timer expiry (a loaded machine) and this expiry
        // came next, milliseconds later. The line has not been quiet for a
        // batch period; ending the cycle here would cut it in two.
        ++activity_.loop_held_up;
        return;
    }
    // Quiet for a batch period: the cycle is complete. Or it never went quiet.
    finish_cycle(actions, monotonic_ns, leap_seconds);
    if (total > 0) {
        // The line has not been quiet: what follows is mid-stream, and its
        // first byte's stamp says nothing about when a cycle began.
        cycle_.stamped = false;
        rules_.set_health(actions, "line never quiet: cannot find the start of a cycle (too "
                                   "much output for the baud rate?)");
        start_cycle();
        cycle_.start_monotonic = monotonic_ns;
        return;
    }
    // Quiet for a batch period: the cycle is complete.
    in_cycle_ = false;
    actions.disarm(TimerId::batch);
    actions.watch_device = true;
}

void NmeaCore::report(CycleOutcome::Kind kind, const nmea::Sentence* time) {
    ++activity_.cycles.at(static_cast<std::size_t>(kind));
    if (observer_) {
        CycleOutcome outcome;
        outcome.kind = kind;
        if (time != nullptr) {
            outcome.time = *time;
        }
        outcome.receive_time = cycle_.start;
        observer_(outcome);
    }
}

void NmeaCore::judge_epoch(Actions& actions) {
    const ubx::Epoch& epoch = cycle_.epoch;
    ubx_malformed_ += epoch.malformed();
    if (!epoch.any_timing()) {
        return;
    }
    // Its times join the cycle's sentences: the same rules, the same
    // agreement on the second as NMEA's (ubx_epoch.hpp).
    for (const nmea::Sentence& time : epoch.times(stream_leap_, parser_)) {
        classify(time);
    }
    const ubx::LeapCount said = epoch.leap_count();
    if (said == ubx::LeapCount::known && epoch.leap_seconds()) {
        stream_leap_seconds_ = epoch.leap_seconds();
    }
    if (said != ubx::LeapCount::unsaid && said != stream_leap_) {
        log_leap_count(actions, epoch, said);
        stream_leap_ = said;
    }
    receiver_ = epoch.receiver(stream_leap_);
}

void NmeaCore::log_leap_count(Actions& actions, const ubx::Epoch& epoch, ubx::LeapCount said) {
    if (said == ubx::LeapCount::unknown) {
        // Issue 21: a u-blox at a cold start reports UTC by its firmware's
        // leap-second count until the almanac arrives (up to 12.5 min).
        actions.log(MessageLevel::warn,
                    "leap-second count not yet known to the receiver: its UTC may be whole "
                    "seconds off; withheld until it is (up to 12.5 minutes after a cold start)");
    } else {
        const std::optional<int> count = epoch.leap_seconds();
        actions.log(MessageLevel::info,
                    fmt::format("the receiver knows the leap-second count{} ({})",
                                count ? fmt::format(": GPS - UTC = {} s", *count) : "",
                                epoch.leap_source()));
    }
}

void NmeaCore::withhold_leap_unknown(Actions& actions, const nmea::Sentence& time) {
    // Like no fix: the run starts again once the receiver knows. Its time
    // never reached the timeline, so a step when it learns the count is
    // judged against what was believed before (core/timeline.hpp).
    check_.break_run();
    if (rules_.published()) {
        // The receiver says its UTC may be whole seconds off from now on
        // (it restarted, or lost what it knew): what it published before
        // goes at once, not 2 s later, and a pps refclock locked to it
        // stops numbering pulses by it (issue 21: clearing validUTC stops
        // publication within one epoch).
        rules_.withdraw(actions);
        actions.log(MessageLevel::warn,
                    "the receiver no longer knows the leap-second count: sample withdrawn");
    }
    report(CycleOutcome::Kind::leap_unknown, &time);
    if (stream_leap_ != ubx::LeapCount::unknown && !leap_unsaid_logged_) {
        // Only NAV-PVT, which cannot say.
        leap_unsaid_logged_ = true;
        actions.log(MessageLevel::warn,
                    "the receiver's UBX messages do not say whether it knows the leap-second "
                    "count (NAV-PVT cannot): not published; enable NAV-TIMEUTC, NAV-TIMEGPS or "
                    "NAV-TIMELS on the receiver");
    }
    rules_.set_health(actions, stream_leap_ == ubx::LeapCount::unknown
                                   ? "withheld: leap-second count not yet known to the receiver"
                                   : "withheld: the receiver does not say whether it knows the "
                                     "leap-second count (enable NAV-TIMEUTC)");
}

void NmeaCore::finish_cycle(Actions& actions, std::int64_t now_ns,
                            const LeapListLoad* leap_seconds) {
    if (settings_.read_ubx && framer_.buffered() > 0) {
        // The line went quiet inside a frame: no receiver pauses inside
        // one, so it is not a frame (a 0xB5 0x62 of noise whose length
        // would hold the NMEA after it). Its bytes go on to the parser.
        for (const ubx::Item& item : framer_.finish()) {
            take_item(item);
        }
    }
    judge_epoch(actions);
    // Only a published cycle's label is the receiver's word (publish()).
    // A cycle without a TIM-TP of its own that names no time, or the
    // published second again, says nothing against it: the tail of an
    // epoch delivered late (a USB adapter's, or a stalled writer's, seen
    // in CI) must not leave the next pulse unlabelled; nor must a 2-10 Hz
    // receiver's cycles between its seconds.
    std::optional<PulseLabel> kept = std::move(pulse_label_);
    pulse_label_.reset();
    const auto keep_label = [&] {
        if (!cycle_.epoch.tim_tp()) {
            pulse_label_ = std::move(kept);
        }
    };
    const nmea::Counters& now = parser_.counters();
    if (now.bad_checksum != reported_.bad_checksum || now.garbage != reported_.garbage ||
        now.over_long != reported_.over_long || now.malformed != reported_.malformed) {
        actions.log(MessageLevel::debug,
                    fmt::format("dropped so far: {} bad checksum, {} malformed, {} garbage, {} "
                                "over-long",
                                now.bad_checksum, now.malformed, now.garbage, now.over_long));
        reported_ = now;
    }
    const nmea::Sentence* time = cycle_.sentences.time();
    if (!cycle_.first) {
        keep_label();
        // Nothing that bears a time: line noise between cycles, or a cycle
        // whose every sentence failed its checksum. That says nothing about
        // the fix, so like a missed cycle it neither counts nor breaks the
        // run of agreeing cycles (the next time is still checked against
        // the time elapsed since the last one). It does make the stamp of
        // a cycle that follows it closely ambiguous (woke()) -- if it
        // held sentences (GSV, say: checksums right), not just noise.
        if (parser_.counters().unsupported != cycle_.unsupported || cycle_.epoch.any_frame()) {
            timeless_end_ns_ = last_data_ns_;
        }
        if (cycle_.foreign) {
            // Only the end of a sentence that began before the first byte.
            report(CycleOutcome::Kind::not_stamped, &*cycle_.foreign);
        } else if (cycle_.foreign_frame) {
            report(CycleOutcome::Kind::not_stamped, nullptr);
        }
        return;
    }
    timeless_end_ns_.reset();
    if (cycle_.disagreeing) {
        // GGA says N+1, RMC N, ZDA N-1; or cycle N's RMC glued to the start
        // of cycle N+1. Which second the first byte belongs to is anyone's
        // guess: the cycle is refused, and the run starts again.
        ++disagreeing_cycles_;
        warn(actions, now_ns,
             fmt::format("the sentences of one cycle name different seconds ({} {}, {} {}); not "
                         "published",
                         cycle_.named->name(), describe(*cycle_.named), cycle_.disagreeing->name(),
                         describe(*cycle_.disagreeing)));
        check_.break_run();
        report(CycleOutcome::Kind::disagreeing, time != nullptr ? time : &*cycle_.named);
        rules_.set_health(actions, "the sentences of a cycle disagree on the second");
        return;
    }
    if (time == nullptr && cycle_.sentences.leap_unknown() != nullptr) {
        withhold_leap_unknown(actions, *cycle_.sentences.leap_unknown());
        return;
    }
    if (time != nullptr && time->type != nmea::SentenceType::ubx &&
        stream_leap_ == ubx::LeapCount::unknown) {
        // NMEA from a receiver whose UBX said it does not know the count:
        // the same UTC (issue 21: the NMEA is gated by the same knowledge).
        withhold_leap_unknown(actions, *time);
        return;
    }
    if (time == nullptr && cycle_.sentences.implausible_date() != nullptr) {
        refuse_date(actions, *cycle_.sentences.implausible_date());
        return;
    }
    if (time == nullptr) {
        // The receiver says it has no fix; the stale timer withdraws the last
        // sample 2 s after its cycle, and the status says why meanwhile.
        check_.break_run();
        report(CycleOutcome::Kind::no_fix, &*cycle_.first);
        rules_.set_health(actions, "no fix");
        return;
    }
    if (!cycle_.stamped) {
        actions.log(
            MessageLevel::debug,
            fmt::format("cycle {} from {} not published: its first byte was not seen "
                        "after a quiet line{}",
                        format_utc(*time->utc), time->name(),
                        cycle_.after_timeless ? " (bytes without a time came just before)" : ""));
        report(CycleOutcome::Kind::not_stamped, time);
        return;
    }
    if (const std::int64_t lead = time_lead_ns(*time); lead > max_time_lead_ns) {
        // The first byte's stamp belongs to the sentences that name its
        // second; what came before them may have been the previous cycle's
        // tail, and the stamp then early by as much.
        actions.log(MessageLevel::debug,
                    fmt::format("cycle {} from {} not published: it began {:.3f} s after the "
                                "cycle's first byte",
                                format_utc(*time->utc), time->name(), ns_to_seconds(lead)));
        report(CycleOutcome::Kind::time_late, time);
        return;
    }
    const timespec reference = *time->utc;
    // The list is asked about the UTC day that ends at the next 00:00:00.
    const LeapSecondCheck leap_check =
        time->leap_second && leap_seconds != nullptr
            ? inserted_leap_second(*leap_seconds, static_cast<std::int64_t>(reference.tv_sec) + 1)
            : LeapSecondCheck::scheduled;
    if (leap_check == LeapSecondCheck::not_scheduled) {
        // A receiver that invents a leap second (a firmware bug, a wrong
        // leap-second count from its almanac, a replayed or spoofed signal)
        // is one second behind from its next 00:00:00 on. A valid, unexpired
        // list lists every leap second up to its expiry: the receiver is
        // wrong. The cycle is refused; what follows is a -1 s step from the
        // believed timeline, published only on evidence (core/timeline.hpp).
        ++unscheduled_leap_seconds_;
        check_.break_run();
        warn(actions, now_ns,
             fmt::format("receiver reported the leap second {} ({}), which the leap-second list "
                         "does not schedule; not believed",
                         format_utc(reference, 0, true), time->name()));
        report(CycleOutcome::Kind::unscheduled_leap, time);
        rules_.set_health(actions,
                          fmt::format("refused 23:59:60 on {}: not in the leap-second list "
                                      "({} so far)",
                                      format_utc(reference, 0).substr(0, 10),
                                      unscheduled_leap_seconds_));
        return;
    }
    // A 23:59:60 moves the timeline's scale only when a valid list
    // schedules it, or with no list at all (`decode`, which has none). With
    // a missing, corrupt or expired list it is no evidence: the receiver's
    // time after it is a -1 s step like any other, believed on the kernel
    // witness's word or after the probation (issue 18: with the expired
    // tzdata list, a made-up leap second was believed at once).
    const bool leap_believed = !time->leap_second || leap_check == LeapSecondCheck::scheduled;
    const std::optional<NamedCycle> previous = last_named_;
    last_named_ = NamedCycle{reference, cycle_.first_byte_ns};
    const StepEvidence evidence{settings_.witness, witness_.kernel(), cycle_.start};
    const Timeline::Judgement judgement =
        check_.add(reference, cycle_.first_byte_ns, time->leap_second, leap_believed, &evidence);
    const Timeline::Verdict verdict = judgement.verdict;
    if (judgement.probation_ended || judgement.witnessed) {
        actions.log(MessageLevel::warn,
                    fmt::format("receiver time {} ({}) is on a new timeline, {:+.3f} s from the "
                                "one believed before: believed {}",
                                format_utc(reference, 3, time->leap_second), time->name(),
                                ns_to_seconds(judgement.step_ns),
                                judgement.witnessed
                                    ? "because the synchronized kernel clock agrees with it"
                                    : fmt::format("after its probation of {} s",
                                                  check_.probation_ns() / ns_per_s)));
    }
    switch (verdict) {
    case Timeline::Verdict::jumped:
    case Timeline::Verdict::walked: {
        const bool jumped = verdict == Timeline::Verdict::jumped;
        warn(actions, now_ns,
             fmt::format("receiver time {} ({}) is {:+.3f} s off the timeline of {}{}; not "
                         "published{}",
                         format_utc(reference, 9, time->leap_second), time->name(),
                         ns_to_seconds(judgement.deviation_ns),
                         check_.believed() ? "the samples published" : "the cycles acquired",
                         jumped ? "" : " (it walks)",
                         !leap_believed ? " (a 23:59:60 that no valid leap-second list confirms)"
                                        : ""));
        report(jumped ? CycleOutcome::Kind::jumped : CycleOutcome::Kind::walked, time);
        rules_.set_health(actions, check_.believed()
                                       ? (jumped ? "time jumped off the believed timeline"
                                                 : "time walks off the believed timeline")
                                       : (jumped ? "time jumped; acquiring"
                                                 : "time walks away from the elapsed time; "
                                                   "acquiring"));
        return;
    }
    case Timeline::Verdict::probation: {
        const std::int64_t left = check_.probation_left_ns(cycle_.first_byte_ns);
        if (judgement.probation_started) {
            if (auto text = probation_warnings_.admit(
                    now_ns,
                    fmt::format("receiver time {} ({}) holds on a new timeline, {:+.3f} s from "
                                "the believed one: not published during a probation of {} s, "
                                "unless the synchronized kernel clock confirms it "
                                "(step-probation)",
                                format_utc(reference, 3, time->leap_second), time->name(),
                                ns_to_seconds(check_.probation_step_ns()),
                                check_.probation_ns() / ns_per_s))) {
                actions.log(MessageLevel::warn, std::move(*text));
            }
        }
        report(CycleOutcome::Kind::probation, time);
        rules_.set_health(actions,
                          fmt::format("probation: receiver {:+.3f} s from the believed timeline; "
                                      "believed in {} s unless the kernel witness confirms it",
                                      ns_to_seconds(check_.probation_step_ns()),
                                      (left + ns_per_s - 1) / ns_per_s));
        return;
    }
    case Timeline::Verdict::repeat:
        keep_label();
        report(CycleOutcome::Kind::repeat, time);
        return;
    case Timeline::Verdict::acquiring:
    case Timeline::Verdict::same_second:
    case Timeline::Verdict::publish:
        break;
    }
    if (time->leap_second) {
        // 23:59:60 has no POSIX name; the readers would see 23:59:59 twice.
        // The check has counted it, so 00:00:00 follows it.
        actions.log(MessageLevel::info, fmt::format("leap second {} not published",
                                                    format_utc(*time->utc, 0, time->leap_second)));
        if (rules_.published()) {
            // The receiver still delivers: 23:59:59's sample stays out until
            // 2 s after this cycle, as if this cycle had replaced it, rather
            // than going stale (and warning) just before 00:00:00 is
            // published. Readers clear `valid` when they take a sample
            // (chrony, ntpd), so it is not taken twice; at most 3 s old, it
            // is within NTPsec's 5 s.
            actions.arm(TimerId::stale,
                        SourceRules::stale_after_ns - (now_ns - cycle_.start_monotonic));
        }
        report(CycleOutcome::Kind::leap_second, time);
        return;
    }
    if (verdict == Timeline::Verdict::acquiring) {
        report(CycleOutcome::Kind::acquiring, time);
        rules_.set_health(actions, fmt::format("acquiring: {} of {} fixes", check_.consecutive(),
                                               settings_.min_fixes));
        return;
    }
    if (reference.tv_nsec != 0 && !one_second_after(previous, reference)) {
        // A 2, 5 or 10 Hz receiver's cycles between its whole seconds, or a
        // first cycle that names a fraction, before the receiver's rate is
        // known (issue 23: a 2 Hz receiver's first cycle, at .5 s, was
        // published). They have counted as evidence above (acquisition,
        // the timeline); one sample a second is published, and a pps
        // refclock numbers its pulses from it. On the timeline, its TIM-TP
        // labels the next pulse as a published cycle's does (a 10 Hz
        // receiver sends it in the epoch before the pulse).
        if (cycle_.epoch.tim_tp()) {
            take_pulse_label();
        } else {
            keep_label();
        }
        report(CycleOutcome::Kind::sub_second, time);
        return;
    }
    if (verdict == Timeline::Verdict::same_second) {
        keep_label();
        report(CycleOutcome::Kind::same_second, time);
        return;
    }
    // Every rule of the cycle itself has passed. Checks against evidence
    // from outside the receiver (the kernel clock as a witness) go here,
    // before anything is published.
    publish(actions, *time, now_ns);
}

void NmeaCore::publish(Actions& actions, const nmea::Sentence& time, std::int64_t now_ns) {
    const timespec reference = *time.utc;
    // On the timeline and past min-fixes: it anchors the timeline that
    // every later cycle is judged by, whether or not the witness lets it
    // out -- a witness that refuses for a long time must not leave the
    // timeline too old to judge by (core/timeline.hpp), and the cycle is as
    // continuous with it as a published one.
    check_.published();
    // The kernel witness has the last word (core/witness.hpp).
    if (!witness_.allows(actions, reference, cycle_.start, now_ns, time.name())) {
        report(CycleOutcome::Kind::witness, &time);
        rules_.set_health(actions, witness_.health());
        return;
    }
    Sample sample;
    sample.reference_time = reference;
    sample.receive_time = cycle_.start;
    if (const auto& ls = cycle_.epoch.time_ls();
        ls && ls->valid_time_to_ls_event() && ls->src_of_ls_change != 0) {
        // NAV-TIMELS: the event timeToLsEvent seconds from this epoch
        // (whole seconds: the epoch is rounded to its second), or none
        // scheduled (lsChange 0, or an event in the past).
        announced_leap_ = AnnouncedLeap{
            static_cast<std::int64_t>(reference.tv_sec) + ls->time_to_ls_event, ls->ls_change};
    }
    if (announced_leap_) {
        // The refclock follows it only where the leap-second list cannot
        // say (core/leap_seconds.hpp, choose_leap).
        sample.leap = receiver_leap_announcement(announced_leap_->at, announced_leap_->change,
                                                 reference.tv_sec);
    }
    take_pulse_label();
    // Stale 2 s after this cycle began, unless a newer one is published.
    // The receiver's word on its accuracy goes with the sample (issue 21:
    // tAcc sets the sample's precision), from a UBX epoch in this cycle.
    rules_.publish(actions, sample, now_ns - cycle_.start_monotonic,
                   cycle_.epoch.time_accuracy_ns());
    rules_.device_works();
    arrival_.add(timespec_diff_ns(cycle_.start, reference));
    report(CycleOutcome::Kind::published, &time);
    actions.log(MessageLevel::debug,
                fmt::format("cycle {} from {}{}", format_utc(reference), time.name(),
                            time.date_repaired ? " (date repaired: GPS week rollover)" : ""));
    rules_.set_health(actions, fmt::format("fix, time from {}", time.name()));
    log_arrival_once(actions);
}

void NmeaCore::take_pulse_label() {
    pulse_label_ = cycle_.epoch.pulse_label(stream_leap_seconds_);
    if (pulse_label_) {
        pulse_label_->announced = cycle_.start;
        if (announced_leap_) {
            pulse_label_->leap = receiver_leap_announcement(
                announced_leap_->at, announced_leap_->change, pulse_label_->second.tv_sec);
        }
    }
}

void NmeaCore::log_arrival_once(Actions& actions) {
    if (arrival_logged_ || arrival_.size() < arrival_log_cycles) {
        return;
    }
    arrival_logged_ = true;
    const auto summary = arrival_.summary();
    actions.log(MessageLevel::info,
                fmt::format("NMEA cycles arrive {:.4f} s after the second they name (median of {} "
                            "cycles, spread {:.4f} s) by the system clock, so offset = {:.3f}, "
                            "but only as good as the system clock; a pps refclock locked to this "
                            "one measures the latency independently of it",
                            ns_to_seconds(summary->median_ns), summary->count,
                            ns_to_seconds(summary->spread_ns), ns_to_seconds(summary->median_ns)));
}

bool NmeaCore::one_second_after(const std::optional<NamedCycle>& previous,
                                const timespec& reference) const {
    if (!previous) {
        return false;
    }
    // By the receiver's times, and by the stamps (not after a silence,
    // whose first cycle may be any of a fast receiver's).
    const std::int64_t named = timespec_diff_ns(reference, previous->reference);
    const std::int64_t elapsed = cycle_.first_byte_ns - previous->first_byte_ns;
    return named >= 900'000'000 && named <= 2'100'000'000 && elapsed <= 2'500'000'000;
}

std::int64_t NmeaCore::time_lead_ns(const nmea::Sentence& time) const {
    // The read that delivered its '$' came at or after it: an upper bound.
    for (const auto& [end, at_ns] : cycle_.reads) {
        if (time.stream_begin < end) {
            return at_ns - cycle_.first_byte_ns;
        }
    }
    return 0; // not reached: the sentence was read
}

std::string NmeaCore::describe(const nmea::Sentence& sentence) {
    if (sentence.utc) {
        return format_utc(*sentence.utc, 0, sentence.leap_second);
    }
    return fmt::format("{:02}:{:02}:{:02}", sentence.time->hour, sentence.time->minute,
                       sentence.time->second);
}

void NmeaCore::warn(Actions& actions, std::int64_t now_ns, std::string_view message) {
    if (auto text = warnings_.admit(now_ns, message)) {
        actions.log(MessageLevel::warn, std::move(*text));
    }
}

void NmeaCore::refuse_date(Actions& actions, const nmea::Sentence& sentence) {
    // A receiver naming a date that cannot be today: like no fix, it
    // restarts acquisition. The health and the log say which date and why;
    // the shell rate-limits the log by its text.
    check_.break_run();
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

Actions NmeaCore::clock_stepped() {
    Actions actions;
    // The published sample's receive time, and the first-byte stamp of a
    // cycle being read, are on the old scale: a reader would take the step
    // for an offset, and a pps refclock locked to this one would number its
    // pulses by it. The run of agreeing cycles is measured on the monotonic
    // clock and survives, but the samples start again after min-fixes
    // cycles stamped on the new scale, as after any doubt.
    rules_.withdraw(actions);
    pulse_label_.reset(); // announced on the old scale
    if (in_cycle_) {
        cycle_.stamped = false;
    }
    check_.break_run();
    // The arrival delays measured so far are against the clock before the
    // step: they say nothing about the clock now.
    arrival_.clear();
    rules_.set_health(actions, "system clock stepped; re-acquiring");
    return actions;
}

} // namespace shmrefclock
