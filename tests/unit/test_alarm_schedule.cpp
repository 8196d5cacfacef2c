// core/alarm_schedule: the event loop's alarms on its one timerfd (issue
// 22). Deadlines are plain numbers here: what is due, in what order, the
// next period, and when the loop must wake.
#include <catch2/catch.hpp>

#include <vector>

#include "core/alarm_schedule.hpp"

using namespace shmrefclock;
using Ids = std::vector<AlarmSchedule::Id>;

TEST_CASE("alarm schedule: nothing is due or armed until armed") {
    AlarmSchedule schedule;
    const auto a = schedule.add();
    CHECK_FALSE(schedule.armed(a));
    CHECK_FALSE(schedule.next_deadline());
    CHECK_FALSE(schedule.next_wake(1000));
    CHECK(schedule.take_due(1'000'000'000).empty());
}

TEST_CASE("alarm schedule: a one-shot alarm fires once, at its deadline, then is disarmed") {
    AlarmSchedule schedule;
    const auto a = schedule.add();
    schedule.arm(a, 100, 0);
    CHECK(schedule.next_deadline() == 100);
    CHECK(schedule.take_due(99).empty());
    CHECK(schedule.take_due(100) == Ids{a});
    CHECK_FALSE(schedule.armed(a));
    CHECK(schedule.take_due(1000).empty());
    CHECK_FALSE(schedule.next_deadline());
}

TEST_CASE("alarm schedule: a periodic alarm keeps its phase and skips the periods missed") {
    AlarmSchedule schedule;
    const auto a = schedule.add();
    schedule.arm(a, 100, 25);
    CHECK(schedule.take_due(103) == Ids{a});
    CHECK(schedule.next_deadline() == 125); // from the deadline, not from 103
    // Held up past three more deadlines (125, 150, 175): one call, and the
    // next deadline is the first after now, on the same phase.
    CHECK(schedule.take_due(180) == Ids{a});
    CHECK(schedule.next_deadline() == 200);
    CHECK(schedule.take_due(199).empty());
    CHECK(schedule.take_due(200) == Ids{a});
    CHECK(schedule.next_deadline() == 225);
}

TEST_CASE("alarm schedule: due alarms come earliest first, ties in the order they were added") {
    AlarmSchedule schedule;
    const auto a = schedule.add();
    const auto b = schedule.add();
    const auto c = schedule.add();
    const auto d = schedule.add();
    schedule.arm(c, 50, 0);
    schedule.arm(a, 70, 0);
    schedule.arm(b, 50, 0);
    schedule.arm(d, 500, 0);
    CHECK(schedule.take_due(100) == Ids{b, c, a});
    CHECK(schedule.next_deadline() == 500);
}

TEST_CASE("alarm schedule: re-arming replaces, disarming and removing forget the deadline") {
    AlarmSchedule schedule;
    const auto a = schedule.add();
    const auto b = schedule.add();
    schedule.arm(a, 100, 10);
    schedule.arm(a, 300, 0); // a later deadline, once
    schedule.arm(b, 200, 0);
    CHECK(schedule.next_deadline() == 200);
    schedule.disarm(b);
    CHECK(schedule.next_deadline() == 300);
    schedule.remove(a);
    CHECK_FALSE(schedule.next_deadline());
    CHECK(schedule.take_due(1000).empty());
    // Unknown and removed ids are ignored.
    schedule.arm(a, 10, 0);
    schedule.disarm(12345);
    schedule.remove(12345);
    CHECK_FALSE(schedule.armed(a));
    CHECK(schedule.take_due(1000).empty());
}

TEST_CASE("alarm schedule: alarms within the slack of the earliest share its wake-up") {
    AlarmSchedule schedule;
    const auto a = schedule.add();
    const auto b = schedule.add();
    const auto c = schedule.add();
    schedule.arm(a, 1'000'000, 0);
    schedule.arm(b, 1'400'000, 0);
    schedule.arm(c, 2'100'000, 0);
    // One wake-up at the latest deadline within 1 ms of the earliest: a and
    // b together (a 0.4 ms late), c on its own.
    CHECK(schedule.next_wake(1'000'000) == 1'400'000);
    CHECK(schedule.take_due(1'400'000) == Ids{a, b});
    CHECK(schedule.next_wake(1'000'000) == 2'100'000);
    CHECK(schedule.next_wake(0) == 2'100'000);
    schedule.arm(a, 2'000'000, 0);
    CHECK(schedule.next_wake(0) == 2'000'000);
}
