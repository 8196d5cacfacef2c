#include <catch2/catch.hpp>

#include <algorithm>
#include <limits>
#include <sstream>

#include <sys/shm.h>

#include <nlohmann/json.hpp>

#include "core/time_format.hpp"
#include "shmrefclock/shm.hpp"
#include "tools/monitor.hpp"

using namespace shmrefclock;

TEST_CASE("unit lists") {
    std::string error;
    CHECK(parse_unit_list("0-3", error) == std::vector<int>{0, 1, 2, 3});
    CHECK(parse_unit_list("0,2,5-7", error) == std::vector<int>{0, 2, 5, 6, 7});
    CHECK(parse_unit_list("255", error) == std::vector<int>{255});
    CHECK(parse_unit_list("2,2,1-2", error) == std::vector<int>{2, 1});
    for (const char* bad : {"", "256", "3-1", "a", "1,", "-1", "1-", "0x1", "1 "}) {
        INFO(bad);
        CHECK_FALSE(parse_unit_list(bad, error).has_value());
        CHECK_FALSE(error.empty());
    }
}

TEST_CASE("UTC formatting keeps nanoseconds") {
    // 1700000000 is 2023-11-14T22:13:20Z (date -u -d @1700000000).
    CHECK(format_utc({1700000000, 5}) == "2023-11-14T22:13:20.000000005Z");
    CHECK(format_utc({0, 999999999}) == "1970-01-01T00:00:00.999999999Z");
}

namespace {
// A segment as a hostile or broken writer leaves it: every field set by
// hand, valid = 1, through a writable mapping of its own.
std::string monitor_hostile_segment(int unit, time_t receive_sec, int receive_usec,
                                    unsigned receive_nsec, bool json) {
    ShmWriter writer(unit); // creates the segment of the right size
    const int id = shmget(shm_key(unit), 0, 0);
    REQUIRE(id >= 0);
    void* address = shmat(id, nullptr, 0);
    REQUIRE(address != reinterpret_cast<void*>(-1));
    auto* s = static_cast<ShmTime*>(address);
    s->mode = 1;
    s->clockTimeStampSec = 1700000000;
    s->clockTimeStampUSec = 0;
    s->clockTimeStampNSec = 0;
    s->receiveTimeStampSec = receive_sec;
    s->receiveTimeStampUSec = receive_usec;
    s->receiveTimeStampNSec = receive_nsec;
    s->count = 5;
    s->valid = 1;
    shmdt(address);
    MonitorOptions options;
    options.units = {unit};
    options.count = 1;
    options.json = json;
    std::ostringstream out;
    CHECK(run_monitor(options, out) == 0);
    return out.str();
}
} // namespace

TEST_CASE("monitor flags a negative receive time from a hostile segment (issue 8, case 9)") {
    // receiveTimeStampUSec = -1 with an NSec that disagrees: the reader
    // trusts USec, as chrony does, which makes the fraction -1000 ns.
    const std::string text = monitor_hostile_segment(20, 1700000000, -1, 7, false);
    INFO(text);
    CHECK_THAT(text, Catch::Contains("receive 1700000000s -1000ns"));
    CHECK_THAT(text, Catch::Contains("clock-receive -"));
    CHECK_THAT(text, Catch::Contains("INVALID: receive time fraction -1000 ns outside"));
    CHECK(text.find(".-") == std::string::npos); // the old "22:13:19.-00001000Z"
    CHECK(std::count(text.begin(), text.end(), '\n') == 1);

    const std::string json = monitor_hostile_segment(21, 1700000000, -1, 7, true);
    INFO(json);
    const auto line = nlohmann::json::parse(json);
    CHECK(line.at("receive") == "invalid");
    CHECK(line.at("clock_minus_receive").is_null());
    CHECK_THAT(line.at("invalid").get<std::string>(),
               Catch::StartsWith("receive time fraction -1000 ns"));
}

TEST_CASE("monitor flags receive times before 1970 and after 9999") {
    const std::string before = monitor_hostile_segment(22, -5, 0, 0, false);
    INFO(before);
    CHECK_THAT(before, Catch::Contains("receive -5s 0ns"));
    CHECK_THAT(before, Catch::Contains("INVALID: receive time before 1970"));
    if (sizeof(time_t) == 8) {
        // The largest time_t: the old difference overflowed int64 ns.
        const std::string after =
            monitor_hostile_segment(23, std::numeric_limits<time_t>::max(), 0, 0, false);
        INFO(after);
        CHECK_THAT(after, Catch::Contains("INVALID: receive time after 9999"));
        CHECK_THAT(after, Catch::Contains("clock-receive -"));
    }
}

TEST_CASE("monitor shows a sane sample as before") {
    Sample sample;
    sample.reference_time = {1700000001, 0};
    sample.receive_time = {1700000000, 999000000};
    ShmSnapshot snap{};
    snap.mode = 1;
    snap.valid = 1;
    snap.sample = sample;
    const std::string text = format_snapshot(3, snap, false);
    CHECK_THAT(text, Catch::Contains("clock-receive +0.001000000"));
    CHECK(text.find("INVALID") == std::string::npos);
    const std::string json = format_snapshot(3, snap, true);
    INFO(json);
    const auto line = nlohmann::json::parse(json);
    CHECK(line.at("clock_minus_receive").get<double>() == 0.001);
    CHECK(line.at("clock") == "2023-11-14T22:13:21.000000000Z");
    CHECK(line.at("receive_nsec") == 999000000);
    CHECK(!line.contains("invalid"));
}
