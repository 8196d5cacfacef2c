#include <catch2/catch.hpp>

#include "core/time_format.hpp"
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
