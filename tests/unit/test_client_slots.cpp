// core/client_slots and core/render_schedule: which connection a listener
// closes, and when a view of the live state is rendered (docs/design.md,
// "Clients of the event loop").
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <vector>

#include "core/client_slots.hpp"
#include "core/render_schedule.hpp"

using namespace shmrefclock;

namespace {
constexpr std::int64_t s = 1'000'000'000;
}

TEST_CASE("below the limit every connection is admitted and none is closed") {
    ClientSlots slots(3, 30 * s);
    for (ClientSlots::Id id = 1; id <= 3; ++id) {
        const auto admission = slots.admit(100 * s);
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
    auto admission = slots.admit(100 * s);
    REQUIRE(admission.evict);
    CHECK(*admission.evict == 2);
    CHECK_FALSE(admission.refuse);
    CHECK(slots.closing(2));
    CHECK(slots.held() == 2);
    CHECK(slots.open() == 3); // until the shell reports it closed
    slots.opened(4, 6 * s);
    // Next: 1 (idle since 5 s), not 4 (idle since 6 s), never 3 (busy) or 2
    // (being closed already).
    admission = slots.admit(100 * s);
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
    const auto admission = slots.admit(100 * s);
    REQUIRE(admission.evict);
    CHECK(*admission.evict == 7);
}

TEST_CASE("every connection busy: the new one is refused, nothing closed") {
    ClientSlots slots(2, 30 * s);
    slots.opened(1, 1 * s);
    slots.opened(2, 2 * s);
    slots.busy(1);
    slots.busy(2);
    const auto admission = slots.admit(100 * s);
    CHECK_FALSE(admission.evict);
    CHECK(admission.refuse);
    CHECK(slots.held() == 2);
    // One finishes: it is idle, and goes for the next newcomer.
    slots.idle(2, 3 * s);
    CHECK(slots.admit(100 * s).evict == std::optional<ClientSlots::Id>(2));
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

TEST_CASE("an idle connection younger than the grace period is not closed; the overflow takes "
          "the newcomer") {
    constexpr std::int64_t ms = 1'000'000;
    ClientSlots slots(2, 30 * s, 2, 1 * s);
    slots.opened(1, 0); // two slow clients, idle since their accept
    slots.opened(2, 0);
    // Both are younger than the grace period: admitted over the limit.
    auto admission = slots.admit(500 * ms);
    CHECK_FALSE(admission.evict);
    CHECK_FALSE(admission.refuse);
    slots.opened(3, 500 * ms);
    CHECK(slots.held() == 3);
    // 1 has been idle for the grace period now: it goes.
    admission = slots.admit(1200 * ms);
    CHECK(admission.evict == std::optional<ClientSlots::Id>(1));
    slots.opened(4, 1200 * ms);
    // Only 2 has been idle since 200 ms or earlier (3 since 500 ms).
    CHECK(slots.admit(1200 * ms).evict == std::optional<ClientSlots::Id>(2));
    slots.opened(5, 1200 * ms);
    // 3, 4 and 5 are young: the fourth connection held, over the limit.
    admission = slots.admit(1300 * ms);
    CHECK_FALSE(admission.evict);
    CHECK_FALSE(admission.refuse);
    slots.opened(6, 1300 * ms);
    CHECK(slots.held() == 4);
    // limit + overflow reached: the one idle the longest goes, however young
    // (3, idle since 500 ms); a busy one never does.
    slots.busy(3);
    admission = slots.admit(1310 * ms);
    CHECK(admission.evict == std::optional<ClientSlots::Id>(4));
    slots.opened(7, 1310 * ms);
    slots.busy(5);
    slots.busy(6);
    slots.busy(7);
    admission = slots.admit(1320 * ms);
    CHECK_FALSE(admission.evict);
    CHECK(admission.refuse);
    CHECK(slots.held() == 4);
}

TEST_CASE("a reconnecting flood does not close a client whose request is late") {
    constexpr std::int64_t ms = 1'000'000;
    constexpr std::size_t limit = 16;
    constexpr std::size_t flood = 20; // test_http_load's slow control clients
    ClientSlots slots(limit, 2 * s, limit, 500 * ms);
    ClientSlots::Id next = 1;
    std::size_t evicted = 0;
    std::vector<std::int64_t> reconnects; // a flood client closed connects again 1 ms later
    const auto arrive = [&](std::int64_t at) {
        const auto admission = slots.admit(at);
        REQUIRE_FALSE(admission.refuse);
        if (admission.evict) {
            slots.closed(*admission.evict);
            ++evicted;
            reconnects.push_back(at + 1 * ms);
        }
        slots.opened(next, at);
        return next++;
    };
    // At 0: 16 take the slots, 4 more are young and over the limit.
    for (std::size_t i = 0; i < flood; ++i) {
        arrive(0);
    }
    CHECK(evicted == 0);
    // At 1 s a real client connects; its request arrives only at 1.4 s
    // (held up by the scheduler). Its arrival closes the oldest flood
    // client, which connects again and closes the next, and so on through
    // the 20, all idle since 0; then every idle one is young and the chain
    // ends over the limit. Without the grace period the chain would reach
    // the real client (idle since 1 s) after the 20th.
    const ClientSlots::Id real = arrive(1 * s);
    for (std::int64_t at = 1 * s; at < 1400 * ms; at += 1 * ms) {
        const auto is_due = [at](std::int64_t t) { return t <= at; };
        const auto due = std::count_if(reconnects.begin(), reconnects.end(), is_due);
        std::erase_if(reconnects, is_due);
        for (std::ptrdiff_t i = 0; i < due; ++i) {
            arrive(at);
        }
    }
    CHECK(evicted == flood);
    CHECK_FALSE(slots.closing(real));
    CHECK(slots.held() == flood + 1);
    slots.busy(real); // answered
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
