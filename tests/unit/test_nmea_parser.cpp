// The NMEA parser on hand-made and real sentences. Expected UTC values come
// from timegm(3) or from `date -u -d ... +%s`, never from the parser.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/nmea_parser.hpp"

using namespace shmrefclock::nmea;

namespace {

constexpr std::chrono::year_month_day date(int year, unsigned month, unsigned day) {
    return std::chrono::year_month_day{std::chrono::year{year}, std::chrono::month{month},
                                       std::chrono::day{day}};
}

constexpr auto floor_2000 = date(2000, 1, 1);

// "$<body>*HH\r\n" with the checksum computed here, independently of the
// parser: XOR of every character between '$' and '*'.
std::string framed(std::string_view body) {
    unsigned checksum = 0;
    for (const char c : body) {
        checksum ^= static_cast<unsigned char>(c);
    }
    char hex[3];
    std::snprintf(hex, sizeof hex, "%02X", checksum);
    return "$" + std::string{body} + "*" + hex + "\r\n";
}

std::vector<Sentence> parse(Parser& parser, std::string_view bytes) {
    std::vector<Sentence> sentences;
    parser.feed(bytes, [&](const Sentence& sentence) { sentences.push_back(sentence); });
    return sentences;
}

// The only sentence `bytes` decodes to.
Sentence parse_one(Parser& parser, std::string_view bytes) {
    const std::vector<Sentence> sentences = parse(parser, bytes);
    REQUIRE(sentences.size() == 1);
    return sentences.front();
}

std::int64_t utc(int year, int month, int day, int hour, int minute, int second) {
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    return static_cast<std::int64_t>(timegm(&tm));
}

// The system clock the parser takes as evidence for dates, unless a test
// says otherwise: when these tests were written. It only matters for dates
// before the floor (repair) and long after it (the upper bound).
const time_t test_clock = static_cast<time_t>(utc(2026, 12, 1, 12, 0, 0));

// A parser with `floor`, and `now` as the system clock (std::nullopt: no
// evidence).
Parser parser_at(std::chrono::year_month_day floor = floor_2000,
                 std::optional<time_t> now = test_clock) {
    Parser parser{floor};
    parser.set_system_clock(now);
    return parser;
}

Sentence parse_one(std::string_view bytes, std::chrono::year_month_day floor = floor_2000,
                   std::optional<time_t> now = test_clock) {
    Parser parser = parser_at(floor, now);
    return parse_one(parser, bytes);
}

constexpr std::int64_t seconds_per_day = 86400;
constexpr std::int64_t rollover_seconds = 1024 * 7 * seconds_per_day;

std::string rmc(std::string_view time, std::string_view status, std::string_view ddmmyy,
                std::string_view tail = ",,,A") {
    return framed("GPRMC," + std::string{time} + "," + std::string{status} +
                  ",4807.038,N,01131.000,E,022.4,084.4," + std::string{ddmmyy} + std::string{tail});
}

std::string gga(std::string_view time, std::string_view quality = "1",
                std::string_view talker = "GP", std::string_view satellites = "08") {
    return framed(std::string{talker} + "GGA," + std::string{time} + ",4807.038,N,01131.000,E," +
                  std::string{quality} + "," + std::string{satellites} + ",0.9,545.4,M,46.9,M,,");
}

std::string zda(std::string_view time, std::string_view dd_mm_yyyy) {
    return framed("GPZDA," + std::string{time} + "," + std::string{dd_mm_yyyy} + ",00,00");
}

std::uint64_t seed_from_environment() {
    if (const char* text = std::getenv("SHMREFCLOCK_TEST_SEED")) {
        return std::strtoull(text, nullptr, 10);
    }
    return std::random_device{}();
}

void require_same(const Sentence& a, const Sentence& b) {
    REQUIRE(a.name() == b.name());
    REQUIRE(a.type == b.type);
    REQUIRE(a.time.has_value() == b.time.has_value());
    if (a.time) {
        REQUIRE(a.time->hour == b.time->hour);
        REQUIRE(a.time->minute == b.time->minute);
        REQUIRE(a.time->second == b.time->second);
        REQUIRE(a.time->nanosecond == b.time->nanosecond);
    }
    REQUIRE(a.date == b.date);
    REQUIRE(a.date_repaired == b.date_repaired);
    REQUIRE(a.utc.has_value() == b.utc.has_value());
    if (a.utc) {
        REQUIRE(a.utc->tv_sec == b.utc->tv_sec);
        REQUIRE(a.utc->tv_nsec == b.utc->tv_nsec);
    }
    REQUIRE(a.leap_second == b.leap_second);
    REQUIRE(a.valid == b.valid);
    REQUIRE(a.reason == b.reason);
    REQUIRE(a.stream_begin == b.stream_begin);
    REQUIRE(a.stream_end == b.stream_end);
}

void require_same_counters(const Counters& a, const Counters& b) {
    REQUIRE(a.sentences == b.sentences);
    REQUIRE(a.bad_checksum == b.bad_checksum);
    REQUIRE(a.malformed == b.malformed);
    REQUIRE(a.garbage == b.garbage);
    REQUIRE(a.over_long == b.over_long);
    REQUIRE(a.unsupported == b.unsupported);
}

} // namespace

TEST_CASE("the test's own checksum matches real receivers'", "[nmea]") {
    // From bu353-glonass.log, checksum as the receiver sent it.
    REQUIRE(framed("GNRMC,081411.000,A,5541.1955,N,03737.2872,E,0.60,301.29,260514,,,A") ==
            "$GNRMC,081411.000,A,5541.1955,N,03737.2872,E,0.60,301.29,260514,,,A*74\r\n");
}

TEST_CASE("RMC: time, date and a valid fix", "[nmea]") {
    const Sentence s =
        parse_one("$GNRMC,081411.000,A,5541.1955,N,03737.2872,E,0.60,301.29,260514,,,A*74\r\n");
    CHECK(s.type == SentenceType::rmc);
    CHECK(s.talker() == "GN");
    CHECK(s.name() == "GNRMC");
    REQUIRE(s.time);
    CHECK(s.time->hour == 8);
    CHECK(s.time->minute == 14);
    CHECK(s.time->second == 11);
    CHECK(s.time->nanosecond == 0);
    CHECK(s.date == DateSource::sentence);
    REQUIRE(s.utc);
    CHECK(s.utc->tv_sec == 1401092051); // date -u -d '2014-05-26 08:14:11' +%s
    CHECK(s.utc->tv_sec == utc(2014, 5, 26, 8, 14, 11));
    CHECK(s.utc->tv_nsec == 0);
    CHECK(s.valid);
    CHECK(s.reason == InvalidReason::none);
    CHECK_FALSE(s.date_repaired);
    CHECK_FALSE(s.leap_second);
}

