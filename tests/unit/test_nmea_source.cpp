// The rules that decide whether an NMEA cycle's time is published.
#include <catch2/catch.hpp>

#include "sources/nmea.hpp"

using namespace shmrefclock;
using Verdict = CycleCheck::Verdict;

namespace {
timespec at(time_t sec, long nsec = 0) {
    return timespec{sec, nsec};
}
} // namespace

TEST_CASE("min-fixes consecutive agreeing cycles before the first sample") {
    CycleCheck check;
    // Receive stamps ~0.3 ms after each reported second, one cycle a second.
    CHECK(check.add(at(1000), at(1000, 300000), 3) == Verdict::acquiring);
    CHECK(check.add(at(1001), at(1001, 310000), 3) == Verdict::acquiring);
    CHECK(check.add(at(1002), at(1002, 290000), 3) == Verdict::publish);
    CHECK(check.add(at(1003), at(1003, 300000), 3) == Verdict::publish);
    CHECK(check.consecutive == 4);
}

TEST_CASE("min-fixes = 1 publishes the first valid cycle") {
    CycleCheck check;
    CHECK(check.add(at(1000), at(1000, 1000), 1) == Verdict::publish);
}

TEST_CASE("a time that jumps backwards or forwards is not published") {
    CycleCheck check;
    check.add(at(1000), at(1000), 2);
    REQUIRE(check.add(at(1001), at(1001), 2) == Verdict::publish);
    // The receiver says 999 one second later: a wrong second.
    CHECK(check.add(at(999), at(1002), 2) == Verdict::jumped);
    // The new timeline needs min-fixes agreeing cycles: 999 was the first.
    CHECK(check.add(at(1000), at(1003), 2) == Verdict::publish);
    // A jump forward by one second is a wrong second too.
    CHECK(check.add(at(1002), at(1004), 2) == Verdict::jumped);
}

TEST_CASE("a missed cycle is no jump: times still follow the elapsed time") {
    CycleCheck check;
    check.add(at(1000), at(1000, 500000), 2);
    check.add(at(1001), at(1001, 500000), 2);
    // Five seconds without a cycle (fix lost), then the right time again.
    CHECK(check.add(at(1006), at(1006, 400000), 2) == Verdict::publish);
}

TEST_CASE("a second cycle within the same second is not written again") {
    CycleCheck check;
    check.add(at(1000), at(1000), 1);
    CHECK(check.add(at(1000, 200000000), at(1000, 200100000), 1) == Verdict::same_second);
    CHECK(check.add(at(1001), at(1001, 100000), 1) == Verdict::publish);
}

TEST_CASE("agreement tolerates stamp jitter but not a quarter second") {
    CycleCheck check;
    check.add(at(1000), at(1000), 2);
    // 200 ms late stamp (a slow batch): still the same timeline.
    CHECK(check.add(at(1001), at(1001, 200000000), 2) == Verdict::publish);
    // 300 ms off the elapsed time: not believed.
    CHECK(check.add(at(1002), at(1002, 500000000), 2) == Verdict::jumped);
}
