// The daemon's one event loop: epoll over every fd, stamped with
// CLOCK_REALTIME and CLOCK_MONOTONIC the moment epoll_wait returns
// (docs/design.md, "The event loop"), so a source never measures its own
// dispatch delay.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <sys/epoll.h>

#include "core/alarm_schedule.hpp"
#include "core/stamp.hpp"
#include "io/unique_fd.hpp"

namespace shmrefclock {

class EventLoop {
public:
    // Called with the receive stamp of the wake-up that found fd ready.
    using Handler = std::function<void(const Stamp& stamp)>;
    using Registration = std::uint64_t;

    EventLoop();
    // What to wait for: input, or room to write (a non-blocking connect()
    // completes, or fails, when its socket becomes writable).
    enum class Ready { input, output };
    // Watch fd (not owned) for input (or output). The handler must tolerate
    // spurious calls: fds are non-blocking and a wake-up may find nothing.
    Registration watch(int fd, Handler handler, Ready ready = Ready::input);
    // Watch fd for input, and when it is ready in the same wake-up as
    // others, call its handler before theirs: a clock step must be known
    // before a pulse stamped after it is numbered by a sample stamped before
    // it (ClockStepWatch).
    Registration watch_first(int fd, Handler handler);
    // Watch a receiver's fd for input: its bytes are stamped by the wake-up
    // that found them, so it must not wait behind a batch of client events.
    // Between two other handlers of one batch the loop looks (epoll_wait
    // with no timeout) for ready receivers and serves them first with a
    // fresh stamp: a stamp is late by at most one other handler, not by a
    // batch (issue 18: six page fetchers made stamps up to 39 ms late).
    Registration watch_receiver(int fd, Handler handler);
    // A receiver watch that pauses after each wake-up it is served in
    // (EPOLLONESHOT: the kernel disables it, no syscall); resume() enables
    // it again with one EPOLL_CTL_MOD. An NMEA line is read by its batch
    // alarm for the rest of a cycle once its first byte is stamped: pausing
    // costs nothing and resuming one syscall, where unwatch() and a new
    // watch cost two and an allocation in the kernel (issue 22).
    Registration watch_receiver_once(int fd, Handler handler);
    // Enable a paused watch_receiver_once registration; nothing otherwise.
    void resume(Registration registration);
    // Whether a watch_receiver_once registration is paused (served, not
    // resumed).
    bool paused(Registration registration) const;
    // Safe to call from inside a handler, for any registration.
    void unwatch(Registration registration);

    // Alarms: timers that share the loop's one timerfd (core/
    // alarm_schedule.hpp says why). The handler is called with the stamp of
    // the wake-up that found the alarm due, at most alarm_slack_ns late.
    using Alarm = AlarmSchedule::Id;
    static constexpr std::int64_t alarm_slack_ns = 1'000'000;
    Alarm add_alarm(Handler handler);
    // Due `after_ns` after the wake-up being served (the instant epoll_wait
    // returned; outside one, now), so that alarms armed for one delay from
    // one wake-up fire together; then every `period_ns` (0: once).
    // `after_ns` <= 0 disarms. Safe inside any handler.
    void arm_alarm(Alarm alarm, std::int64_t after_ns, std::int64_t period_ns);
    void disarm_alarm(Alarm alarm) { alarms_.disarm(alarm); }
    void remove_alarm(Alarm alarm);

    // Dispatch until stop() is called.
    void run();
    void stop() { running_ = false; }

private:
    struct Watch {
        int fd;
        Handler handler;
        bool first = false;
        int epoll = -1;      // the epoll set it is in
        bool once = false;   // EPOLLONESHOT
        bool paused = false; // once, served and not resumed
    };
    Registration add(int epoll, int fd, Handler handler, Ready ready, bool once = false);
    void dispatch(const epoll_event* events, int n, const Stamp& stamp, bool first);
    // Serve the ready receivers (and the clock-step watch beside them);
    // stamp, if given, is the one of the wake-up that is being served.
    void serve_receivers(const Stamp* stamp);
    void fire_alarms(const Stamp& stamp);
    // The timerfd at the alarms' next wake, when that is earlier than the
    // instant it is armed for (a later one: the loop re-arms when it fires).
    void set_alarm_timer();
    UniqueFd epoll_;
    // The receivers' and the clock-step watch's own set, itself watched by
    // epoll_ under the registration `receivers_id`.
    UniqueFd receivers_;
    static constexpr Registration receivers_id = 0;
    std::map<Registration, Watch> watches_;
    Registration next_ = 1;
    bool running_ = false;
    // The monotonic stamp of the wake-up whose handlers are running.
    std::optional<std::int64_t> wake_ns_;
    AlarmSchedule alarms_;
    std::map<Alarm, Handler> alarm_handlers_;
    UniqueFd alarm_timer_; // CLOCK_MONOTONIC, armed relative (set_alarm_timer)
    std::optional<std::int64_t> alarm_timer_ns_;
    bool firing_alarms_ = false;
};

// A periodic CLOCK_MONOTONIC timerfd, owned.
class Timer {
public:
    Timer();
    // First expiry after `first_ns`, then every `period_ns` (0: once).
    void arm(std::int64_t first_ns, std::int64_t period_ns);
    void disarm() { arm(0, 0); }
    // Consume the expirations; returns how many (0 on a spurious wake-up).
    std::uint64_t expirations();
    int fd() const { return fd_.get(); }

private:
    UniqueFd fd_;
};

// Says when CLOCK_REALTIME was set discontinuously (settimeofday,
// clock_settime, adjtimex ADJ_SETOFFSET: chrony's makestep, ntpd's step,
// date -s), which no stamp taken before it survives (docs/design.md, "Clock
// steps"). A CLOCK_REALTIME timerfd armed with TFD_TIMER_CANCEL_ON_SET at a
// far-future time never expires; the kernel cancels it, and read() fails
// with ECANCELED, on every such change (timerfd_create(2)). Watch fd() for
// input and call stepped() on each wake-up.
class ClockStepWatch {
public:
    ClockStepWatch();
    // The clock was set since the last call: the step, as the change of
    // CLOCK_REALTIME - CLOCK_MONOTONIC between the two (slewing in between
    // counts too: microseconds). Re-arms the watch. Nothing on a spurious
    // wake-up.
    std::optional<std::int64_t> stepped();
    int fd() const { return fd_.get(); }

private:
    void arm();

    UniqueFd fd_;
    // CLOCK_REALTIME - CLOCK_MONOTONIC when armed, in ns.
    std::int64_t realtime_minus_monotonic_ns_ = 0;
};

// CLOCK_REALTIME and CLOCK_MONOTONIC now.
Stamp stamp_now();

} // namespace shmrefclock