TEST_CASE("RMC field sets of NMEA 2.0 to 4.1", "[nmea]") {
    const std::int64_t expected = utc(2010, 6, 20, 17, 57, 36);
    SECTION("NMEA 2.0: no mode indicator (TomTom, SiRF)") {
        const Sentence s =
            parse_one("$GPRMC,175736,A,5125.8714,N,00524.2350,E,3.1865,276.241,200610,,*2A\r\n");
        CHECK(s.valid);
        CHECK(s.utc->tv_sec == expected);
    }
    SECTION("NMEA 2.0 without the magnetic variation fields") {
        const Sentence s =
            parse_one(framed("GPRMC,175736,A,5125.8714,N,00524.2350,E,3.1865,276.241,200610"));
        CHECK(s.valid);
        CHECK(s.utc->tv_sec == expected);
    }
    SECTION("NMEA 2.3: mode indicator") {
        CHECK(parse_one(rmc("175736", "A", "200610", ",,,A")).valid);
        CHECK(parse_one(rmc("175736", "A", "200610", ",,,D")).valid);
        CHECK(parse_one(rmc("175736", "A", "200610", ",,,E")).valid);
        CHECK(parse_one(rmc("175736", "A", "200610", ",,,R")).valid);
        CHECK(parse_one(rmc("175736", "A", "200610", ",,,F")).valid);
        CHECK(parse_one(rmc("175736", "A", "200610", ",,,P")).valid);
        CHECK(parse_one(rmc("175736", "A", "200610", ",,,N")).reason == InvalidReason::no_fix);
        CHECK(parse_one(rmc("175736", "A", "200610", ",,,S")).reason == InvalidReason::not_gnss);
        CHECK(parse_one(rmc("175736", "A", "200610", ",,,M")).reason == InvalidReason::not_gnss);
    }
    SECTION("NMEA 4.1: nav status 'V' means 'not provided', not 'invalid' (u-blox ZED-F9P)") {
        const Sentence s =
            parse_one("$GNRMC,003956.00,A,4552.65403,S,17030.00668,E,0.025,,120419,,,A,V*07\r\n");
        CHECK(s.valid);
        CHECK(s.utc->tv_sec == utc(2019, 4, 12, 0, 39, 56));
    }
    SECTION("status V is no fix, whatever the mode says") {
        const Sentence s = parse_one(rmc("175736", "V", "200610", ",,,A"));
        CHECK_FALSE(s.valid);
        CHECK(s.reason == InvalidReason::status_void);
        // The time is still decoded, for diagnosis.
        REQUIRE(s.utc);
        CHECK(s.utc->tv_sec == expected);
    }
    SECTION("an empty status is no fix") {
        CHECK(parse_one(rmc("175736", "", "200610")).reason == InvalidReason::status_void);
    }
}

TEST_CASE("any two-letter talker", "[nmea]") {
    for (const std::string talker : {"GP", "GN", "GL", "GA", "GB", "BD", "GQ", "GI", "QZ", "ZZ"}) {
        CAPTURE(talker);
        const Sentence s =
            parse_one(framed(talker + "RMC,120000.00,A,4807.038,N,01131.000,E,0.0,0.0,010124,,,A"));
        CHECK(s.talker() == talker);
        CHECK(s.name() == talker + "RMC");
        CHECK(s.valid);
        CHECK(s.utc->tv_sec == utc(2024, 1, 1, 12, 0, 0));
    }
}

TEST_CASE("ZDA: date and time, valid only near a reported fix", "[nmea]") {
    Parser parser = parser_at();
    SECTION("alone, ZDA says nothing about the fix") {
        const Sentence s = parse_one(parser, zda("150119.000", "09,03,2022"));
        CHECK(s.type == SentenceType::zda);
        CHECK(s.date == DateSource::sentence);
        REQUIRE(s.utc);
        CHECK(s.utc->tv_sec == utc(2022, 3, 9, 15, 1, 19));
        CHECK_FALSE(s.valid);
        CHECK(s.reason == InvalidReason::no_recent_fix);
    }
    SECTION("after a valid fix in the same second") {
        parse_one(parser, gga("150119.000"));
        const Sentence s = parse_one(parser, zda("150119.000", "09,03,2022"));
        CHECK(s.valid);
        CHECK(s.utc->tv_sec == utc(2022, 3, 9, 15, 1, 19));
    }
    SECTION("leading the cycle, after the previous second's fix") {
        parse_one(parser, rmc("150118.000", "A", "090322"));
        CHECK(parse_one(parser, zda("150119.000", "09,03,2022")).valid);
    }
    SECTION("a fix reported more than 2 s before does not count") {
        parse_one(parser, rmc("150116.000", "A", "090322"));
        CHECK(parse_one(parser, zda("150119.000", "09,03,2022")).reason ==
              InvalidReason::no_recent_fix);
    }
    SECTION("across midnight") {
        parse_one(parser, rmc("235959.000", "A", "080322"));
        const Sentence s = parse_one(parser, zda("000000.000", "09,03,2022"));
        CHECK(s.valid);
        CHECK(s.utc->tv_sec == utc(2022, 3, 9, 0, 0, 0));
    }
    SECTION("after the receiver said it has no fix") {
        parse_one(parser, gga("150119.000", "1"));
        parse_one(parser, rmc("150119.000", "V", "090322"));
        CHECK(parse_one(parser, zda("150119.000", "09,03,2022")).reason ==
              InvalidReason::no_recent_fix);
    }
    SECTION("a valid ZDA gives GGA its date") {
        parse_one(parser, gga("150119.000"));
        parse_one(parser, zda("150119.000", "09,03,2022"));
        const Sentence s = parse_one(parser, gga("150120.000"));
        CHECK(s.date == DateSource::carried);
        CHECK(s.valid);
        CHECK(s.utc->tv_sec == utc(2022, 3, 9, 15, 1, 20));
    }
    SECTION("without a date ZDA takes the carried one") {
        parse_one(parser, rmc("150119.000", "A", "090322"));
        const Sentence s = parse_one(parser, framed("GPZDA,150119.000,,,,,"));
        CHECK(s.date == DateSource::carried);
        CHECK(s.valid);
    }
}

TEST_CASE("GGA: quality, and the date carried from RMC", "[nmea]") {
    Parser parser = parser_at();
    SECTION("no date known yet: decoded, but no full time") {
        const Sentence s = parse_one(parser, gga("202640.000"));
        CHECK(s.type == SentenceType::gga);
        CHECK(s.time);
        CHECK(s.date == DateSource::none);
        CHECK_FALSE(s.utc);
        CHECK_FALSE(s.valid);
        CHECK(s.reason == InvalidReason::no_date);
    }
    SECTION("after RMC") {
        parse_one(parser, rmc("202640.000", "A", "130415"));
        const Sentence s = parse_one(parser, gga("202641.000"));
        CHECK(s.date == DateSource::carried);
        CHECK(s.valid);
        CHECK(s.utc->tv_sec == utc(2015, 4, 13, 20, 26, 41));
    }
    SECTION("quality") {
        parse_one(parser, rmc("202640.000", "A", "130415"));
        for (const char* quality : {"1", "2", "3", "4", "5", "6"}) {
            CAPTURE(quality);
            CHECK(parse_one(parser, gga("202640.000", quality)).valid);
        }
        CHECK(parse_one(parser, gga("202640.000", "7")).reason == InvalidReason::not_gnss);
        CHECK(parse_one(parser, gga("202640.000", "8")).reason == InvalidReason::not_gnss);
        CHECK(parse_one(parser, gga("202640.000", "0")).reason == InvalidReason::no_fix);
        CHECK(parse_one(parser, gga("202640.000", "")).reason == InvalidReason::no_fix);
        CHECK(parse_one(parser, gga("202640.000", "9")).reason == InvalidReason::no_fix);
    }
    SECTION("a fix that uses no satellites") {
        parse_one(parser, rmc("202640.000", "A", "130415"));
        CHECK(parse_one(parser, gga("202640.000", "1", "GP", "00")).reason ==
              InvalidReason::no_satellites);
        CHECK(parse_one(parser, gga("202640.000", "1", "GP", "")).reason != // not given
              InvalidReason::no_satellites);
    }
    SECTION("a quality that is not a number is malformed") {
        CHECK(parse(parser, gga("202640.000", "A")).empty());
        CHECK(parser.counters().malformed == 1);
    }
    SECTION("no time at all: \"$GPGGA,,,,,,0,,,,M,,M,,\" from hemi.log") {
        const Sentence s = parse_one(parser, "$GPGGA,,,,,,0,,,,M,,M,,*66\r\n");
        CHECK_FALSE(s.time);
        CHECK(s.reason == InvalidReason::no_fix);
    }
}

