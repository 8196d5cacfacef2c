// core/client_slots and core/render_schedule: which connection a listener
// closes, and when a view of the live state is rendered (docs/design.md,
// "Clients of the event loop").
#include <catch2/catch.hpp>

#include "core/client_slots.hpp"
#include "core/render_schedule.hpp"

using namespace shmrefclock;

namespace {
constexpr std::int64_t s = 1'000'000'000;
}

TEST_CASE("below the limit every connection is admitted and none is closed") {
    ClientSlots slots(3, 30 * s);
    for (ClientSlots::Id id = 1; id <= 3; ++id) {
        const auto admission = slots.admit();
        CHECK_FALSE(admission.evict);
        CHECK_FALSE(admission.refuse);
        slots.opened(id, static_cast<std::int64_t>(id) * s);
    }
    CHECK(slots.held() == 3);
}

TEST_CASE("at the limit the connection idle the longest makes room") {
    ClientSlots slots(3, 30 * s);
    slots.opened(1, 1 * s); // a keep-alive client: answered at 5 s, idle since
    slots.opened(2, 2 * s); // a slow client: its request still arriving
    slots.opened(3, 3 * s); // being answered
    slots.busy(1);
    slots.idle(1, 5 * s);
    slots.busy(3);
    auto admission = slots.admit();
    REQUIRE(admission.evict);
    CHECK(*admission.evict == 2);
    CHECK_FALSE(admission.refuse);
    CHECK(slots.closing(2));
    CHECK(slots.held() == 2);
    CHECK(slots.open() == 3); // until the shell reports it closed
    slots.opened(4, 6 * s);
    // Next: 1 (idle since 5 s), not 4 (idle since 6 s), never 3 (busy) or 2
    // (being closed already).
    admission = slots.admit();
    REQUIRE(admission.evict);
    CHECK(*admission.evict == 1);
    slots.closed(2);
    slots.closed(1);
    CHECK(slots.open() == 2);
    CHECK(slots.held() == 2);
}

TEST_CASE("equal idle times: the older connection goes") {
    ClientSlots slots(2, 30 * s);
    slots.opened(7, 1 * s);
    slots.opened(8, 1 * s);
    const auto admission = slots.admit();
    REQUIRE(admission.evict);
    CHECK(*admission.evict == 7);
}

TEST_CASE("every connection busy: the new one is refused, nothing closed") {
    ClientSlots slots(2, 30 * s);
    slots.opened(1, 1 * s);
    slots.opened(2, 2 * s);
    slots.busy(1);
    slots.busy(2);
    const auto admission = slots.admit();
    CHECK_FALSE(admission.evict);
    CHECK(admission.refuse);
    CHECK(slots.held() == 2);
    // One finishes: it is idle, and goes for the next newcomer.
    slots.idle(2, 3 * s);
    CHECK(slots.admit().evict == std::optional<ClientSlots::Id>(2));
}

TEST_CASE("every connection has an absolute lifetime from its accept, busy or not") {
    ClientSlots slots(4, 10 * s);
    CHECK_FALSE(slots.next_expiry());
    slots.opened(1, 1 * s);
    slots.opened(2, 4 * s);
    slots.opened(3, 4 * s);
    slots.busy(2);
    slots.idle(1, 9 * s); // activity does not extend the lifetime
    CHECK(slots.next_expiry() == std::optional<std::int64_t>(11 * s));
    CHECK(slots.expire(10 * s).empty());
    CHECK(slots.expire(11 * s) == std::vector<ClientSlots::Id>{1});
    CHECK(slots.next_expiry() == std::optional<std::int64_t>(14 * s));
    // Reported once: being closed, it is not expired again.
    CHECK(slots.expire(13 * s).empty());
    CHECK(slots.expire(20 * s) == std::vector<ClientSlots::Id>{2, 3});
    CHECK_FALSE(slots.next_expiry());
    CHECK(slots.held() == 0);
    CHECK(slots.open() == 3);
    slots.closed(1);
    slots.closed(2);
    slots.closed(3);
    CHECK(slots.open() == 0);
}

TEST_CASE("reports about unknown connections change nothing") {
    ClientSlots slots(1, 10 * s);
    slots.busy(5);
    slots.idle(5, 1 * s);
    slots.closed(5);
    CHECK(slots.held() == 0);
    slots.opened(1, 0);
    slots.opened(1, 0); // twice: one slot
    CHECK(slots.held() == 1);
}

TEST_CASE("a view is rendered at most once per max_age, whatever the number of requests") {
    RenderSchedule schedule(1 * s);
    using A = RenderSchedule::Answer;
    CHECK(schedule.ask(10 * s) == A::render);
    CHECK(schedule.rendering());
    // Everyone asking meanwhile waits for the same rendering.
    for (int i = 0; i < 100; ++i) {
        CHECK(schedule.ask(10 * s + i) == A::wait);
    }
    schedule.finished();
    CHECK_FALSE(schedule.rendering());
    // Fresh for max_age after its capture (10 s), not after it finished.
    CHECK(schedule.ask(10 * s + 500'000'000) == A::cached);
    CHECK(schedule.ask(11 * s) == A::cached);
    CHECK(schedule.ask(11 * s + 1) == A::render);
    CHECK(schedule.ask(11 * s + 2) == A::wait);
    schedule.finished();
    CHECK(schedule.ask(12 * s) == A::cached);
}

TEST_CASE("a stalled rendering is waited for, never doubled; invalidate forgets the last one") {
    RenderSchedule schedule(1 * s);
    using A = RenderSchedule::Answer;
    CHECK(schedule.ask(0) == A::render);
    CHECK(schedule.ask(5 * s) == A::wait);
    schedule.finished();
    CHECK(schedule.ask(1 * s) == A::cached);
    schedule.invalidate();
    CHECK(schedule.ask(1 * s) == A::render);
    schedule.finished();
    schedule.finished(); // a second report changes nothing
    CHECK(schedule.ask(1 * s) == A::cached);
}
