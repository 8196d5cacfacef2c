#include "io/event_loop.hpp"

#include <cerrno>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <sys/epoll.h>
#include <sys/timerfd.h>

#include "shmrefclock/sample.hpp"

namespace shmrefclock {

namespace {
[[noreturn]] void fail(const char* what) {
    throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}
} // namespace

Stamp stamp_now() {
    Stamp now;
    clock_gettime(CLOCK_REALTIME, &now.realtime);
    timespec monotonic{};
    clock_gettime(CLOCK_MONOTONIC, &monotonic);
    now.monotonic_ns = static_cast<std::int64_t>(monotonic.tv_sec) * ns_per_s + monotonic.tv_nsec;
    return now;
}

EventLoop::EventLoop()
    : epoll_(epoll_create1(EPOLL_CLOEXEC)), receivers_(epoll_create1(EPOLL_CLOEXEC)) {
    if (!epoll_.valid() || !receivers_.valid()) {
        fail("epoll_create1");
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = receivers_id;
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, receivers_.get(), &event) != 0) {
        fail("epoll_ctl(ADD)");
    }
}

EventLoop::Registration EventLoop::add(int epoll, int fd, Handler handler, Ready ready) {
    const Registration id = next_++;
    // Registrations, not fds, go into epoll: a handler may close an fd and a
    // new one may get the same number within one batch of events.
    epoll_event event{};
    event.events = ready == Ready::input ? EPOLLIN : EPOLLOUT;
    event.data.u64 = id;
    if (epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) != 0) {
        fail("epoll_ctl(ADD)");
    }
    watches_.emplace(id, Watch{fd, std::move(handler), false, epoll});
    return id;
}

EventLoop::Registration EventLoop::watch(int fd, Handler handler, Ready ready) {
    return add(epoll_.get(), fd, std::move(handler), ready);
}

EventLoop::Registration EventLoop::watch_first(int fd, Handler handler) {
    // In the receivers' set: a receiver served between two other handlers
    // is stamped afresh, so the clock step must be looked for with it.
    const Registration id = add(receivers_.get(), fd, std::move(handler), Ready::input);
    watches_.at(id).first = true;
    return id;
}

EventLoop::Registration EventLoop::watch_receiver(int fd, Handler handler) {
    return add(receivers_.get(), fd, std::move(handler), Ready::input);
}

void EventLoop::unwatch(Registration registration) {
    auto it = watches_.find(registration);
    if (it == watches_.end()) {
        return;
    }
    // The fd may already be closed by its owner; then the kernel dropped it.
    epoll_ctl(it->second.epoll, EPOLL_CTL_DEL, it->second.fd, nullptr);
    watches_.erase(it);
}

void EventLoop::run() {
    running_ = true;
    constexpr int batch = 16;
    epoll_event events[batch];
    while (running_) {
        const int n = epoll_wait(epoll_.get(), events, batch, -1);
        const Stamp stamp = stamp_now();
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            fail("epoll_wait");
        }
        // The receivers first, with this wake-up's stamp.
        for (int i = 0; i < n; ++i) {
            if (events[i].data.u64 == receivers_id) {
                serve_receivers(&stamp);
                break;
            }
        }
        // Then the rest; before each but the first, the receivers that
        // became ready meanwhile (a wake-up with one event costs no more
        // syscalls than before).
        bool first_served = true;
        for (int i = 0; i < n && running_; ++i) {
            if (events[i].data.u64 == receivers_id) {
                continue;
            }
            if (!first_served) {
                serve_receivers(nullptr);
            }
            first_served = false;
            dispatch(&events[i], 1, stamp, false);
        }
    }
}

void EventLoop::serve_receivers(const Stamp* stamp) {
    constexpr int batch = 16;
    epoll_event events[batch];
    const int n = epoll_wait(receivers_.get(), events, batch, 0);
    if (n <= 0) {
        return; // none ready (or EINTR: the next wake-up serves them)
    }
    const Stamp fresh = stamp != nullptr ? *stamp : stamp_now();
    // A clock step must be known before a pulse stamped after it is
    // numbered by a sample stamped before it (ClockStepWatch).
    dispatch(events, n, fresh, true);
    dispatch(events, n, fresh, false);
}

void EventLoop::dispatch(const epoll_event* events, int n, const Stamp& stamp, bool first) {
    for (int i = 0; i < n && running_; ++i) {
        auto it = watches_.find(events[i].data.u64);
        if (it == watches_.end() || it->second.first != first) {
            continue; // unwatched by an earlier handler in this batch, or not this pass
        }
        // Copy: the handler may unwatch itself.
        Handler handler = it->second.handler;
        handler(stamp);
    }
}

Timer::Timer() : fd_(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) {
    if (!fd_.valid()) {
        fail("timerfd_create");
    }
}

void Timer::arm(std::int64_t first_ns, std::int64_t period_ns) {
    itimerspec spec{};
    spec.it_value = {static_cast<time_t>(first_ns / ns_per_s),
                     static_cast<long>(first_ns % ns_per_s)};
    spec.it_interval = {static_cast<time_t>(period_ns / ns_per_s),
                        static_cast<long>(period_ns % ns_per_s)};
    if (timerfd_settime(fd_.get(), 0, &spec, nullptr) != 0) {
        fail("timerfd_settime");
    }
}

std::uint64_t Timer::expirations() {
    std::uint64_t count = 0;
    if (::read(fd_.get(), &count, sizeof count) != sizeof count) {
        return 0;
    }
    return count;
}

ClockStepWatch::ClockStepWatch() : fd_(timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC)) {
    if (!fd_.valid()) {
        fail("timerfd_create");
    }
    arm();
}

void ClockStepWatch::arm() {
    // timerfd_settime fails with ECANCELED when the clock was set after the
    // last read, and re-arms the timer all the same (timerfd_create(2),
    // NOTES): a second step between stepped()'s read and this call. Take the
    // clocks' difference again, so that the step reported includes it, and
    // arm again; a clock set that often is not worth more than a few tries.
    for (int attempt = 0;; ++attempt) {
        const Stamp now = stamp_now();
        realtime_minus_monotonic_ns_ = timespec_to_ns(now.realtime) - now.monotonic_ns;
        // An absolute expiry that no clock reaches (the largest time_t a
        // 32-bit build has too): the timer exists only to be cancelled.
        itimerspec spec{};
        spec.it_value.tv_sec = std::numeric_limits<std::int32_t>::max();
        if (timerfd_settime(fd_.get(), TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &spec,
                            nullptr) == 0 ||
            (errno == ECANCELED && attempt >= 3)) {
            return;
        }
        if (errno != ECANCELED) {
            fail("timerfd_settime (TFD_TIMER_CANCEL_ON_SET)");
        }
    }
}

std::optional<std::int64_t> ClockStepWatch::stepped() {
    std::uint64_t count = 0;
    if (::read(fd_.get(), &count, sizeof count) >= 0 || errno != ECANCELED) {
        return std::nullopt; // EAGAIN: spurious
    }
    const std::int64_t before = realtime_minus_monotonic_ns_;
    arm();
    return realtime_minus_monotonic_ns_ - before;
}

} // namespace shmrefclock