TEST_CASE("GLL with and without the NMEA 2.3 mode field", "[nmea]") {
    Parser parser = parser_at();
    parse_one(parser, rmc("171925.00", "A", "180315"));
    const Sentence with_mode =
        parse_one(parser, "$GNGLL,4404.14066,N,12118.85481,W,171925.00,A,A*66\r\n");
    CHECK(with_mode.type == SentenceType::gll);
    CHECK(with_mode.valid);
    CHECK(with_mode.utc->tv_sec == utc(2015, 3, 18, 17, 19, 25));
    CHECK(parse_one(parser, framed("GPGLL,4404.14066,N,12118.85481,W,171925.00,A")).valid);
    CHECK(parse_one(parser, framed("GPGLL,4404.14066,N,12118.85481,W,171925.00,A,N")).reason ==
          InvalidReason::no_fix);
    CHECK(parse_one(parser, "$GPGLL,0000.0000000,N,00000.0000000,E,212406.000,V,N*42\r\n").reason ==
          InvalidReason::status_void);
}

TEST_CASE("GNS: one mode character per constellation", "[nmea]") {
    Parser parser = parser_at();
    parse_one(parser, rmc("120213.000", "A", "310722"));
    // furuno_gl_ga.log: no GPS fix, GLONASS and Galileo differential.
    const Sentence s = parse_one(
        parser, "$GNGNS,120213.000,5957.0062,N,01100.6429,E,NDD,11,1.3,168.9,39.5,,,V*57\r\n");
    CHECK(s.type == SentenceType::gns);
    CHECK(s.valid);
    CHECK(s.utc->tv_sec == utc(2022, 7, 31, 12, 2, 13));
    const auto gns = [](std::string_view modes) {
        return framed("GNGNS,120214.000,5957.0062,N,01100.6429,E," + std::string{modes} +
                      ",11,1.3,168.9,39.5,,,V");
    };
    CHECK(parse_one(parser, gns("AN")).valid);
    CHECK(parse_one(parser, gns("NNNN")).reason == InvalidReason::no_fix);
    CHECK(parse_one(parser, gns("N")).reason == InvalidReason::no_fix);
    CHECK(parse_one(parser, gns("")).reason == InvalidReason::no_fix);
    CHECK(parse_one(parser, gns("SN")).reason == InvalidReason::not_gnss);
}

TEST_CASE("checksums", "[nmea]") {
    Parser parser = parser_at();
    SECTION("wrong") {
        CHECK(parse(parser, "$GPGGA,202640.000,,,,,1,08,,,,,,,*00\r\n").empty());
        CHECK(parser.counters().bad_checksum == 1);
    }
    SECTION("missing: a sentence without *HH is rejected") {
        CHECK(parse(parser, "$GPRMC,175736,A,5125.8714,N,00524.2350,E,3.1,276.2,200610,,\r\n")
                  .empty());
        CHECK(parser.counters().bad_checksum == 1);
    }
    SECTION("one digit, three digits, not hex, text after it") {
        CHECK(parse(parser, "$GPRMC,,V,,,,,,,,,,N*5\r\n").empty());
        CHECK(parse(parser, "$GPRMC,,V,,,,,,,,,,N*530\r\n").empty());
        CHECK(parse(parser, "$GPRMC,,V,,,,,,,,,,N*5G\r\n").empty());
        CHECK(parse(parser, "$GPRMC,,V,,,,,,,,,,N*53 \r\n").empty());
        CHECK(parser.counters().bad_checksum == 4);
    }
    SECTION("lower-case hex (magellan-ec10.log)") {
        const Sentence s = parse_one(parser, "$GPRMC,205150.00,V,,,,,,,,,,,V*4a\r\n");
        CHECK(s.reason == InvalidReason::status_void);
    }
    SECTION("a bare \\n or \\r ends a line too") {
        CHECK(parse(parser, "$GPRMC,,V,,,,,,,,,,N*53\n$GPRMC,,V,,,,,,,,,,N*53\r").size() == 2);
        CHECK(parser.counters().garbage == 0);
    }
    CHECK(parser.counters().sentences + parser.counters().bad_checksum > 0);
}

TEST_CASE("missing and empty fields", "[nmea]") {
    Parser parser = parser_at();
    SECTION("empty time with a fix") {
        const Sentence s = parse_one(parser, rmc("", "A", "200610"));
        CHECK_FALSE(s.time);
        CHECK_FALSE(s.utc);
        CHECK(s.reason == InvalidReason::no_time);
    }
    SECTION("empty time without a fix (april6_2019.log)") {
        const Sentence s = parse_one(parser, "$GPRMC,,V,,,,,,,,,,N*53\r\n");
        CHECK_FALSE(s.time);
        CHECK(s.reason == InvalidReason::status_void);
    }
    SECTION("RMC with an empty date takes the carried one") {
        parse_one(parser, rmc("175736", "A", "200610"));
        const Sentence s = parse_one(parser, rmc("175737", "A", ""));
        CHECK(s.date == DateSource::carried);
        CHECK(s.valid);
        CHECK(s.utc->tv_sec == utc(2010, 6, 20, 17, 57, 37));
    }
    SECTION("truncated sentences are malformed") {
        CHECK(parse(parser, framed("GPRMC,175736,A,5125.8714,N")).empty());
        CHECK(parse(parser, framed("GPGGA,202640.000,4404.1306,N")).empty());
        CHECK(parse(parser, framed("GPGLL,4404.14066,N,12118.85481,W,171925.00")).empty());
        CHECK(parse(parser, framed("GPZDA,150119.000,09,03")).empty());
        CHECK(parse(parser, framed("GPRMC")).empty());
        CHECK(parser.counters().malformed == 5);
        CHECK(parser.counters().sentences == 0);
    }
    SECTION("ZDA with part of a date is malformed") {
        CHECK(parse(parser, zda("150119.000", "09,,2022")).empty());
        CHECK(parser.counters().malformed == 1);
    }
}

