// `decode` on real receiver captures from gpsd's regression suite, against
// the times gpsd decoded from them (tests/data/nmea-captures/*.log.chk).
//
// How gpsd's .chk maps to our cycles: gpsd writes a "class":"TPV" report
// whenever it thinks a cycle ended, and also after sentences that change the
// fix, so one second can appear in several TPVs. Its "time" is sticky: a
// report without a new time repeats the last one, also in reports with
// "mode":1 (no fix). "mode" 2 (2D) and 3 (3D) are fixes. So the seconds at
// which gpsd saw a valid fix are the distinct consecutive seconds (the first
// 19 characters of "time") of TPVs with "mode" >= 2 and a "time" -- leaving
// out "status":8 (simulator), which no real fix carries. Our side is one
// line per cycle with a valid time. The two lists must be equal, except
// where the table below names a capture and says why gpsd is wrong or
// reports a cycle differently; those cases assert our value instead.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/nmea_parser.hpp"
#include "test_data_dir.hpp"
#include "tools/decode.hpp"

namespace {

const std::filesystem::path captures_dir =
    std::filesystem::path{shmrefclock::test::test_data_dir()} / "nmea-captures";

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in{path, std::ios::binary};
    REQUIRE(in);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// The string value of "key" in a one-line JSON object, or "" if absent:
// gpsd's TPV objects and our own decode --json lines.
std::string json_string(const std::string& object, const std::string& key) {
    const auto parsed = nlohmann::json::parse(object, nullptr, false);
    if (!parsed.is_object()) {
        return {};
    }
    const auto it = parsed.find(key);
    return it != parsed.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

// The integer value of "key", or -1 if absent.
int json_int(const std::string& object, const std::string& key) {
    const auto parsed = nlohmann::json::parse(object, nullptr, false);
    if (!parsed.is_object()) {
        return -1;
    }
    const auto it = parsed.find(key);
    return it != parsed.end() && it->is_number_integer() ? it->get<int>() : -1;
}

// The seconds at which gpsd had a fix (see the top of the file).
std::vector<std::string> gpsd_fix_seconds(const std::string& chk) {
    std::vector<std::string> seconds;
    std::istringstream lines{chk};
    std::string line;
    while (std::getline(lines, line)) {
        if (line.rfind("{\"class\":\"TPV\"", 0) != 0) {
            continue;
        }
        const std::string time = json_string(line, "time");
        if (time.size() < 19 || json_int(line, "mode") < 2 || json_int(line, "status") == 8) {
            continue;
        }
        const std::string second = time.substr(0, 19);
        if (seconds.empty() || seconds.back() != second) {
            seconds.push_back(second);
        }
    }
    return seconds;
}

struct Cycle {
    std::string second; // 2015-03-18T17:19:26
    std::string time;   // as printed
    std::string sentence;
    bool repaired = false;
};

// 00:00 UTC of a day, as decode --now gives it.
time_t day(int year, unsigned month, unsigned d) {
    return static_cast<time_t>(
        std::chrono::sys_days{std::chrono::year{year} / month / d}.time_since_epoch().count() *
        86400);
}

// `now`: the system clock decode takes as evidence for dates (none: no
// date before the floor is repaired).
std::vector<Cycle> decode_json(const std::string& capture, std::optional<time_t> now = {}) {
    std::istringstream in{capture};
    std::ostringstream out;
    shmrefclock::DecodeOptions options;
    options.json = true;
    options.system_clock = now;
    // Fast enough that every capture's cycles fit in their seconds: here
    // the times are compared, not the framing of a slow line.
    options.baud = 115200;
    REQUIRE(shmrefclock::decode_capture(in, out, options) == 0);
    std::vector<Cycle> cycles;
    std::istringstream lines{out.str()};
    std::string line;
    while (std::getline(lines, line)) {
        REQUIRE(line.front() == '{');
        REQUIRE(line.back() == '}');
        // Every cycle the replay framed is a line; those with no valid time
        // (no fix) are not cycles gpsd reports a fix for. Refused cycles
        // (acquiring, jumped, a leap second) still report a valid time.
        if (json_string(line, "reason") == "receiver reports no fix") {
            continue;
        }
        Cycle cycle;
        cycle.time = json_string(line, "time");
        REQUIRE(cycle.time.size() == 24); // 2015-03-18T17:19:26.000Z
        REQUIRE(cycle.time.back() == 'Z');
        cycle.second = cycle.time.substr(0, 19);
        cycle.sentence = json_string(line, "sentence");
        cycle.repaired = line.find("\"repaired\":true") != std::string::npos;
        cycles.push_back(cycle);
    }
    return cycles;
}

struct Capture {
    std::string file;
    // How many cycles with a valid time we report: a guard against both
    // sides of the comparison coming out empty.
    std::size_t cycles;
    // Where gpsd's date is wrong: {gpsd's date, the right date}.
    std::vector<std::pair<std::string, std::string>> gpsd_wrong_date;
    // Seconds gpsd has a fix for, that we must not publish.
    std::vector<std::string> gpsd_only;
    // Seconds we publish, for which gpsd's .chk has no fix TPV.
    std::vector<std::string> ours_only;
    // Every cycle's date was repaired (1024-week rollover).
    bool repaired = false;
    // The system clock when the capture was made, for the date rules'
    // evidence (decode --now). Only a capture that needs a repair has one:
    // the others' dates are after the floor, which needs no evidence.
    std::optional<time_t> now = {};
};

// A capture that ends before the sentence gpsd takes as the end of a cycle
// (u-blox: GLL or ZDA; ST: the GSV series) has no TPV for its last cycle.
const std::vector<Capture> captures = {
    {"april6_2019.log",
     1,
     // Telit HE910 after the 2019-04-06 rollover: RMC says 220899. gpsd
     // reports 1999-08-22; the receiver meant 1024 weeks later.
     {{"1999-08-22", "2019-04-07"}},
     {},
     {},
     true,
     day(2019, 4, 7)},
    {"bu353-glonass.log", 9, {}, {}, {}},
    {"furuno_gl_ga.log", 16, {}, {}, {}},
    // Demo mode: RMC 'V', GGA quality 8 (simulator). No fix, and gpsd
    // reports no fix TPV with a time either.
    {"garmin-geko201.log", 0, {}, {}, {}},
    {"gp-320fw-2019-04-06-overflow.log",
     20,
     // Spoofed to just before the 2019 rollover without a restart: the
     // receiver's dates (060419) are right and are not repaired.
     {},
     {},
     // The 23:57:26 cycle has RMC 'A' and GGA quality 1 but, unlike its
     // neighbours, no GLL, which gpsd had learned as this receiver's end of
     // cycle: gpsd folded it into the next report.
     {"2019-04-06T23:57:26"}},
    // The valid fix before the restart (2019-04-07) agrees with gpsd; what
    // follows is never a fix. See the test case of its own below for the
    // damaged 1999-08-22 dates.
    {"gp-320fw-2019-04-07-coldboot.log", 1, {}, {}, {}},
    {"haicom-305N.log",
     68,
     {},
     {},
     // RMC 'A' with FAA mode 'A'; gpsd reports this cycle only through its
     // GGA, which says quality 1 with "00" satellites and which gpsd calls no
     // fix (it wants 3). A satellite count is no veto here: furuno_gl_ga.log
     // sends "00" with a good fix.
     {"2007-04-08T09:53:04"}},
    {"hemi.log",
     3,
     {},
     // gpsd dates the first real fix (GGA 19:40:57.50, 4 satellites) with
     // the ZDA the receiver sent at 19:40:57.00 while it had no fix (GGA
     // quality 1, "00" satellites). We take a date from ZDA only within 2 s
     // of a fix, so the first dated cycle is the next ZDA's, 19:40:58.
     {"2018-09-07T19:40:57"},
     {}},
    {"magellan-ec10.log", 21, {}, {}, {}},
    {"meinberg-gps164.log", 70, {}, {}, {}},
    {"mt3339.log", 30, {}, {}, {}},
    {"neo-m8n.log",
     23,
     // The receiver sends 180315 and the capture's header says 2015-03-18;
     // gpsd's .chk has 2034-11-01, exactly 1024 weeks later: a rollover
     // correction applied to a receiver that needed none.
     {{"2034-11-01", "2015-03-18"}},
     {},
     {"2015-03-18T17:19:48"}}, // the capture ends in this cycle
    // Trimble RTK at 10 Hz: several sentences per second, one cycle each.
    {"nmea-fuzzy-cases.log", 8, {}, {}, {}},
    {"quectel-L70.log", 16, {}, {}, {}},
    {"sirfstarv-nmea.log", 59, {}, {}, {}},
    // Cold start, never a fix: gpsd has only "mode":1 TPVs.
    {"skytraq.log", 0, {}, {}, {}},
    {"st-teseo-liv3f.log", 29, {}, {}, {"2026-03-16T20:35:20"}}, // the capture ends in it
    {"tomtom-mkII.log", 4, {}, {}, {}},
    {"ublox-lea-4h.log", 9, {}, {}, {"2006-08-10T03:15:18"}}, // the capture ends in it
    {"ublox-zed-f9p-nmea.log", 29, {}, {}, {}},
};

} // namespace

TEST_CASE("every capture is in the table, and every table entry is a capture", "[captures]") {
    std::set<std::string> on_disk;
    for (const auto& entry : std::filesystem::directory_iterator{captures_dir}) {
        const std::string name = entry.path().filename().string();
        if (entry.path().extension() == ".log") {
            on_disk.insert(name);
            CHECK(std::filesystem::exists(entry.path().string() + ".chk"));
        }
    }
    std::set<std::string> in_table;
    for (const Capture& capture : captures) {
        in_table.insert(capture.file);
    }
    CHECK(on_disk == in_table);
    CHECK(on_disk.size() == 20);
    CHECK(std::filesystem::exists(captures_dir / "COPYING.gpsd"));
}

TEST_CASE("captures: decode reports the seconds gpsd reports", "[captures]") {
    for (const Capture& capture : captures) {
        DYNAMIC_SECTION(capture.file) {
            const std::string log = read_file(captures_dir / capture.file);
            const std::string chk = read_file(captures_dir / (capture.file + ".chk"));
            const std::vector<std::string> gpsd = gpsd_fix_seconds(chk);
            const std::vector<Cycle> ours = decode_json(log, capture.now);

            std::vector<std::string> expected;
            for (std::string second : gpsd) {
                for (const auto& [wrong, right] : capture.gpsd_wrong_date) {
                    if (second.compare(0, wrong.size(), wrong) == 0) {
                        second.replace(0, wrong.size(), right);
                    }
                }
                if (std::find(capture.gpsd_only.begin(), capture.gpsd_only.end(), second) ==
                    capture.gpsd_only.end()) {
                    expected.push_back(second);
                }
            }
            // Each exception must be one: an entry that no longer differs
            // from gpsd is stale and fails here.
            for (const std::string& second : capture.gpsd_only) {
                CHECK(std::find(gpsd.begin(), gpsd.end(), second) != gpsd.end());
            }
            for (const std::string& second : capture.ours_only) {
                CHECK(std::find(expected.begin(), expected.end(), second) == expected.end());
                expected.push_back(second);
            }
            for (const auto& date_fix : capture.gpsd_wrong_date) {
                // (clang 14 cannot capture a structured binding in a lambda)
                const std::string& wrong = date_fix.first;
                CHECK(std::any_of(gpsd.begin(), gpsd.end(), [&](const std::string& second) {
                    return second.compare(0, wrong.size(), wrong) == 0;
                }));
            }
            std::sort(expected.begin(), expected.end());

            // A 2 or 10 Hz receiver's cycles within one second (hemi.log,
            // nmea-fuzzy-cases.log) are that second once, as in gpsd's list
            // of distinct consecutive seconds.
            std::vector<std::string> got;
            for (const Cycle& cycle : ours) {
                if (got.empty() || got.back() != cycle.second) {
                    got.push_back(cycle.second);
                }
                CHECK(cycle.repaired == capture.repaired);
                CHECK(cycle.sentence.size() == 5);
            }
            CHECK(got.size() == capture.cycles);
            CHECK(got == expected);
        }
    }
}

TEST_CASE("captures: a capture without a fix still decodes its sentences", "[captures]") {
    // garmin-geko201.log and skytraq.log report no valid cycle; make sure
    // that is because the receivers had no fix, not because nothing parsed.
    for (const std::string file : {"garmin-geko201.log", "skytraq.log"}) {
        CAPTURE(file);
        std::istringstream in{read_file(captures_dir / file)};
        shmrefclock::nmea::Parser parser{std::chrono::year{2000} / 1 / 1};
        std::size_t timed = 0;
        std::string line;
        while (std::getline(in, line)) {
            if (!line.empty() && line.front() != '#') {
                parser.feed(line + "\n", [&](const shmrefclock::nmea::Sentence& s) {
                    CHECK_FALSE(s.valid);
                    timed += s.time ? 1 : 0;
                });
            }
        }
        CHECK(timed > 20);
    }
}

TEST_CASE("gp-320fw-2019-04-07-coldboot.log: the 1999-08-22 dates after the restart",
          "[captures]") {
    // After its restart this receiver reports 220899 / 22,08,1999 -- GPS
    // week 0 of 1999 -- for 2019-04-07, with no fix. gpsd's .chk carries the
    // damaged date in its "mode":1 TPVs. With the day's clock as evidence we
    // repair it, and never publish it.
    const std::string log = read_file(captures_dir / "gp-320fw-2019-04-07-coldboot.log");
    const std::string chk = read_file(captures_dir / "gp-320fw-2019-04-07-coldboot.log.chk");
    REQUIRE(chk.find("\"time\":\"1999-08-22T00:04:29.000Z\"") != std::string::npos);

    shmrefclock::nmea::Parser parser{std::chrono::year{2000} / 1 / 1};
    parser.set_system_clock(day(2019, 4, 7));
    std::size_t repaired = 0;
    std::size_t valid = 0;
    std::istringstream in{log};
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line.front() == '#') {
            continue;
        }
        parser.feed(line + "\n", [&](const shmrefclock::nmea::Sentence& s) {
            if (s.valid) {
                ++valid;
            }
            if (s.date_repaired) {
                ++repaired;
                CHECK_FALSE(s.valid);
                REQUIRE(s.utc);
                // 2019-04-07 00:00:00 UTC is 1554595200 (date -u -d ... +%s).
                CHECK(s.utc->tv_sec >= 1554595200);
                CHECK(s.utc->tv_sec < 1554595200 + 86400);
            }
        });
    }
    CHECK(repaired >= 10);
    CHECK(valid >= 1);
    // The receiver sends many broken lines (see the capture's header).
    CHECK(parser.counters().bad_checksum > 10);
    CHECK(parser.counters().garbage > 0);

    const std::vector<Cycle> ours = decode_json(log, day(2019, 4, 7));
    REQUIRE(ours.size() == 1);
    CHECK(ours[0].time == "2019-04-07T00:03:45.030Z");
    CHECK(ours[0].sentence == "GPRMC");
}

