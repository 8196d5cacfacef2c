// Many timers on one timerfd (issue 22). A timerfd per source and purpose
// cost a timerfd_settime at every arm and disarm, a read and often a
// wake-up of its own at every expiry: with 16 receivers at 10 Hz the batch
// timers alone made about 1,000 syscalls a second. The event loop keeps its
// alarms here and its one timerfd armed at next_deadline(); alarms armed
// from the same wake-up for the same delay share a deadline and fire in one
// wake-up (io/event_loop.hpp). The decisions (what is due, the next period,
// when the timerfd must move) are here, without I/O, for the unit tests.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace shmrefclock {

class AlarmSchedule {
public:
    using Id = std::uint64_t;

    // A new alarm, disarmed.
    Id add();
    // Forget `id` (armed or not); unknown ids are ignored.
    void remove(Id id);
    // Due at `deadline_ns` (CLOCK_MONOTONIC), then every `period_ns` after
    // it (0: once). Replaces what `id` was armed for.
    void arm(Id id, std::int64_t deadline_ns, std::int64_t period_ns);
    void disarm(Id id);
    bool armed(Id id) const;

    // The alarms due at `now_ns`, earliest deadline first (ties by id, the
    // order they were added). A periodic alarm moves to its first deadline
    // after `now_ns` (periods missed while the loop was held up are
    // skipped, as a timerfd counts them in one expiry), a one-shot alarm is
    // disarmed.
    std::vector<Id> take_due(std::int64_t now_ns);
    // The earliest deadline of all armed alarms, if any.
    std::optional<std::int64_t> next_deadline() const;
    // When to wake for the earliest alarm: the latest deadline at most
    // `slack_ns` after it, so that alarms due within `slack_ns` of each other
    // share a wake-up (each at most `slack_ns` late), if any is armed.
    std::optional<std::int64_t> next_wake(std::int64_t slack_ns) const;

private:
    struct Alarm {
        std::optional<std::int64_t> deadline_ns;
        std::int64_t period_ns = 0;
    };
    std::map<Id, Alarm> alarms_;
    Id next_id_ = 1;
};

} // namespace shmrefclock