TEST_CASE("out-of-range and non-numeric fields are rejected and counted", "[nmea]") {
    Parser parser = parser_at();
    SECTION("times") {
        for (const char* time :
             {"240000", "236000", "235961", "120060", "126000", "12000", "1200", "12a000",
              "120000,5", "120000.5x", "-12000", " 120000", "120000 "}) {
            CAPTURE(time);
            CHECK(parse(parser, rmc(time, "A", "200610")).empty());
        }
        CHECK(parser.counters().malformed == 13);
        CHECK(parser.counters().sentences == 0);
    }
    SECTION("RMC dates") {
        for (const char* ddmmyy : {"320114", "011314", "300214", "290215", "000114", "010014",
                                   "01011a", "0101144", "01011", "1-0114"}) {
            CAPTURE(ddmmyy);
            CHECK(parse(parser, rmc("120000", "A", ddmmyy)).empty());
        }
        CHECK(parser.counters().malformed == 10);
        // 2016 was a leap year.
        CHECK(parse_one(parser, rmc("120000", "A", "290216")).utc->tv_sec ==
              utc(2016, 2, 29, 12, 0, 0));
    }
    SECTION("ZDA dates") {
        for (const char* dd_mm_yyyy :
             {"30,02,2016", "01,13,2016", "32,01,2016", "00,01,2016", "1,01,2016", "01,1,2016",
              "01,01,16", "01,01,20160", "01,01,2O16"}) {
            CAPTURE(dd_mm_yyyy);
            CHECK(parse(parser, zda("120000", dd_mm_yyyy)).empty());
        }
        CHECK(parser.counters().malformed == 9);
    }
    SECTION("a date before GPS time began (1980-01-06) cannot be repaired") {
        CHECK(parse(parser, zda("120000", "05,01,1980")).empty());
        // With the floor at 2000 a two-digit year of 79 is 2079... and 50 is 1950.
        CHECK(parse(parser, rmc("120000", "A", "010150")).empty());
        CHECK(parser.counters().malformed == 2);
    }
    SECTION("a rejected sentence forgets the carried date") {
        parse_one(parser, rmc("120000", "A", "200610"));
        CHECK(parse(parser, rmc("120001", "A", "321299")).empty());
        CHECK(parse_one(parser, gga("120002")).reason == InvalidReason::no_date);
    }
}

// [time64]: dates after 2038, which a 32-bit time_t cannot hold (left out
// where time_t is 32-bit: tests/unit/meson.build).
TEST_CASE("two-digit years across the 1999/2000 pivot", "[nmea][time64]") {
    SECTION("floor 1990: years 1940..2039") {
        // The system clock in 2020: the latest plausible date is 1024 weeks
        // after the floor (2009-08-15) or a year after the clock, 2021.
        Parser parser = parser_at(date(1990, 1, 1), utc(2020, 1, 1, 0, 0, 0));
        const Sentence before = parse_one(parser, rmc("235959", "A", "311299"));
        CHECK(before.utc->tv_sec == utc(1999, 12, 31, 23, 59, 59));
        CHECK(before.utc->tv_sec == 946684799); // date -u -d '1999-12-31 23:59:59' +%s
        CHECK_FALSE(before.date_repaired);
        CHECK(before.valid);
        const Sentence after = parse_one(parser, rmc("000000", "A", "010100"));
        CHECK(after.utc->tv_sec == utc(2000, 1, 1, 0, 0, 0));
        CHECK(after.utc->tv_sec == before.utc->tv_sec + 1);
        // 2039 is read in the window, but is 19 years after the clock: the
        // date is kept for messages, the sentence is not valid.
        const Sentence late = parse_one(parser, rmc("120000", "A", "010139"));
        CHECK(late.utc->tv_sec == utc(2039, 1, 1, 12, 0, 0));
        CHECK(late.reason == InvalidReason::implausible_date);
        CHECK(late.date_problem == DateProblem::too_late);
        // 1940..1979 are in the window but before GPS time began.
        CHECK(parse(parser, rmc("120000", "A", "010140")).empty());
        CHECK(parse(parser, rmc("120000", "A", "311279")).empty());
    }
    SECTION("GPS week 0 before a 1990 floor: one rollover on, with a clock in 1999") {
        Parser parser = parser_at(date(1990, 1, 1), utc(1999, 9, 1, 0, 0, 0));
        const Sentence week0 = parse_one(parser, rmc("120000", "A", "060180"));
        CHECK(week0.date_repaired);
        CHECK(week0.valid);
        CHECK(week0.utc->tv_sec == utc(1999, 8, 22, 12, 0, 0));
    }
    SECTION("floor 2000: years 1950..2049; 1999 is before the floor") {
        Parser parser = parser_at(floor_2000, utc(2019, 8, 16, 12, 0, 0));
        const Sentence s2000 = parse_one(parser, rmc("000000", "A", "010100"));
        CHECK(s2000.utc->tv_sec == utc(2000, 1, 1, 0, 0, 0));
        CHECK_FALSE(s2000.date_repaired);
        CHECK(parse_one(parser, rmc("000000", "A", "010149")).utc->tv_sec ==
              utc(2049, 1, 1, 0, 0, 0));
        // 1999-12-31 is 1024 weeks before the clock's day: a rollover.
        const Sentence s1999 = parse_one(parser, rmc("235959", "A", "311299"));
        CHECK(s1999.date_repaired);
        CHECK(s1999.valid);
        CHECK(s1999.utc->tv_sec == utc(1999, 12, 31, 23, 59, 59) + rollover_seconds);
        CHECK(s1999.utc->tv_sec == utc(2019, 8, 16, 23, 59, 59));
    }
}

// [time64]: dates after 2038, which a 32-bit time_t cannot hold (left out
// where time_t is 32-bit: tests/unit/meson.build).
TEST_CASE("two-digit years across the 2099/2100 pivot", "[nmea][time64]") {
    // Years 2030..2129, the system clock on 2100-01-01.
    Parser parser = parser_at(date(2080, 1, 1), utc(2100, 1, 1, 0, 0, 0));
    const Sentence before = parse_one(parser, rmc("235959", "A", "311299"));
    CHECK(before.utc->tv_sec == utc(2099, 12, 31, 23, 59, 59));
    CHECK(before.utc->tv_sec == 4102444799); // date -u -d '2099-12-31 23:59:59' +%s
    CHECK_FALSE(before.date_repaired);
    CHECK(before.valid);
    const Sentence after = parse_one(parser, rmc("000000", "A", "010100"));
    CHECK(after.utc->tv_sec == utc(2100, 1, 1, 0, 0, 0));
    CHECK(after.utc->tv_sec == before.utc->tv_sec + 1);
    // 2100 is not a leap year.
    CHECK(parse(parser, rmc("120000", "A", "290200")).empty());
    CHECK(parse_one(parser, rmc("235959", "A", "280200")).utc->tv_sec ==
          utc(2100, 2, 28, 23, 59, 59));
    CHECK(parse_one(parser, gga("000000")).utc->tv_sec == utc(2100, 3, 1, 0, 0, 0));
    // 2030 and 2129 are in the window. 2030 is before the floor, and no
    // 1024-week step brings it within a year of the clock (2088, 2108);
    // 2129 is too late. Both keep the date as written.
    const Sentence s2030 = parse_one(parser, rmc("120000", "A", "010130"));
    CHECK(s2030.utc->tv_sec == utc(2030, 1, 1, 12, 0, 0));
    CHECK(s2030.date_problem == DateProblem::no_agreeing_rollover);
    const Sentence s2129 = parse_one(parser, rmc("120000", "A", "311229"));
    CHECK(s2129.utc->tv_sec == utc(2129, 12, 31, 12, 0, 0));
    CHECK(s2129.date_problem == DateProblem::too_late);
}