TEST_CASE("decode output", "[captures]") {
    shmrefclock::DecodeOptions options;
    std::ostringstream out;
    std::ostringstream summary;
    options.summary = &summary;
    SECTION("text, gpsd's metadata skipped") {
        // An RMC with status V and no time, then one with a 1999 date,
        // repaired by 1024 weeks: two cycles (the second RMC repeats the
        // first's kind without naming its second). One cycle with a time is
        // below the default min-fixes of 3: nothing would be published.
        // The capture's day as the system clock (--now 2019-04-07).
        options.system_clock = day(2019, 4, 7);
        std::istringstream in{read_file(captures_dir / "april6_2019.log")};
        REQUIRE(shmrefclock::decode_capture(in, out, options) == 0);
        CHECK(out.str() == "- GPRMC refused: receiver reports no fix\n"
                           "2019-04-07T00:02:31.420Z GPRMC repaired refused: acquiring: fewer "
                           "than min-fixes agreeing cycles\n");
        CHECK(summary.str() == "decode: 2 cycles, 0 published; 2 sentences, 0 bad checksum, "
                               "1 malformed, 0 garbage, 0 over-long, 0 unsupported, 0 "
                               "implausible dates\n");
    }
    SECTION("the same capture in December 2026, or with no evidence: the date is refused") {
        // 1999-08-22 + 1024 weeks is 2019-04-07, seven years from the clock.
        for (const std::optional<time_t> now :
             {std::optional<time_t>{day(2026, 12, 1)}, std::optional<time_t>{}}) {
            std::istringstream in{read_file(captures_dir / "april6_2019.log")};
            std::ostringstream text;
            options.system_clock = now;
            options.min_fixes = 1;
            REQUIRE(shmrefclock::decode_capture(in, text, options) == 0);
            CHECK(text.str() == "- GPRMC refused: receiver reports no fix\n"
                                "1999-08-22T00:02:31.420Z GPRMC refused: date not plausible\n");
        }
    }
    SECTION("JSON, with min-fixes 1") {
        options.json = true;
        options.min_fixes = 1;
        options.system_clock = day(2019, 4, 7);
        std::istringstream in{read_file(captures_dir / "april6_2019.log")};
        REQUIRE(shmrefclock::decode_capture(in, out, options) == 0);
        // Synthetic timing: the cycles go out at 1 s and 2 s after the
        // replay opens the device, placed so that the first cycle with a
        // date starts at the instant it names (00:02:31.420); its first byte
        // is in one byte time (10 bits at 9600 baud: 1.041666 ms) later.
        // The receiver's only fix names a fraction of a second and no cycle
        // came a second before it: it could be a 2 Hz receiver's half
        // second, so it is not published even at min-fixes 1 (issue 23).
        CHECK(out.str() == "{\"sentence\":\"GPRMC\",\"published\":false,"
                           "\"receive\":\"2019-04-07T00:02:30.421041666Z\","
                           "\"reason\":\"receiver reports no fix\"}\n"
                           "{\"time\":\"2019-04-07T00:02:31.420Z\",\"sentence\":\"GPRMC\","
                           "\"published\":false,\"receive\":\"2019-04-07T00:02:31.421041666Z\","
                           "\"repaired\":true,\"reason\":\"between whole seconds (a receiver "
                           "faster than 1 Hz, or the first cycle)\"}\n");
    }
    SECTION("--not-before moves the floor") {
        options.not_before = std::chrono::year{1990} / 1 / 1;
        options.min_fixes = 1;
        std::istringstream in{read_file(captures_dir / "april6_2019.log")};
        REQUIRE(shmrefclock::decode_capture(in, out, options) == 0);
        // Read as it was written (not repaired); the fix names a fraction
        // of a second with no cycle a second before it (see above).
        CHECK(out.str() == "- GPRMC refused: receiver reports no fix\n"
                           "1999-08-22T00:02:31.420Z GPRMC refused: between whole seconds (a "
                           "receiver faster than 1 Hz, or the first cycle)\n");
    }
    SECTION("a timed capture whose third cycle names two seconds") {
        options.min_fixes = 1;
        std::istringstream in{
            "1483228797.100 $GPRMC,235957.00,A,4807.038,N,01131.000,E,,,311216,,,A*55\r\n"
            "1483228797.100 "
            "$GPGGA,235957.00,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*6B\r\n"
            "1483228798.100 $GPRMC,235958.00,A,4807.038,N,01131.000,E,,,311216,,,A*5A\r\n"
            "1483228798.100 "
            "$GPGGA,235958.00,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*64\r\n"
            "1483228799.100 $GPRMC,235959.00,A,4807.038,N,01131.000,E,,,311216,,,A*5B\r\n"
            "1483228799.100 $GPGGA,000000.00,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*64"
            "\r\n"};
        REQUIRE(shmrefclock::decode_capture(in, out, options) == 0);
        CHECK(out.str() == "2016-12-31T23:59:57.000Z GPRMC published\n"
                           "2016-12-31T23:59:58.000Z GPRMC published\n"
                           "2016-12-31T23:59:59.000Z GPRMC refused: the cycle's sentences name "
                           "different seconds\n");
        CHECK(summary.str() ==
              "decode: 3 cycles, 2 published; 6 sentences, 0 bad checksum, "
              "0 malformed, 0 garbage, 0 over-long, 0 unsupported, 0 implausible dates; 1 cycles "
              "whose sentences name different seconds\n");
    }
    SECTION("a leap second, and '#' only counts at the start of a line") {
        options.min_fixes = 1;
        std::istringstream in{
            "# comment $GPRMC,235959.00,A,,,,,,,311216,,,A*7E\r\n"
            "$GPRMC,235959.00,A,4807.038,N,01131.000,E,,,311216,,,A*5B\r\n"
            "$GPRMC,235960.00,A,4807.038,N,01131.000,E,,,311216,,,A*51\r\n"
            "$GPRMC,000000.00,A,4807.038,N,01131.000,E,,,010117,,,A*5A"}; // no newline at EOF
        REQUIRE(shmrefclock::decode_capture(in, out, options) == 0);
        // 23:59:60 is never published. The cycle after it names a POSIX
        // time 1 s after 23:59:59 and arrives 2 s after it: the cycle check
        // counts the leap second, so it follows and is published.
        CHECK(out.str() == "2016-12-31T23:59:59.000Z GPRMC published\n"
                           "2016-12-31T23:59:60.000Z GPRMC leap-second refused: leap second "
                           "23:59:60 is not published\n"
                           "2017-01-01T00:00:00.000Z GPRMC published\n");
    }
    SECTION("a timed capture is replayed at its own times") {
        options.min_fixes = 2;
        // The second cycle comes 2 s after the first but names the next
        // second: a jump. The third follows the second by 1 s and 1 s.
        std::istringstream in{
            "1483228797.100 $GPRMC,235957.00,A,4807.038,N,01131.000,E,,,311216,,,A*55\r\n"
            "1483228799.100 $GPRMC,235958.00,A,4807.038,N,01131.000,E,,,311216,,,A*5A\r\n"
            "1483228800.100 $GPRMC,235959.00,A,4807.038,N,01131.000,E,,,311216,,,A*5B\r\n"};
        REQUIRE(shmrefclock::decode_capture(in, out, options) == 0);
        CHECK(out.str() == "2016-12-31T23:59:57.000Z GPRMC refused: acquiring: fewer than "
                           "min-fixes agreeing cycles\n"
                           "2016-12-31T23:59:58.000Z GPRMC refused: time is off the timeline "
                           "and does not follow the previous cycle\n"
                           "2016-12-31T23:59:59.000Z GPRMC published\n");
    }
    SECTION("no fix: every cycle refused, with its reason") {
        std::istringstream in{read_file(captures_dir / "skytraq.log")};
        REQUIRE(shmrefclock::decode_capture(in, out, options) == 0);
        CHECK_FALSE(out.str().empty());
        std::istringstream lines{out.str()};
        std::string line;
        while (std::getline(lines, line)) {
            CHECK_THAT(line, Catch::EndsWith(" refused: receiver reports no fix"));
        }
    }
    SECTION("empty input") {
        std::istringstream in{""};
        REQUIRE(shmrefclock::decode_capture(in, out, options) == 0);
        CHECK(out.str().empty());
    }
}

