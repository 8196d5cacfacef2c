// What every source's shell shares (docs/design.md, "Source cores"): it
// owns the timers a core asks for, as the event loop's alarms (one timerfd
// for all of them: core/alarm_schedule.hpp), added once,
// and carries out a core's Actions -- log, publish, withdraw, arm, report
// health. A source's own shell adds only its device: open, read, close.
#pragma once

#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/source_rules.hpp"
#include "io/event_loop.hpp"
#include "io/log.hpp"
#include "sources/source.hpp"

namespace shmrefclock {

class SourceShell : public Source {
public:
    SourceShell(std::string name, EventLoop& loop, SourceSink& sink);
    ~SourceShell() override;
    SourceShell(const SourceShell&) = delete;
    SourceShell& operator=(const SourceShell&) = delete;

protected:
    // Carry `actions` out; device actions go to the hooks below.
    void apply(const Actions& actions);
    // A timer the core asked for fired (at `stamp`).
    virtual void on_timer(TimerId id, const Stamp& stamp) = 0;
    // Tell the lock refclock of a pulse numbered by its sample
    // (Actions::lock_pulse).
    virtual void lock_pulse(const LockPulse&) {}
    // Close the device (Actions::close_device).
    virtual void close_device() {}
    // Wake per byte from the device, or stop (Actions::watch_device).
    virtual void watch_device(bool) {}
    // Write to the device (Actions::device_write).
    virtual void write_device(const std::string&) {}
    // The device opened: the next failure is logged again in full.
    void device_log_reset() { device_log_.reset(); }

    const std::string& name() const { return name_; }
    EventLoop& loop() { return loop_; }
    const SourceSink& sink() const { return sink_; }
    // During start() the daemon reports STATUS= itself, after READY=1.
    bool starting_ = false;

private:
    EventLoop::Alarm alarm(TimerId id);
    void log(const Message& message);

    std::string name_;
    EventLoop& loop_;
    SourceSink& sink_;
    std::array<std::optional<EventLoop::Alarm>, timer_count> alarms_;
    // Failures that repeat: the first, then a summary (io/log.hpp).
    RateLimitedLog device_log_;
    // State changes that may flap (a lock lost and found every other
    // second, a silent device reopened every 5 s): each distinct text at
    // most once a minute.
    std::map<std::string, std::chrono::steady_clock::time_point> info_logged_;
};

} // namespace shmrefclock