// [time64]: dates after 2038, which a 32-bit time_t cannot hold (left out
// where time_t is 32-bit: tests/unit/meson.build).
TEST_CASE("1024-week rollover repair, with the system clock as evidence", "[nmea][time64]") {
    // The capture's own day, as the daemon's clock would have read.
    const time_t april_2019 = static_cast<time_t>(utc(2019, 4, 7, 0, 0, 0));
    SECTION("april6_2019.log: a Telit HE910 reporting 1999-08-22 after the 2019 rollover") {
        const Sentence s =
            parse_one("$GPRMC,000231.42,A,4829.0005,N,00022.0016,E,0.16,212.28,220899,,,A*59\r\n",
                      floor_2000, april_2019);
        CHECK(s.valid);
        CHECK(s.date_repaired);
        CHECK(s.utc->tv_sec == 1554595351); // date -u -d '2019-04-07 00:02:31' +%s
        CHECK(s.utc->tv_sec == utc(1999, 8, 22, 0, 2, 31) + rollover_seconds);
        CHECK(s.utc->tv_nsec == 420000000);
    }
    SECTION("the same sentence in December 2026, or without evidence: refused") {
        const std::string bytes =
            "$GPRMC,000231.42,A,4829.0005,N,00022.0016,E,0.16,212.28,220899,,,A*59\r\n";
        const Sentence now = parse_one(bytes, floor_2000, test_clock);
        CHECK_FALSE(now.valid);
        CHECK(now.reason == InvalidReason::implausible_date);
        CHECK(now.date_problem == DateProblem::no_agreeing_rollover);
        CHECK_FALSE(now.date_repaired);
        CHECK(now.utc->tv_sec == utc(1999, 8, 22, 0, 2, 31)); // as written
        const Sentence none = parse_one(bytes, floor_2000, std::nullopt);
        CHECK(none.date_problem == DateProblem::before_floor_no_evidence);
        // A clock before the floor is no evidence either.
        const Sentence early = parse_one(bytes, floor_2000, utc(1999, 12, 31, 0, 0, 0));
        CHECK(early.date_problem == DateProblem::before_floor_no_evidence);
    }
    SECTION("ZDA's four-digit year is repaired too (gp-320fw-2019-04-07-coldboot.log)") {
        const Sentence s =
            parse_one("$GPZDA,000429.00,22,08,1999,,*69\r\n", floor_2000, april_2019);
        CHECK(s.date_repaired);
        CHECK(s.utc->tv_sec == utc(2019, 4, 7, 0, 4, 29));
    }
    SECTION("the carried date keeps the mark") {
        Parser parser = parser_at(floor_2000, april_2019);
        parse_one(parser, rmc("235959", "A", "220899"));
        const Sentence s = parse_one(parser, gga("000000"));
        CHECK(s.date == DateSource::carried);
        CHECK(s.date_repaired);
        CHECK(s.utc->tv_sec == utc(2019, 4, 8, 0, 0, 0));
    }
    SECTION("as many steps as bring it within a year of the clock") {
        const Sentence s =
            parse_one(rmc("120000", "A", "220899"), date(2019, 6, 1), utc(2038, 11, 1, 0, 0, 0));
        CHECK(s.utc->tv_sec == utc(1999, 8, 22, 12, 0, 0) + 2 * rollover_seconds);
        CHECK(s.utc->tv_sec == utc(2038, 11, 21, 12, 0, 0));
        // GPS week 0 itself, two rollovers back.
        CHECK(parse_one(zda("000000", "06,01,1980"), date(2019, 1, 1), utc(2019, 6, 1, 0, 0, 0))
                  .utc->tv_sec == utc(1980, 1, 6, 0, 0, 0) + 2 * rollover_seconds);
    }
    SECTION("within a year of the clock, not more") {
        // 2000-01-01 + 1024 weeks = 2019-08-18; the clock a year (366 days)
        // either side of it agrees, a day more does not.
        const std::int64_t repaired = utc(2000, 1, 1, 12, 0, 0) + rollover_seconds;
        for (const std::int64_t days : {-366, -1, 0, 1, 366, -367, 367}) {
            CAPTURE(days);
            const Sentence s = parse_one(rmc("120000", "A", "010100"), date(2000, 6, 1),
                                         repaired + days * seconds_per_day);
            const bool agrees = days >= -366 && days <= 366;
            CHECK(s.valid == agrees);
            CHECK(s.date_repaired == agrees);
            if (agrees) {
                CHECK(s.utc->tv_sec == repaired);
            }
        }
    }
}