// issue 18, item 1, as reported: `decode --now 2026-12-04 walk.nmea` on a
// timed capture whose cycle k is sent at T + k + 0.1 s and names T + k +
// 0.12 k s, status V when k mod 4 = 3. It printed one cycle in four as
// published, +0.14 ... +4.45 s off after 40 s. With good cycles before the
// walk, those are published and nothing of the walk is.
TEST_CASE("decode: the walk hidden by V cycles of issue 18 is never published 0.1 s off") {
    const auto sentence = [](const std::string& body) {
        unsigned checksum = 0;
        for (const char c : body) {
            checksum ^= static_cast<unsigned char>(c);
        }
        char tail[8];
        std::snprintf(tail, sizeof tail, "*%02X", checksum);
        return "$" + body + tail;
    };
    constexpr std::int64_t T = 1796385600; // 2026-12-04T12:00:00Z
    for (const int good : {0, 20}) {
        INFO(good << " good cycles first");
        std::string capture;
        for (int k = 0; k < good + 40; ++k) {
            const int walked = k < good ? 0 : k - good;
            const std::int64_t named_cs = (T + k) * 100 + 12 * walked; // hundredths
            const auto second = static_cast<time_t>(named_cs / 100);
            std::tm tm{};
            gmtime_r(&second, &tm);
            char hms[40], dmy[40], sent[40];
            std::snprintf(hms, sizeof hms, "%02d%02d%02d.%02d", tm.tm_hour, tm.tm_min, tm.tm_sec,
                          static_cast<int>(named_cs % 100));
            std::snprintf(dmy, sizeof dmy, "%02d%02d%02d", tm.tm_mday, tm.tm_mon + 1,
                          tm.tm_year % 100);
            std::snprintf(sent, sizeof sent, "%lld.100 ", static_cast<long long>(T + k));
            const bool no_fix = k % 4 == 3;
            capture += sent +
                       sentence(std::string("GNRMC,") + hms + (no_fix ? ",V," : ",A,") +
                                "4807.038,N,01131.000,E,0.1,0.0," + dmy + ",,,A") +
                       "\r\n";
        }
        shmrefclock::DecodeOptions options;
        options.json = true;
        options.system_clock = static_cast<time_t>(T);
        std::istringstream in{capture};
        std::ostringstream out;
        REQUIRE(shmrefclock::decode_capture(in, out, options) == 0);
        std::istringstream lines{out.str()};
        std::string line;
        int before = 0;
        int cycle = 0;
        while (std::getline(lines, line)) {
            const auto json = nlohmann::json::parse(line);
            if (json.at("published").get<bool>()) {
                // Published only while the walk has not begun (a cycle of
                // the walk is at least 0.12 s off but its first).
                CHECK(cycle <= good);
                before += cycle < good ? 1 : 0;
            }
            ++cycle;
        }
        CHECK(cycle == good + 40);
        CHECK(before == (good == 0 ? 0 : good / 4)); // V every 4th: one in four
    }
}

