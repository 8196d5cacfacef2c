#include "daemon/refclock.hpp"

#include <spdlog/spdlog.h>

#include "core/time_format.hpp"

namespace shmrefclock {

Refclock::Refclock(const RefclockConfig& config, EventLoop& loop, const LockSource* lock,
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

void Refclock::start() {
    source_->start();
}

std::string Refclock::status() const {
    return config_.name + ": " + source_->health();
}

void Refclock::publish(const Sample& measured) {
    Sample sample = measured;
    sample.reference_time = timespec_add(sample.reference_time, offset_to_ns(config_.offset));
    sample.precision = config_.precision;
    // The day's leap indicator, from the leap-second list at the time the
    // sample names (SHM `leap`, SOCK `leap`): 1 or 2 only on June 30 or
    // December 31 before a listed leap second.
    sample.leap = leap_list_.announcement(sample.reference_time);
    for (auto& output : outputs_) {
        output->write(sample);
    }
    latest_ = sample;
    ++samples_published_;
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

nlohmann::ordered_json Refclock::snapshot(const Stamp& now, const SnapshotOptions& options) const {
    (void)options;
    nlohmann::ordered_json state = {
        {"name", config_.name},
        {"source", to_string(config_.source)},
        {"outputs", describe_outputs()},
        {"offset_s", config_.offset},
        {"health", source_->health()},
    };
    if (latest_) {
        const std::int64_t age_ns = timespec_diff_ns(now.realtime, latest_->receive_time);
        state["last_sample"] = {
            {"reference", format_utc(latest_->reference_time)},
            {"receive", format_utc(latest_->receive_time)},
            {"reference_ns", timespec_to_ns(latest_->reference_time)},
            {"receive_ns", timespec_to_ns(latest_->receive_time)},
            {"clock_minus_receive_s",
             ns_to_seconds(timespec_diff_ns(latest_->reference_time, latest_->receive_time))},
            {"age_s", ns_to_seconds(age_ns)},
            {"leap", latest_->leap},
        };
    } else {
        state["last_sample"] = nullptr;
    }
    state["counters"] = {
        {"samples_published", samples_published_},
        {"withdrawals", withdrawals_},
    };
    return state;
}

} // namespace shmrefclock
