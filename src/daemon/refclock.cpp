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
    spdlog::trace("{}: sample reference {} receive {}", config_.name,
                  format_seconds(sample.reference_time), format_seconds(sample.receive_time));
}

void Refclock::withdraw() {
    for (auto& output : outputs_) {
        output->withdraw();
    }
    latest_.reset();
}

} // namespace shmrefclock