namespace {

struct Replay {
    std::string summary;
    int published = 0;
};

Replay replay_with(const std::string& capture, int baud, std::optional<time_t> now,
                   std::chrono::year_month_day not_before) {
    std::istringstream in{capture};
    std::ostringstream out;
    std::ostringstream summary;
    shmrefclock::DecodeOptions options;
    options.json = true;
    options.baud = baud;
    options.system_clock = now;
    options.not_before = not_before;
    options.summary = &summary;
    REQUIRE(shmrefclock::decode_capture(in, out, options) == 0);
    Replay replay{summary.str(), 0};
    std::istringstream lines{out.str()};
    std::string line;
    while (std::getline(lines, line)) {
        replay.published += nlohmann::json::parse(line).at("published").get<bool>() ? 1 : 0;
    }
    return replay;
}

} // namespace

// Issue 23: a capture replayed at a rate slower than its receiver's, or with
// today's date rules, published nothing and said only that the sentences of
// each cycle named different seconds, or that the dates were not plausible.
// The summary now says which flag replays it, and the flag it names works.
TEST_CASE("decode names the rate and the dates a capture needs", "[decode]") {
    using std::chrono::April, std::chrono::December, std::chrono::July, std::chrono::March,
        std::chrono::sys_days, std::chrono::year, std::chrono::year_month_day;
    const year_month_day today{year{2026}, December, std::chrono::day{5}};
    const time_t today_s = day(2026, 12, 5);
    struct Case {
        const char* capture;
        int baud;             // the rate the hint must name
        year_month_day taken; // the capture's first date
    };
    const Case cases[] = {
        {"ublox-zed-f9p-nmea.log", 38400, year{2019} / April / 12},
        {"furuno_gl_ga.log", 19200, year{2022} / July / 31},
    };
    for (const Case& c : cases) {
        DYNAMIC_SECTION(c.capture) {
            const std::string capture = read_file(captures_dir / c.capture);
            const time_t taken_s =
                static_cast<time_t>(sys_days{c.taken}.time_since_epoch().count() * 86400);
            const std::string taken = fmt::format(
                "{:04}-{:02}-{:02}", static_cast<int>(c.taken.year()),
                static_cast<unsigned>(c.taken.month()), static_cast<unsigned>(c.taken.day()));

            // Today's rules at 9600 Bd: nothing published; both hints.
            const Replay as_today = replay_with(capture, 9600, today_s, today);
            CHECK(as_today.published == 0);
            CHECK_THAT(as_today.summary, Catch::Contains(fmt::format("e.g. --baud {}", c.baud)));
            CHECK_THAT(as_today.summary,
                       Catch::Contains(fmt::format("--now {} --not-before {}", taken, taken)));

            // The capture's own day, still 9600 Bd: the rate hint only.
            const Replay dated = replay_with(capture, 9600, taken_s, c.taken);
            CHECK_THAT(dated.summary, Catch::Contains("does not fit the line at 9600 Bd"));
            CHECK_THAT(dated.summary, !Catch::Contains("every date"));

            // Both as the hints say: most cycles published, no hint.
            const Replay right = replay_with(capture, c.baud, taken_s, c.taken);
            CHECK(right.published >= 10);
            CHECK_THAT(right.summary, !Catch::Contains("does not fit"));
            CHECK_THAT(right.summary, !Catch::Contains("every date"));
        }
    }
}