// Issue 8, case 2: dates a receiver cannot truly report today, the same
// bounds for RMC and ZDA. The floor is a release's, the clock December 2026.
TEST_CASE("plausible dates: floor and evidence", "[nmea][time64]") {
    const auto floor = date(2026, 11, 1);
    const time_t december = test_clock; // 2026-12-01
    SECTION("2014-02-19 in December 2026 (gpsd's rst39) is refused with or without evidence") {
        const std::string bytes = rmc("120000", "A", "190214");
        for (const std::optional<time_t> now :
             {std::optional<time_t>{december}, std::optional<time_t>{}}) {
            const Sentence s = parse_one(bytes, floor, now);
            CHECK_FALSE(s.valid);
            CHECK(s.reason == InvalidReason::implausible_date);
            // Not 2033-10-05, seven years ahead.
            CHECK(s.utc->tv_sec == utc(2014, 2, 19, 12, 0, 0));
        }
    }
    SECTION("a date exactly 1024 weeks before the clock's is repaired to it") {
        const std::int64_t early = utc(2026, 12, 1, 12, 0, 0) - rollover_seconds;
        const std::time_t t = static_cast<std::time_t>(early);
        std::tm tm{};
        gmtime_r(&t, &tm);
        char ddmmyy[40];
        std::snprintf(ddmmyy, sizeof ddmmyy, "%02d%02d%02d", tm.tm_mday, tm.tm_mon + 1,
                      tm.tm_year % 100);
        const Sentence s = parse_one(rmc("120000", "A", ddmmyy), floor, december);
        CHECK(s.valid);
        CHECK(s.date_repaired);
        CHECK(s.utc->tv_sec == utc(2026, 12, 1, 12, 0, 0));
    }
    SECTION("two-digit years: 75 is not 2075, 99 and 00 are not 2039") {
        Parser parser = parser_at(floor, december);
        const Sentence y75 = parse_one(parser, rmc("120000", "A", "010175"));
        CHECK(y75.utc->tv_sec == utc(2075, 1, 1, 12, 0, 0)); // the window's century
        CHECK(y75.date_problem == DateProblem::too_late);
        for (const char* ddmmyy : {"010199", "010100"}) {
            CAPTURE(ddmmyy);
            const Sentence s = parse_one(parser, rmc("120000", "A", ddmmyy));
            CHECK_FALSE(s.valid);
            CHECK(s.date_problem == DateProblem::no_agreeing_rollover);
            CHECK_FALSE(s.date_repaired);
        }
        CHECK(parser.counters().implausible_date == 3);
    }
    SECTION("ZDA year 9999 and 2099 are refused; 2099 does not win over RMC's 2026") {
        Parser parser = parser_at(floor, december);
        CHECK(parse_one(parser, zda("120000", "01,12,9999")).date_problem == DateProblem::too_late);
        Cycle cycle;
        parse_one(parser, gga("120001"));
        for (const Sentence& s :
             parse(parser, zda("120001", "01,12,2099") + rmc("120001", "A", "011226"))) {
            cycle.add(s);
        }
        REQUIRE(cycle.time() != nullptr);
        CHECK(cycle.time()->name() == "GPRMC");
        CHECK(cycle.time()->utc->tv_sec == utc(2026, 12, 1, 12, 0, 1));
        REQUIRE(cycle.implausible_date() != nullptr);
        CHECK(cycle.implausible_date()->name() == "GPZDA");
    }
    SECTION("the day before the floor does not become 2046") {
        const std::string bytes = rmc("120000", "A", "311026");
        CHECK(parse_one(bytes, floor, december).date_problem == DateProblem::no_agreeing_rollover);
        CHECK(parse_one(bytes, floor, std::nullopt).date_problem ==
              DateProblem::before_floor_no_evidence);
        // Only a clock in 2046 says it is a rollover.
        const Sentence s = parse_one(bytes, floor, utc(2046, 6, 1, 0, 0, 0));
        CHECK(s.date_repaired);
        CHECK(s.utc->tv_sec == utc(2026, 10, 31, 12, 0, 0) + rollover_seconds);
    }
    SECTION("a date after the floor is kept as it is, even far from the clock") {
        // A clock restored from the last shutdown two years ago: the
        // receiver is believed (the kernel witness, when synchronized,
        // judges seconds).
        CHECK(parse_one(rmc("120000", "A", "011230"), floor, december).valid);
        CHECK(parse_one(rmc("120000", "A", "011230"), floor, std::nullopt).valid);
        // The last plausible day without a later clock: 1024 weeks on.
        const std::int64_t last = utc(2026, 11, 1, 12, 0, 0) + rollover_seconds - seconds_per_day;
        const std::time_t t = static_cast<std::time_t>(last);
        std::tm tm{};
        gmtime_r(&t, &tm);
        char dd_mm_yyyy[40];
        std::snprintf(dd_mm_yyyy, sizeof dd_mm_yyyy, "%02d,%02d,%04d", tm.tm_mday, tm.tm_mon + 1,
                      tm.tm_year + 1900);
        Parser parser = parser_at(floor, std::nullopt);
        CHECK(parse_one(parser, zda("120000", dd_mm_yyyy)).date_problem == DateProblem::none);
        CHECK(parse_one(parser, zda("120000", "17,06,2046")).date_problem == DateProblem::too_late);
    }
    SECTION("a hostile clock: before 1970, or the end of time_t, is no evidence") {
        Parser parser = parser_at(floor, std::numeric_limits<time_t>::min());
        CHECK(parse_one(parser, rmc("120000", "A", "190214")).date_problem ==
              DateProblem::before_floor_no_evidence);
        parser.set_system_clock(-1);
        CHECK(parse_one(parser, rmc("120000", "A", "190214")).date_problem ==
              DateProblem::before_floor_no_evidence);
        // Past year 9999: no date a receiver writes can agree with it.
        parser.set_system_clock(std::numeric_limits<time_t>::max());
        CHECK(parse_one(parser, rmc("120000", "A", "190214")).date_problem ==
              DateProblem::before_floor_no_evidence);
        // 1982-02-07 is a whole number of 1024 weeks before the end of a
        // 64-bit time_t's days: repaired to it, its seconds overflowed (the
        // NMEA fuzz target found it, UBSan in nmea_parser.cpp).
        Parser from_2000 = parser_at(floor_2000, std::numeric_limits<time_t>::max());
        const Sentence s = parse_one(from_2000, rmc("120000", "A", "070282"));
        CHECK_FALSE(s.valid);
        CHECK(s.date_problem == DateProblem::before_floor_no_evidence);
    }
}

TEST_CASE("the carried date follows midnight", "[nmea]") {
    Parser parser = parser_at();
    SECTION("forwards: GGA after midnight, RMC from before it") {
        parse_one(parser, rmc("235959.00", "A", "311214"));
        CHECK(parse_one(parser, gga("000000.00")).utc->tv_sec == utc(2015, 1, 1, 0, 0, 0));
        CHECK(parse_one(parser, gga("000001.00")).utc->tv_sec == utc(2015, 1, 1, 0, 0, 1));
        // The carried date moved on: 12 h later is still the same day.
        CHECK(parse_one(parser, gga("120001.00")).utc->tv_sec == utc(2015, 1, 1, 12, 0, 1));
    }
    SECTION("backwards: a GGA from just before midnight after an RMC from after it") {
        parse_one(parser, rmc("000001.00", "A", "010115"));
        CHECK(parse_one(parser, gga("235959.00")).utc->tv_sec == utc(2014, 12, 31, 23, 59, 59));
    }
    SECTION("GGA alone across several days, one fix after another") {
        parse_one(parser, rmc("000000", "A", "280216"));
        // Steps of 11 h: each is read as the nearest (2016 is a leap year).
        const char* times[] = {"110000", "220000", "090000", "200000", "070000"};
        const std::int64_t expected[] = {utc(2016, 2, 28, 11, 0, 0), utc(2016, 2, 28, 22, 0, 0),
                                         utc(2016, 2, 29, 9, 0, 0), utc(2016, 2, 29, 20, 0, 0),
                                         utc(2016, 3, 1, 7, 0, 0)};
        for (std::size_t i = 0; i < std::size(times); ++i) {
            CAPTURE(times[i]);
            CHECK(parse_one(parser, gga(times[i])).utc->tv_sec == expected[i]);
        }
    }
    SECTION("more than 12 h ahead of the carried time is the day before") {
        parse_one(parser, rmc("000000", "A", "280216"));
        CHECK(parse_one(parser, gga("130000")).utc->tv_sec == utc(2016, 2, 27, 13, 0, 0));
    }
    SECTION("a report of no fix drops the carried date: an outage may last days") {
        parse_one(parser, rmc("120000", "A", "311214"));
        parse_one(parser, rmc("120001", "V", "311214"));
        CHECK(parse_one(parser, gga("120002")).reason == InvalidReason::no_date);
    }
    SECTION("so does a GGA without a fix") {
        parse_one(parser, rmc("120000", "A", "311214"));
        parse_one(parser, gga("120001", "0"));
        CHECK(parse_one(parser, gga("120002")).reason == InvalidReason::no_date);
    }
    SECTION("reset() forgets it") {
        parse_one(parser, rmc("120000", "A", "311214"));
        parser.reset();
        CHECK(parse_one(parser, gga("120002")).reason == InvalidReason::no_date);
    }
}

