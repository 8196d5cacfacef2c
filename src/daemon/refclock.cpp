#include "daemon/refclock.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "core/source_rules.hpp"
#include "core/time_format.hpp"

namespace shmrefclock {

Refclock::Refclock(const RefclockConfig& config, EventLoop& loop, LockSource* lock,
                   std::function<void()> on_health_changed, LeapList& leap_list)
    : config_(config), on_health_changed_(std::move(on_health_changed)), leap_list_(leap_list) {
    if (config_.unit) {
        outputs_.push_back(make_shm_output(*config_.unit, config_.perm));
    }
    if (!config_.sock.empty()) {
        outputs_.push_back(make_chrony_sock_output(config_.sock));
    }
    source_ = make_source(config_, loop, *this, lock);
}

std::string Refclock::describe_outputs() const {
    std::string text;
    for (const auto& output : outputs_) {
        text += (text.empty() ? "" : " + ") + output->describe();
    }
    return text;
}

Refclock::~Refclock() {
    // The source goes first so that nothing publishes into withdrawn outputs.
    source_.reset();
    for (auto& output : outputs_) {
        output->withdraw();
    }
}

void Refclock::carry_from(const Refclock& old) {
    if (old.config_.name == config_.name && old.config_.source == config_.source &&
        old.config_.device == config_.device) {
        source_->carry_from(*old.source_);
    }
}

void Refclock::start() {
    source_->start();
}

std::string Refclock::status() const {
    return config_.name + ": " + source_->health();
}

void Refclock::publish(const Sample& measured, std::optional<std::int64_t> accuracy_ns) {
    Sample sample = measured;
    sample.reference_time = timespec_add(sample.reference_time, offset_to_ns(config_.offset));
    // No finer than the receiver says its time is (issue 21: u-blox tAcc):
    // ntpd and NTPsec take the precision as the sample's dispersion floor,
    // and a receiver still converging says it is good to milliseconds.
    sample.precision = accuracy_ns
                           ? std::max(config_.precision, precision_for_accuracy(*accuracy_ns))
                           : config_.precision;
    // The day's leap indicator, from the leap-second list at the time the
    // sample names (SHM `leap`, SOCK `leap`): 1 or 2 only on June 30 or
    // December 31 before a listed leap second.
    // A receiver's own announcement (u-blox NAV-TIMELS, in `measured.leap`)
    // counts only where the list cannot say.
    sample.leap = leap_list_.announcement(sample.reference_time, measured.leap);
    for (auto& output : outputs_) {
        output->write(sample);
    }
    latest_ = sample;
    ++samples_published_;
    history_.add(sample.reference_time.tv_sec,
                 ns_to_seconds(timespec_diff_ns(sample.reference_time, sample.receive_time)));
    spdlog::trace("{}: sample reference {} receive {}", config_.name,
                  format_seconds(sample.reference_time), format_seconds(sample.receive_time));
}

void Refclock::withdraw() {
    for (auto& output : outputs_) {
        output->withdraw();
    }
    if (latest_) {
        ++withdrawals_;
    }
    latest_.reset();
}

void Refclock::pulse_numbered(const std::string& pps_refclock, timespec edge, timespec second,
                              const Sample& lock_sample) {
    if (config_.source != SourceKind::nmea) {
        return; // a system refclock's samples have no latency to measure
    }
    if (!pps_latency_ || pps_latency_->pps_refclock != pps_refclock) {
        // One pps refclock measures; a second one locked to the same
        // receiver would measure the same latency, and is not mixed in.
        if (pps_latency_) {
            return;
        }
        pps_latency_ = std::make_unique<MeasuredLatency>();
        pps_latency_->pps_refclock = pps_refclock;
    }
    // The second the cycle named: the sample's reference time without the
    // configured offset, so that the latency measured does not depend on it.
    const timespec named = timespec_add(lock_sample.reference_time, -offset_to_ns(config_.offset));
    const auto report = pps_latency_->latency.add(edge, second, lock_sample.receive_time, named);
    if (report) {
        const Summary& summary = report->summary;
        spdlog::info("{}: NMEA latency measured with pps refclock \"{}\": {:.4f} s after the "
                     "second (spread {:.4f} s over {} pulses); write offset = {:.3f} in "
                     "[[refclock]] \"{}\" (it has offset = {:.3f})",
                     config_.name, pps_refclock, ns_to_seconds(summary.median_ns),
                     ns_to_seconds(summary.spread_ns), summary.count,
                     ns_to_seconds(summary.median_ns), config_.name, config_.offset);
    }
}

RefclockState Refclock::snapshot(const Stamp& now, const SnapshotOptions& options) const {
    RefclockState state;
    state.name = config_.name;
    state.source = std::string(to_string(config_.source));
    state.outputs = describe_outputs();
    state.offset_s = config_.offset;
    state.health = source_->health();
    if (latest_) {
        LastSample& last = state.last_sample.emplace();
        last.reference = format_utc(latest_->reference_time);
        last.receive = format_utc(latest_->receive_time);
        last.reference_ns = timespec_to_ns(latest_->reference_time);
        last.receive_ns = timespec_to_ns(latest_->receive_time);
        last.clock_minus_receive_s =
            ns_to_seconds(timespec_diff_ns(latest_->reference_time, latest_->receive_time));
        last.age_s = ns_to_seconds(timespec_diff_ns(now.realtime, latest_->receive_time));
        last.leap = static_cast<int>(latest_->leap);
    }
    state.samples_published = samples_published_;
    state.withdrawals = withdrawals_;
    source_->fill_state(state, now);
    const auto summary = pps_latency_ ? pps_latency_->latency.summary() : std::nullopt;
    if (state.nmea && summary) {
        PpsLatency& latency = state.nmea->pps_latency.emplace();
        latency.pps_refclock = pps_latency_->pps_refclock;
        latency.pulses = summary->count;
        latency.median_s = ns_to_seconds(summary->median_ns);
        latency.spread_s = ns_to_seconds(summary->spread_ns);
        latency.suggested_offset_s = ns_to_seconds(summary->median_ns);
        latency.settled = NmeaLatency::settled(*summary);
    }
    if (options.history) {
        state.history = history_points(now);
    }
    return state;
}

} // namespace shmrefclock