// A capture that fits its line and its dates gets no hint.
TEST_CASE("decode gives no hint when the replay is right", "[decode]") {
    using std::chrono::April, std::chrono::December, std::chrono::July, std::chrono::March,
        std::chrono::sys_days, std::chrono::year, std::chrono::year_month_day;
    const year_month_day taken = year{2015} / March / 18;
    const Replay replay =
        replay_with(read_file(captures_dir / "neo-m8n.log"), 9600, day(2015, 3, 18), taken);
    CHECK(replay.published > 0);
    CHECK_THAT(replay.summary, !Catch::Contains("does not fit"));
    CHECK_THAT(replay.summary, !Catch::Contains("every date"));
}

// Issue 23: decode's synthetic timing sent a 2 Hz capture's .5 s cycle and
// its next whole second 1 s apart, and the whole second was refused as off
// the timeline. Each cycle now goes out at the instant it names.
TEST_CASE("decode replays 2, 5 and 10 Hz captures at their own rate", "[decode]") {
    const auto nmea = [](const std::string& body) {
        unsigned char sum = 0;
        for (const char c : body) {
            sum ^= static_cast<unsigned char>(c);
        }
        return fmt::format("${}*{:02X}\n", body, sum);
    };
    for (const int hz : {2, 5, 10}) {
        DYNAMIC_SECTION(hz << " Hz") {
            std::string capture;
            const int cycles = 8 * hz;
            for (int k = 1; k <= cycles; ++k) { // from the first sub-second cycle
                const std::string hms = fmt::format("1200{:02}.{:02}", k / hz, k % hz * 100 / hz);
                capture += nmea("GPRMC," + hms + ",A,4807.038,N,01131.000,E,0.0,0.0,041226,,,A");
                capture +=
                    nmea("GPGGA," + hms + ",4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,");
            }
            for (const int min_fixes : {1, 3}) {
                std::istringstream in{capture};
                std::ostringstream out;
                shmrefclock::DecodeOptions options;
                options.json = true;
                options.baud = 115200;
                options.min_fixes = min_fixes;
                options.system_clock = day(2026, 12, 4);
                REQUIRE(shmrefclock::decode_capture(in, out, options) == 0);
                std::vector<std::string> published;
                std::istringstream lines{out.str()};
                std::string line;
                int framed = 0;
                while (std::getline(lines, line)) {
                    ++framed;
                    const auto json = nlohmann::json::parse(line);
                    const std::string reason = json.value("reason", "");
                    CHECK(reason.find("timeline") == std::string::npos);
                    if (json.at("published").get<bool>()) {
                        published.push_back(json.at("time").get<std::string>());
                    }
                }
                CHECK(framed == cycles);
                // Whole seconds 12:00:01 to 12:00:08 (seconds counted for
                // min-fixes: the partial 12:00:00, then 01 and 02).
                std::vector<std::string> expected;
                for (int second = min_fixes == 1 ? 1 : 2; second <= 8; ++second) {
                    expected.push_back(fmt::format("2026-12-04T12:00:{:02}.000Z", second));
                }
                CHECK(published == expected);
            }
        }
    }
}
