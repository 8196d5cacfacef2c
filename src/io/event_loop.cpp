#include "io/event_loop.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

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
    alarm_timer_.reset(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    if (!alarm_timer_.valid()) {
        fail("timerfd_create");
    }
    watch(alarm_timer_.get(), [this](const Stamp& stamp) { fire_alarms(stamp); });
}

EventLoop::Alarm EventLoop::add_alarm(Handler handler) {
    const Alarm alarm = alarms_.add();
    alarm_handlers_.emplace(alarm, std::move(handler));
    return alarm;
}

void EventLoop::arm_alarm(Alarm alarm, std::int64_t after_ns, std::int64_t period_ns) {
    if (after_ns <= 0) {
        alarms_.disarm(alarm);
        return;
    }
    const std::int64_t base = wake_ns_ ? *wake_ns_ : stamp_now().monotonic_ns;
    alarms_.arm(alarm, base + after_ns, period_ns);
    if (!firing_alarms_) {
        set_alarm_timer();
    }
}

void EventLoop::remove_alarm(Alarm alarm) {
    alarms_.remove(alarm);
    alarm_handlers_.erase(alarm);
}

void EventLoop::set_alarm_timer() {
    const std::optional<std::int64_t> wake = alarms_.next_wake(alarm_slack_ns);
    // Nothing armed, or the timerfd fires first anyway: no syscall. A
    // disarmed alarm leaves the timerfd as it was; its wake-up finds
    // nothing due and moves the timerfd on.
    if (!wake || (alarm_timer_ns_ && *alarm_timer_ns_ <= *wake)) {
        return;
    }
    // Relative, from the clock the stamps are read from: a deadline is in
    // this process's view of CLOCK_MONOTONIC, which a test's libfaketime
    // moves away from the kernel's (an absolute expiry would then never
    // come); relative delays are the same in both.
    const std::int64_t delay = std::max<std::int64_t>(*wake - stamp_now().monotonic_ns, 1);
    itimerspec spec{};
    spec.it_value = {static_cast<time_t>(delay / ns_per_s), static_cast<long>(delay % ns_per_s)};
    if (timerfd_settime(alarm_timer_.get(), 0, &spec, nullptr) != 0) {
        fail("timerfd_settime");
    }
    alarm_timer_ns_ = *wake;
}

void EventLoop::fire_alarms(const Stamp& stamp) {
    // The timerfd's wake-up brought us here: it is armed for nothing now.
    // Its expiry count is not read: the timerfd_settime that arms it for
    // the next alarm clears it (timerfd_create(2)), a syscall a wake-up
    // fewer (issue 22). With nothing left to arm, it is read below, or its
    // expiry would wake the loop again and again.
    alarm_timer_ns_.reset();
    firing_alarms_ = true;
    for (const Alarm alarm : alarms_.take_due(stamp.monotonic_ns)) {
        const auto it = alarm_handlers_.find(alarm);
        if (it == alarm_handlers_.end()) {
            continue; // removed by an earlier handler
        }
        // Copy: the handler may remove its alarm.
        Handler handler = it->second;
        handler(stamp);
        if (!running_) {
            break;
        }
    }
    firing_alarms_ = false;
    set_alarm_timer();
    if (!alarm_timer_ns_) {
        std::uint64_t count = 0;
        (void)::read(alarm_timer_.get(), &count, sizeof count);
    }
}

EventLoop::Registration EventLoop::add(int epoll, int fd, Handler handler, Ready ready, bool once) {
    const Registration id = next_++;
    // Registrations, not fds, go into epoll: a handler may close an fd and a
    // new one may get the same number within one batch of events.
    epoll_event event{};
    event.events = (ready == Ready::input ? EPOLLIN : EPOLLOUT) | (once ? EPOLLONESHOT : 0u);
    event.data.u64 = id;
    if (epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) != 0) {
        fail("epoll_ctl(ADD)");
    }
    watches_.emplace(id, Watch{fd, std::move(handler), false, epoll, once, false});
    return id;
}

EventLoop::Registration EventLoop::watch_receiver_once(int fd, Handler handler) {
    return add(receivers_.get(), fd, std::move(handler), Ready::input, true);
}

void EventLoop::resume(Registration registration) {
    const auto it = watches_.find(registration);
    if (it == watches_.end() || !it->second.paused) {
        return;
    }
    epoll_event event{};
    event.events = EPOLLIN | EPOLLONESHOT;
    event.data.u64 = registration;
    if (epoll_ctl(it->second.epoll, EPOLL_CTL_MOD, it->second.fd, &event) != 0) {
        fail("epoll_ctl(MOD)");
    }
    it->second.paused = false;
}

bool EventLoop::paused(Registration registration) const {
    const auto it = watches_.find(registration);
    return it != watches_.end() && it->second.paused;
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
        // The kernel disabled a one-shot watch when it reported it.
        it->second.paused = it->second.once;
        // Copy: the handler may unwatch itself.
        Handler handler = it->second.handler;
        wake_ns_ = stamp.monotonic_ns;
        handler(stamp);
    }
    wake_ns_.reset();
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