TEST_CASE("23:59:60", "[nmea]") {
    Parser parser = parser_at();
    SECTION("the leap second at the end of 2016") {
        const Sentence before = parse_one(parser, rmc("235959.000", "A", "311216"));
        const Sentence leap = parse_one(parser, rmc("235960.500", "A", "311216"));
        const Sentence after = parse_one(parser, rmc("000000.000", "A", "010117"));
        CHECK(before.utc->tv_sec == 1483228799); // date -u -d '2016-12-31 23:59:59' +%s
        CHECK_FALSE(before.leap_second);
        REQUIRE(leap.valid);
        CHECK(leap.leap_second);
        CHECK(leap.time->second == 60);
        // POSIX time repeats 23:59:59, as CLOCK_REALTIME does during the leap.
        CHECK(leap.utc->tv_sec == utc(2016, 12, 31, 23, 59, 59));
        CHECK(leap.utc->tv_nsec == 500000000);
        CHECK(after.utc->tv_sec == utc(2017, 1, 1, 0, 0, 0));
        CHECK(after.utc->tv_sec == 1483228800);
        CHECK_FALSE(after.leap_second);
    }
    SECTION("on a carried date, then across midnight") {
        parse_one(parser, rmc("235959", "A", "300615"));
        const Sentence leap = parse_one(parser, gga("235960"));
        CHECK(leap.leap_second);
        CHECK(leap.utc->tv_sec == utc(2015, 6, 30, 23, 59, 59));
        CHECK(parse_one(parser, gga("000000")).utc->tv_sec == utc(2015, 7, 1, 0, 0, 0));
    }
    SECTION("only at the end of a month") {
        CHECK(parse(parser, rmc("235960", "A", "150616")).empty());
        CHECK(parse(parser, zda("235960", "15,06,2016")).empty());
        CHECK(parser.counters().malformed == 2);
    }
    SECTION("only at 23:59") {
        CHECK(parse(parser, rmc("225960", "A", "311216")).empty());
        CHECK(parse(parser, rmc("235860", "A", "311216")).empty());
        CHECK(parser.counters().malformed == 2);
    }
}

TEST_CASE("fractional seconds, any number of digits", "[nmea]") {
    const std::pair<const char*, long> cases[] = {
        {"120000", 0},
        {"120000.", 0},
        {"120000.5", 500000000},
        {"120000.05", 50000000},
        {"120000.099", 99000000},
        {"120000.123456789", 123456789},
        {"120000.1234567891", 123456789},   // beyond nanoseconds: truncated
        {"120000.999999999999", 999999999}, // never rounded into the next second
    };
    for (const auto& [time, nanoseconds] : cases) {
        CAPTURE(time);
        const Sentence s = parse_one(rmc(time, "A", "200610"));
        CHECK(s.time->nanosecond == static_cast<std::uint32_t>(nanoseconds));
        CHECK(s.utc->tv_sec == utc(2010, 6, 20, 12, 0, 0));
        CHECK(s.utc->tv_nsec == nanoseconds);
    }
}

namespace {

// A stretch of receiver output with a bit of everything.
std::string mixed_stream() {
    std::string text;
    text += "$GPGSV,3,3,12,24,58,220,,26,17,053,,29,20,063,,30,60,311,44*7F\r\n";
    text += rmc("235958.10", "A", "311216");
    text += gga("235958.10");
    text += "$PGRME,15.0,M,22.5,M,27.0,M*1A\r\n";
    text += zda("235958.10", "31,12,2016");
    text += "garbage between lines\r\n";
    text += gga("235959.10");
    text += "$GPRMC,235959.10,A,4807.0\r\n"; // truncated, no checksum
    text += framed("GPGLL,4807.038,N,01131.000,E,235960.10,A,A");
    text += "$GPRMC,000000.1"; // cut short by the next '$'
    text += rmc("000000.10", "A", "010117");
    text += std::string("$GPGGA,000001.10,4807.0\0\0\0,N\r\n", 29);
    text += "$GPRMC,000001.10,A,4807.038,N,01131.000,E,022.4,084.4,010117,,,A*00\r\n";
    text += std::string(300, 'x') + "\r\n";
    text += "$" + std::string(300, 'x') + "\r\n";
    text += gga("000002.10") + "\n";
    text += framed("GNGNS,000003.10,4807.038,N,01131.000,E,AN,11,1.3,168.9,39.5,,,V");
    text += "$GPRMC,,V,,,,,,,,,,N*53\n";
    return text;
}

} // namespace

TEST_CASE("chunked feeding: byte by byte and in random chunks gives the same", "[nmea]") {
    const std::string text = mixed_stream();
    Parser whole{floor_2000};
    const std::vector<Sentence> expected = parse(whole, text);
    // The stream is meant to exercise all of it: check that it does.
    REQUIRE(expected.size() == 9);
    REQUIRE(whole.counters().sentences == 9);
    REQUIRE(whole.counters().bad_checksum == 2);
    REQUIRE(whole.counters().garbage == 4);
    REQUIRE(whole.counters().over_long == 1);
    REQUIRE(whole.counters().unsupported == 2);
    REQUIRE(expected[4].leap_second);
    REQUIRE(expected[4].valid);

    Parser bytewise{floor_2000};
    std::vector<Sentence> got;
    for (const char byte : text) {
        if (const Sentence* s = bytewise.push(byte)) {
            got.push_back(*s);
        }
    }
    REQUIRE(got.size() == expected.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        require_same(got[i], expected[i]);
    }
    require_same_counters(bytewise.counters(), whole.counters());

    const std::uint64_t seed = seed_from_environment();
    std::cout << "chunked feeding: seed " << seed << " (SHMREFCLOCK_TEST_SEED)\n";
    CAPTURE(seed);
    std::mt19937_64 random{seed};
    for (int round = 0; round < 100; ++round) {
        Parser chunked{floor_2000};
        got.clear();
        std::size_t at = 0;
        while (at < text.size()) {
            const std::size_t length = std::uniform_int_distribution<std::size_t>{0, 90}(random);
            const auto more = parse(chunked, std::string_view{text}.substr(at, length));
            got.insert(got.end(), more.begin(), more.end());
            at += length;
        }
        REQUIRE(got.size() == expected.size());
        for (std::size_t i = 0; i < got.size(); ++i) {
            require_same(got[i], expected[i]);
        }
        require_same_counters(chunked.counters(), whole.counters());
    }
}

TEST_CASE("100 KB without a newline is dropped, not buffered", "[nmea]") {
    Parser parser = parser_at();
    // The line buffer is a fixed array inside the parser: no allocation can grow.
    STATIC_REQUIRE(sizeof(Parser) < 2 * Parser::max_line + sizeof(Sentence) + 256);
    const std::string flood = "$GPRMC," + std::string(100 * 1024, '7');
    for (std::size_t at = 0; at < flood.size(); at += 4096) {
        CHECK(parse(parser, std::string_view{flood}.substr(at, 4096)).empty());
    }
    CHECK(parser.counters().over_long == 1);
    CHECK(parser.counters().garbage == 0);
    // The next line is read normally.
    const Sentence s = parse_one(parser, "\r\n" + rmc("120000", "A", "200610"));
    CHECK(s.valid);
    // A line of exactly max_line characters is still a line.
    const std::string longest = framed("GPTXT," + std::string(Parser::max_line - 10, 'A'));
    REQUIRE(longest.size() == Parser::max_line + 2);
    CHECK(parse(parser, longest).empty());
    CHECK(parser.counters().unsupported == 1);
    CHECK(parser.counters().over_long == 1);
    // And 100 KB of text that never starts a sentence is one run of garbage.
    CHECK(parse(parser, std::string(100 * 1024, 'A')).empty());
    CHECK(parser.counters().garbage == 1);
}

