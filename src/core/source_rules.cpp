#include "core/source_rules.hpp"

#include <cmath>

#include <fmt/format.h>

namespace shmrefclock {

int precision_for_accuracy(std::int64_t accuracy_ns) noexcept {
    constexpr int finest = -30;
    constexpr int coarsest = 3;
    int precision = finest;
    // 2^precision s in ns, exact in a double down to 2^-30 s.
    while (precision < coarsest && std::ldexp(static_cast<double>(ns_per_s), precision) <
                                       static_cast<double>(accuracy_ns)) {
        ++precision;
    }
    return precision;
}

void SourceRules::publish(Actions& actions, const Sample& sample, std::int64_t age_ns,
                          std::optional<std::int64_t> accuracy_ns) {
    actions.publish = sample;
    actions.publish_accuracy_ns = accuracy_ns;
    actions.withdraw = false;
    published_ = true;
    actions.arm(TimerId::stale, stale_after_ns - age_ns);
}

bool SourceRules::stale(Actions& actions) {
    if (!published_) {
        return false;
    }
    withdraw(actions);
    return true;
}

void Actions::append(Actions other) {
    if (other.lock_pulse) {
        lock_pulse = other.lock_pulse;
    }
    close_device = close_device || other.close_device;
    for (Message& message : other.messages) {
        messages.push_back(std::move(message));
    }
    if (other.publish) {
        publish = other.publish;
        publish_accuracy_ns = other.publish_accuracy_ns;
    }
    withdraw = withdraw || other.withdraw;
    for (const TimerRequest& timer : other.timers) {
        timers.push_back(timer);
    }
    if (other.watch_device) {
        watch_device = other.watch_device;
    }
    device_write += other.device_write;
    health_changed = health_changed || other.health_changed;
}

void SourceRules::withdraw(Actions& actions) {
    if (published_) {
        actions.withdraw = true;
        actions.publish.reset();
        published_ = false;
    }
    actions.disarm(TimerId::stale);
}

void SourceRules::device_failed(Actions& actions, const std::string& message) {
    actions.close_device = true;
    withdraw(actions);
    const std::int64_t delay = backoff_.next();
    // The same text for every repetition, so that the shell summarises it.
    actions.log(MessageLevel::error, message, true);
    set_health(actions, fmt::format("{} (retrying in {} s)", message, delay / ns_per_s));
    actions.arm(TimerId::reopen, delay);
}

void SourceRules::set_health(Actions& actions, std::string health) {
    if (health != health_) {
        health_ = std::move(health);
        actions.health_changed = true;
    }
}

} // namespace shmrefclock
