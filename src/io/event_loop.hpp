// The daemon's one event loop: epoll over every fd, stamped with
// CLOCK_REALTIME and CLOCK_MONOTONIC the moment epoll_wait returns
// (docs/design.md, "The event loop"), so a source never measures its own
// dispatch delay.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <map>

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
    // Safe to call from inside a handler, for any registration.
    void unwatch(Registration registration);

    // Dispatch until stop() is called.
    void run();
    void stop() { running_ = false; }

private:
    struct Watch {
        int fd;
        Handler handler;
    };
    UniqueFd epoll_;
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

// CLOCK_REALTIME and CLOCK_MONOTONIC now.
Stamp stamp_now();

} // namespace shmrefclock
