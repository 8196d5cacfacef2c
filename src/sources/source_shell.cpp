#include "sources/source_shell.hpp"

#include <spdlog/spdlog.h>

namespace shmrefclock {

SourceShell::SourceShell(std::string name, EventLoop& loop, SourceSink& sink)
    : name_(std::move(name)), loop_(loop), sink_(sink) {}

SourceShell::~SourceShell() {
    for (const auto& alarm : alarms_) {
        if (alarm) {
            loop_.remove_alarm(*alarm);
        }
    }
}

EventLoop::Alarm SourceShell::alarm(TimerId id) {
    auto& slot = alarms_[static_cast<std::size_t>(id)];
    if (!slot) {
        slot = loop_.add_alarm([this, id](const Stamp& stamp) { on_timer(id, stamp); });
    }
    return *slot;
}

void SourceShell::log(const Message& message) {
    const std::string text = name_ + ": " + message.text;
    if (message.repeating && message.level == MessageLevel::error) {
        device_log_.error(text);
        return;
    }
    if (message.repeating) {
        const auto now = std::chrono::steady_clock::now();
        auto [it, first] = info_logged_.try_emplace(message.text, now);
        if (!first && now - it->second < std::chrono::seconds(60)) {
            return;
        }
        it->second = now;
    }
    switch (message.level) {
    case MessageLevel::debug:
        spdlog::debug("{}", text);
        break;
    case MessageLevel::info:
        spdlog::info("{}", text);
        break;
    case MessageLevel::warn:
        spdlog::warn("{}", text);
        break;
    case MessageLevel::error:
        spdlog::error("{}", text);
        break;
    }
}

void SourceShell::apply(const Actions& actions) {
    if (actions.lock_pulse) {
        lock_pulse(*actions.lock_pulse);
    }
    if (actions.close_device) {
        close_device();
    }
    for (const Message& message : actions.messages) {
        log(message);
    }
    if (actions.publish) {
        sink_.publish(*actions.publish, actions.publish_accuracy_ns);
    }
    if (actions.withdraw) {
        sink_.withdraw();
    }
    if (!actions.device_write.empty()) {
        write_device(actions.device_write);
    }
    for (const TimerRequest& request : actions.timers) {
        loop_.arm_alarm(alarm(request.id), request.after_ns, request.period_ns);
    }
    if (actions.watch_device) {
        watch_device(*actions.watch_device);
    }
    if (actions.health_changed && !starting_) {
        sink_.health_changed();
    }
}

} // namespace shmrefclock