TEST_CASE("NUL and other non-printable bytes drop the line", "[nmea]") {
    Parser parser = parser_at();
    SECTION("gp-320fw-2019-04-07-coldboot.log: NULs where a UART lost the rest") {
        const std::string line =
            std::string("$GPRMC,000346.03,A,4808") + std::string(12, '\0') + "      \r\n";
        CHECK(parse(parser, line).empty());
        CHECK(parser.counters().garbage == 1);
        CHECK(parse_one(parser, rmc("000347.03", "A", "070419")).valid);
    }
    SECTION("a NUL inside an otherwise perfect sentence") {
        std::string line = rmc("120000", "A", "200610");
        line[10] = '\0';
        CHECK(parse(parser, line).empty());
        CHECK(parser.counters().garbage == 1);
        CHECK(parser.counters().bad_checksum == 0);
    }
    SECTION("tab, DEL, bytes above 0x7f") {
        for (const char byte : {'\t', '\x7f', '\x80', '\xff'}) {
            std::string line = rmc("120000", "A", "200610");
            line[12] = byte;
            CHECK(parse(parser, line).empty());
        }
        CHECK(parser.counters().garbage == 4);
    }
    CHECK(parser.counters().sentences <= 1);
}

TEST_CASE("'$' always starts a sentence", "[nmea]") {
    Parser parser = parser_at();
    const Sentence s = parse_one(parser, "$GPRMC,0003" + rmc("120000", "A", "200610"));
    CHECK(s.valid);
    CHECK(parser.counters().garbage == 1);
}

TEST_CASE("vendor and other sentences are counted, not decoded", "[nmea]") {
    Parser parser = parser_at();
    const std::string text = std::string{"$PGRME,15.0,M,22.5,M,27.0,M*1A\r\n"} +
                             "$PMTK705,AXN_2.51_3339_19071200,0002,QUECTEL-L70,1.0*32\r\n" +
                             "$PSTI,030,212406.000,V,0000.0000000,N,00000.0000000,E,0.000,0.00,"
                             "0.00,0.00,280316,N,0.0,0.0*01\r\n" +
                             "$GPGSV,3,3,09,30,67,294,50*48\r\n" +
                             "$GNVTG,,T,,M,0.025,N,0.045,K,A*3B\r\n" +
                             framed("GPrmc,120000,A,,,,,,,200610,,") + // not a standard address
                             framed("GPXRMC,120000,A,,,,,,,200610,,") +
                             framed("PGRMC,120000,A,,,,,,,200610,,") + // proprietary 'P'
                             "!AIVDM,1,1,,A,13aEOK?P00PD2wVMdLDRhgvL289?,0*26\r\n";
    CHECK(parse(parser, text).empty());
    CHECK(parser.counters().unsupported == 9);
    CHECK(parser.counters().bad_checksum == 0);
    CHECK(parser.counters().sentences == 0);
}

TEST_CASE("stream positions", "[nmea]") {
    Parser parser = parser_at();
    const std::string first = rmc("120000", "A", "200610");
    const std::string second = gga("120000");
    const std::vector<Sentence> sentences = parse(parser, "xy\n" + first + second);
    REQUIRE(sentences.size() == 2);
    CHECK(sentences[0].stream_begin == 3);
    CHECK(sentences[0].stream_end == 3 + first.size() - 1); // ended by its '\r'
    CHECK(sentences[1].stream_begin == 3 + first.size());
    CHECK(sentences[1].stream_end == 3 + first.size() + second.size() - 1);
}

TEST_CASE("a cycle's time", "[nmea]") {
    Parser parser = parser_at();
    Cycle cycle;
    SECTION("the first valid sentence") {
        cycle.add(parse_one(parser, gga("120000"))); // no date yet
        cycle.add(parse_one(parser, rmc("120000", "A", "200610")));
        cycle.add(parse_one(parser, zda("120000", "20,06,2010")));
        REQUIRE(cycle.time());
        CHECK(cycle.time()->name() == "GPRMC");
        CHECK(cycle.time()->utc->tv_sec == utc(2010, 6, 20, 12, 0, 0));
    }
    SECTION("none if another sentence of the cycle says there is no fix") {
        cycle.add(parse_one(parser, rmc("120000", "A", "200610")));
        cycle.add(parse_one(parser, gga("120000", "0")));
        CHECK_FALSE(cycle.time());
        cycle.clear();
        cycle.add(parse_one(parser, rmc("120001", "A", "200610")));
        REQUIRE(cycle.time());
        cycle.add(parse_one(parser, framed("GPGLL,4807.038,N,01131.000,E,120001,V,N")));
        CHECK_FALSE(cycle.time());
    }
    SECTION("a GGA with \"00\" satellites is no veto (furuno_gl_ga.log)") {
        cycle.add(parse_one(parser, rmc("120000", "A", "200610")));
        cycle.add(parse_one(parser, gga("120000", "2", "GN", "00")));
        CHECK(cycle.time());
    }
    SECTION("nothing valid") {
        cycle.add(parse_one(parser, rmc("120000", "V", "200610")));
        CHECK_FALSE(cycle.time());
    }
}

TEST_CASE("random bytes never yield a valid time", "[nmea]") {
    const std::uint64_t seed = seed_from_environment();
    std::cout << "random bytes: seed " << seed << " (SHMREFCLOCK_TEST_SEED)\n";
    CAPTURE(seed);
    std::mt19937_64 random{seed};
    std::uint64_t valid = 0;
    std::uint64_t decoded = 0;
    const auto count = [&](const Sentence& s) {
        ++decoded;
        valid += s.valid ? 1 : 0;
    };
    SECTION("uniform bytes") {
        Parser parser = parser_at();
        std::string chunk(4096, '\0');
        for (int i = 0; i < 256; ++i) {
            for (char& byte : chunk) {
                byte = static_cast<char>(random());
            }
            parser.feed(chunk, count);
        }
        CHECK(parser.counters().garbage > 0);
    }
    SECTION("bytes from NMEA's own alphabet") {
        Parser parser = parser_at();
        constexpr std::string_view alphabet = "$GPNRMCZDAGLSV,,,,..*0123456789ABCDEF\r\n";
        std::string chunk(4096, '\0');
        for (int i = 0; i < 256; ++i) {
            for (char& byte : chunk) {
                byte = alphabet[random() % alphabet.size()];
            }
            parser.feed(chunk, count);
        }
        CHECK(parser.counters().bad_checksum > 0);
    }
    CHECK(valid == 0);
    INFO("decoded " << decoded);
}
