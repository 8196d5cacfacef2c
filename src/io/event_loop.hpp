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
    // Safe to call from inside a handler, for any registration.
    void unwatch(Registration registration);

    // Dispatch until stop() is called.
    void run();
    void stop() { running_ = false; }

private:
    struct Watch {
        int fd;
        Handler handler;
        bool first = false;
        int epoll = -1; // the epoll set it is in
    };
    Registration add(int epoll, int fd, Handler handler, Ready ready);
    void dispatch(const epoll_event* events, int n, const Stamp& stamp, bool first);
    // Serve the ready receivers (and the clock-step watch beside them);
    // stamp, if given, is the one of the wake-up that is being served.
    void serve_receivers(const Stamp* stamp);
    UniqueFd epoll_;
    // The receivers' and the clock-step watch's own set, itself watched by
    // epoll_ under the registration `receivers_id`.
    UniqueFd receivers_;
    static constexpr Registration receivers_id = 0;
    std::map<Registration, Watch> watches_;
    Registration next_ = 1;
    bool running_ = false;
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
