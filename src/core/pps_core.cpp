#include "core/pps_core.hpp"

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/time_format.hpp"

namespace shmrefclock {

PpsCore::PpsCore(PpsSettings settings)
    : settings_(std::move(settings)), rules_(fmt::format("not started ({})", settings_.device)),
      witness_(settings_.witness) {}

std::string PpsCore::lock_description() const {
    return numbered_by_system() ? "the system clock" : settings_.lock;
}

void PpsCore::state(Actions& actions, std::string text) {
    if (text != rules_.health()) {
        actions.log(MessageLevel::info, text, true);
        rules_.set_health(actions, std::move(text));
    }
}

Actions PpsCore::opened(const std::string& device) {
    Actions actions;
    ++counters_.device_opens;
    settings_.device = device;
    last_sequence_.reset();
    actions.log(MessageLevel::info,
                fmt::format("capturing the {} edge of {}, numbered by {}",
                            to_string(settings_.edge), device, lock_description()),
                true);
    state(actions, fmt::format("waiting for pulses on {}", device));
    return actions;
}

Actions PpsCore::device_failed(const std::string& message) {
    Actions actions;
    ++counters_.device_failures;
    rules_.device_failed(actions, message);
    return actions;
}

Actions PpsCore::fetch_failed(int error) {
    if (error != ETIMEDOUT) {
        return device_failed(
            fmt::format("time_pps_fetch on {}: {}", settings_.device, std::strerror(error)));
    }
    Actions actions;
    ++counters_.device_failures;
    actions.log(MessageLevel::debug,
                fmt::format("no event from {} for {} s: reopening it", settings_.device,
                            reopen_after_silence_ns / ns_per_s));
    actions.close_device = true;
    actions.arm(TimerId::reopen, 1);
    return actions;
}

Actions PpsCore::fetched(const PpsFetch& fetch, const std::optional<Sample>& lock,
                         const std::optional<PulseLabel>& label, const Stamp& handled,
                         const KernelClock& kernel) {
    Actions actions;
    witness_.kernel_clock(kernel);
    rules_.device_works();
    if (fetch.edge.tv_sec == 0 && fetch.edge.tv_nsec == 0) {
        return actions; // no event of our edge yet (chrony's refclock_pps.c skips these too)
    }
    if (last_sequence_ && fetch.sequence == *last_sequence_) {
        // With both edges captured the kernel wakes fetchers on the other
        // edge as well: that is no event of ours, and nothing to count.
        const bool other_edge = fetch.other_sequence != last_other_sequence_;
        last_other_sequence_ = fetch.other_sequence;
        if (!other_edge) {
            ++counters_.repeated;
            actions.log(MessageLevel::debug,
                        fmt::format("pulse {} dropped: sequence {} repeated (no new {} event); {} "
                                    "repeated so far",
                                    format_seconds(fetch.edge), fetch.sequence,
                                    to_string(settings_.edge), counters_.repeated));
        }
        return actions;
    }
    last_sequence_ = fetch.sequence;
    last_other_sequence_ = fetch.other_sequence;

    PulseNumbering numbering;
    if (stepped_at_ && timespec_diff_ns(fetch.edge, *stepped_at_) < 0) {
        // A pulse whose edge the kernel stamped before the step (or between
        // the step and the loop learning of it: dropped too, to be safe) is
        // on the old scale; numbered on the new, it would be off by the step.
        numbering.verdict = PulseVerdict::before_clock_step;
        numbering.carried = fetch.edge;
    } else {
        numbering = numbered_by_system()
                        ? number_pulse_by_system_clock(fetch.edge, handled.realtime)
                        : number_pulse(fetch.edge, lock, handled.realtime);
    }
    // The receiver's own label of this pulse (issue 21): the second the
    // TIM-TP before it named. The pulse is numbered by it, and the fix
    // carried to the pulse must say the same: where they differ, one of
    // them is a wrong second.
    const PulseLabel* own =
        label && !numbered_by_system() && labels(*label, fetch.edge) ? &*label : nullptr;
    if (numbering.verdict == PulseVerdict::numbered && own != nullptr &&
        own->second.tv_sec != numbering.second.tv_sec) {
        numbering.verdict = PulseVerdict::label_disagrees;
        actions.log(MessageLevel::warn,
                    fmt::format("pulse {}: the receiver labelled it {} (TIM-TP), its fix carried "
                                "to it says {}; not published",
                                format_seconds(fetch.edge), format_utc(own->second),
                                format_utc(numbering.second)),
                    true);
    }
    if (numbering.verdict == PulseVerdict::numbered && own != nullptr && !own->locked) {
        // Issue 21: TpNotLocked withholds as a lost fix does.
        numbering.verdict = PulseVerdict::not_locked;
    }
    if (numbering.verdict == PulseVerdict::numbered &&
        !witness_.allows(actions, numbering.second, fetch.edge, handled.monotonic_ns, "pulse")) {
        // A pulse numbered from a lock sample the witness let through can
        // still be refused here: the lock's sample is up to 2 s old, and
        // lock = "system" has no sample at all. The pulse is what NTP
        // daemons prefer; it gets the same check as the sample.
        numbering.verdict = PulseVerdict::witness;
    }
    ++counters_.by_verdict.at(static_cast<std::size_t>(numbering.verdict));
    if (numbering.verdict != PulseVerdict::numbered) {
        drop(actions, fetch, numbering, numbered_by_system() ? std::nullopt : lock, handled);
        return actions;
    }
    Sample sample;
    sample.reference_time = numbering.second; // the refclock adds `offset`
    sample.receive_time = fetch.edge;
    sample.leap = lock && !numbered_by_system() ? lock->leap : Leap::none;
    if (own != nullptr) {
        // The receiver's leap indicator for the pulse's own second (the
        // refclock follows it only where the leap-second list cannot say).
        sample.leap = own->leap;
        ++counters_.labelled;
        if (own->q_err_ps) {
            // The edge came qErr before the true second (pps_numbering.hpp):
            // the system clock at the true second is the edge + qErr.
            sample.receive_time = pulse_edge_corrected(fetch.edge, *own->q_err_ps);
            last_q_err_ps_ = own->q_err_ps;
            ++counters_.q_err_applied;
        }
    }
    // Numbered by the system clock: chrony's SOCK refclock must number the
    // second itself (sock_sample.pulse).
    sample.pulse = numbered_by_system();
    if (lock && !numbered_by_system()) {
        // Numbered by the lock's sample: the lock measures its latency from
        // the pulse's edge and the second it was numbered as.
        actions.lock_pulse = LockPulse{fetch.edge, numbering.second, *lock};
    }
    rules_.publish(actions, sample, timespec_diff_ns(handled.realtime, fetch.edge),
                   own != nullptr ? own->t_acc_ns : std::nullopt);
    state(actions, fmt::format("locked to {}{}", lock_description(),
                               own != nullptr ? ", pulses labelled by the receiver (TIM-TP)" : ""));
    return actions;
}

void PpsCore::drop(Actions& actions, const PpsFetch& fetch, const PulseNumbering& numbering,
                   const std::optional<Sample>& lock, const Stamp& handled) {
    // Every drop with the values that made it (chrony's refclock_shm.c
    // habit), so that "reach 0" in chronyc can be explained from the log.
    const std::string lock_values =
        lock ? fmt::format("{} reference {} receive {}, lock age {:+.9f} s; ", settings_.lock,
                           format_seconds(lock->reference_time), format_seconds(lock->receive_time),
                           ns_to_seconds(numbering.lock_age_ns))
             : (numbered_by_system() ? "" : fmt::format("{} has no sample; ", settings_.lock));
    actions.log(MessageLevel::debug,
                fmt::format("pulse {} (sequence {}) dropped: {} ({}carried {}, {:+.9f} s from the "
                            "second, handled {}); {} dropped for this reason",
                            format_seconds(fetch.edge), fetch.sequence,
                            to_string(numbering.verdict), lock_values,
                            format_seconds(numbering.carried), ns_to_seconds(numbering.residual_ns),
                            format_seconds(handled.realtime),
                            counters_.by_verdict.at(static_cast<std::size_t>(numbering.verdict))));
    const std::string who = lock_description();
    switch (numbering.verdict) {
    case PulseVerdict::pulse_late:
        state(actions, "no lock: pulses reach the daemon more than 2 s late");
        break;
    case PulseVerdict::no_lock_time:
        state(actions, fmt::format("no lock: {} has no time", who));
        break;
    case PulseVerdict::lock_stale:
        state(actions, fmt::format("no lock: {}'s time is more than 2 s old", who));
        break;
    case PulseVerdict::lock_in_future:
        state(actions, fmt::format("no lock: {}'s time is more than 2 s after the pulse", who));
        break;
    case PulseVerdict::before_clock_step:
        state(actions, "system clock stepped: waiting for pulses stamped after it");
        break;
    case PulseVerdict::witness:
        state(actions, witness_.health());
        break;
    case PulseVerdict::label_disagrees:
        state(actions, fmt::format("no lock: {}'s pulse label (TIM-TP) and fix disagree", who));
        break;
    case PulseVerdict::not_locked:
        state(actions, fmt::format("withheld: {} says its pulse is not locked to GNSS (TIM-TP "
                                   "TpNotLocked)",
                                   who));
        break;
    case PulseVerdict::outside_window:
    case PulseVerdict::numbered:
        state(actions, fmt::format("no lock: pulses are more than 0.4 s from {}'s second", who));
        break;
    }
}

Actions PpsCore::stale() {
    Actions actions;
    if (rules_.stale(actions)) {
        actions.log(MessageLevel::info,
                    fmt::format("no pulse numbered for {} s: sample withdrawn",
                                SourceRules::stale_after_ns / ns_per_s),
                    true);
        if (rules_.health().starts_with("locked to ")) {
            state(actions, fmt::format("waiting for pulses on {}", settings_.device));
        }
    }
    return actions;
}

Actions PpsCore::clock_stepped(const Stamp& at) {
    Actions actions;
    // The published pulse's receive time is on the old scale: withdraw it.
    // The lock refclock withdraws its own sample, so that pulses are numbered
    // only from a lock sample stamped after the step.
    stepped_at_ = at.realtime;
    rules_.withdraw(actions);
    state(actions, "system clock stepped: waiting for pulses stamped after it");
    return actions;
}

} // namespace shmrefclock
