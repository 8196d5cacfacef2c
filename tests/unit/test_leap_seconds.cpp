// The leap-second list (src/core/leap_seconds.cpp): parsing, the SHA-1 check,
// expiry, and the rule that announces a leap only on June 30 / December 31.
// Lists are built here with their hash computed by the test itself over the
// values it writes (the format's rule: the digits of #$, #@ and each data
// line's two fields, concatenated); POSIX times were computed with
// `date -u -d DATE +%s`, not by the code under test.
#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nettle/sha1.h>

#include "core/leap_seconds.hpp"

using namespace shmrefclock;

namespace {

constexpr std::int64_t ntp = 2208988800; // NTP seconds of 1970-01-01

// date -u -d '...' +%s
constexpr std::int64_t dec30_2016_noon = 1483099200;
constexpr std::int64_t dec31_2016_midnight = 1483142400;
constexpr std::int64_t dec31_2016_noon = 1483185600;
constexpr std::int64_t jan1_2017 = 1483228800;
constexpr std::int64_t jan1_2017_noon = 1483272000;
constexpr std::int64_t jun30_2015_noon = 1435665600;
constexpr std::int64_t jul1_2015 = 1435708800;
constexpr std::int64_t jun28_2026 = 1782604800;
constexpr std::int64_t mar31_2030_noon = 1901188800;
constexpr std::int64_t apr1_2030 = 1901232000;
constexpr std::int64_t jun30_2030_noon = 1909051200;
constexpr std::int64_t jul1_2030 = 1909094400;
constexpr std::int64_t jan1_2031 = 1924992000;
constexpr std::int64_t dec1_2026 = 1796083200; // the day this was written

struct Hand {
    std::int64_t updated; // NTP seconds
    std::int64_t expires; // NTP seconds
    std::vector<std::pair<std::int64_t, int>> entries;
};

std::array<std::uint32_t, 5> sha1_words(const std::string& data) {
    sha1_ctx ctx;
    sha1_init(&ctx);
    sha1_update(&ctx, data.size(), reinterpret_cast<const std::uint8_t*>(data.data()));
    std::array<std::uint8_t, SHA1_DIGEST_SIZE> raw{};
    sha1_digest(&ctx, raw.size(), raw.data());
    std::array<std::uint32_t, 5> words{};
    for (std::size_t i = 0; i < 20; ++i) {
        words[i / 4] = words[i / 4] << 8 | raw[i];
    }
    return words;
}

std::string hashed_data(const Hand& h) {
    std::string data = std::to_string(h.updated) + std::to_string(h.expires);
    for (const auto& [t, dtai] : h.entries) {
        data += std::to_string(t) + std::to_string(dtai);
    }
    return data;
}

// In the layout of the IERS file, comments included.
std::string list_text(const Hand& h, const std::string& hash_line) {
    std::string text = "#\tA hand-built list\n#\n#$\t" + std::to_string(h.updated) +
                       "\n#\n#\tFile expires on ...\n#@\t" + std::to_string(h.expires) + "\n#\n";
    for (const auto& [t, dtai] : h.entries) {
        text += fmt::format("{}\t{}\t# a comment 1 Jan 1999\n", t, dtai);
    }
    return text + "#\n" + hash_line + "\n";
}

std::string hash_line(const std::array<std::uint32_t, 5>& w) {
    return fmt::format("#h\t{:08x} {:08x} {:08x} {:08x} {:08x}", w[0], w[1], w[2], w[3], w[4]);
}

std::string signed_list(const Hand& h) {
    return list_text(h, hash_line(sha1_words(hashed_data(h))));
}

// An insertion at the end of 2016-12-31, the list good until 2017-06-28.
Hand insertion_2016() {
    return {3676924800 /* 2016-07-08 */,
            3707596800 /* 2017-06-28 */,
            {{2272060800, 35}, {3644697600, 36}, {jan1_2017 + ntp, 37}}};
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

} // namespace

TEST_CASE("leap list: a valid list announces an insertion on its last day only") {
    const LeapListLoad load = parse_leap_seconds_list(signed_list(insertion_2016()));
    INFO(load.detail);
    REQUIRE(load.problem == LeapListProblem::none);
    REQUIRE(load.list);
    CHECK(load.list->entries.size() == 3);
    CHECK(load.list->entries.back().start == jan1_2017);
    CHECK(load.list->entries.back().tai_offset == 37);
    CHECK(load.list->expires == 3707596800 - ntp);
    CHECK(leap_list_state(load, dec31_2016_noon) == LeapListState::valid);

    CHECK(leap_announcement(load, dec31_2016_midnight) == Leap::insert);
    CHECK(leap_announcement(load, dec31_2016_noon) == Leap::insert);
    CHECK(leap_announcement(load, jan1_2017 - 1) == Leap::insert);
    CHECK(leap_announcement(load, dec31_2016_midnight - 1) == Leap::none);
    CHECK(leap_announcement(load, dec30_2016_noon) == Leap::none);
    CHECK(leap_announcement(load, jan1_2017) == Leap::none);
    CHECK(leap_announcement(load, jan1_2017_noon) == Leap::none);
    // The 2015 leap is in the list too, and announced on its day.
    CHECK(leap_announcement(load, jun30_2015_noon) == Leap::insert);
    CHECK(leap_announcement(load, jul1_2015) == Leap::none);

    const auto next = next_leap_event(*load.list, dec30_2016_noon);
    REQUIRE(next);
    CHECK(next->at == jan1_2017);
    CHECK(next->kind == Leap::insert);
    CHECK_FALSE(next_leap_event(*load.list, jan1_2017));
    CHECK(describe(load, dec31_2016_noon) == "valid until 2017-06-28");
}

TEST_CASE("leap list: a deletion is announced as leap 2") {
    const Hand h{3900000000, jan1_2031 + ntp, {{2272060800, 37}, {jul1_2030 + ntp, 36}}};
    const LeapListLoad load = parse_leap_seconds_list(signed_list(h));
    INFO(load.detail);
    REQUIRE(load.problem == LeapListProblem::none);
    CHECK(leap_announcement(load, jun30_2030_noon) == Leap::remove);
    CHECK(leap_announcement(load, jul1_2030) == Leap::none);
}

TEST_CASE("leap list: a leap at the end of a day other than June 30 / December 31 is not "
          "announced") {
    const Hand h{3900000000, jan1_2031 + ntp, {{2272060800, 37}, {apr1_2030 + ntp, 38}}};
    const LeapListLoad load = parse_leap_seconds_list(signed_list(h));
    INFO(load.detail);
    REQUIRE(load.problem == LeapListProblem::none);
    CHECK(leap_list_state(load, mar31_2030_noon) == LeapListState::valid);
    // The list is believed (it is the next event) but the day is refused.
    const auto next = next_leap_event(*load.list, mar31_2030_noon);
    REQUIRE(next);
    CHECK(next->at == apr1_2030);
    CHECK(leap_announcement(load, mar31_2030_noon) == Leap::none);
    CHECK(leap_announcement(load, apr1_2030 - 1) == Leap::none);
}

TEST_CASE("leap list: an expired list announces nothing") {
    Hand h = insertion_2016();
    h.expires = dec31_2016_midnight + 3600 + ntp; // 2016-12-31T01:00:00Z
    const LeapListLoad load = parse_leap_seconds_list(signed_list(h));
    REQUIRE(load.problem == LeapListProblem::none);
    // Still valid in the first hour of the day, and announcing.
    CHECK(leap_announcement(load, dec31_2016_midnight + 3599) == Leap::insert);
    CHECK(leap_list_state(load, dec31_2016_midnight + 3600) == LeapListState::expired);
    CHECK(leap_announcement(load, dec31_2016_midnight + 3600) == Leap::none);
    CHECK(leap_announcement(load, dec31_2016_noon) == Leap::none);
    CHECK(describe(load, dec31_2016_noon) == "expired on 2016-12-31");
}

TEST_CASE("leap list: a hash that does not match announces nothing") {
    const Hand h = insertion_2016();
    const std::string good_hash = hash_line(sha1_words(hashed_data(h)));
    SECTION("a data line changed after hashing") {
        Hand changed = h;
        changed.entries.back().first += 86400; // one day later
        const LeapListLoad load = parse_leap_seconds_list(list_text(changed, good_hash));
        CHECK(load.problem == LeapListProblem::bad_hash);
        CHECK_FALSE(load.list);
        CHECK(leap_list_state(load, dec31_2016_noon) == LeapListState::bad_hash);
        CHECK(leap_announcement(load, dec31_2016_noon) == Leap::none);
        CHECK(describe(load, dec31_2016_noon).rfind("bad hash: the #h line says ", 0) == 0);
    }
    SECTION("the expiry changed after hashing") {
        Hand changed = h;
        changed.expires += 86400 * 365;
        const LeapListLoad load = parse_leap_seconds_list(list_text(changed, good_hash));
        CHECK(load.problem == LeapListProblem::bad_hash);
    }
    SECTION("the comments are not hashed") {
        std::string text = list_text(h, good_hash);
        text.replace(text.find("a comment"), 9, "other words");
        CHECK(parse_leap_seconds_list(text).problem == LeapListProblem::none);
    }
    SECTION("one bit of the hash") {
        auto words = sha1_words(hashed_data(h));
        words[4] ^= 1;
        const LeapListLoad load = parse_leap_seconds_list(list_text(h, hash_line(words)));
        CHECK(load.problem == LeapListProblem::bad_hash);
    }
    SECTION("no #h line") {
        const LeapListLoad load = parse_leap_seconds_list(list_text(h, "#"));
        CHECK(load.problem == LeapListProblem::no_hash);
        CHECK(leap_announcement(load, dec31_2016_noon) == Leap::none);
    }
}

TEST_CASE("leap list: hash words written without leading zeros are accepted") {
    // NIST's copies print each word with %x. Find an update time whose hash
    // has a word under 0x10000000 (1 in 16 per word) and write it short.
    Hand h = insertion_2016();
    for (int tries = 0; tries < 1000; ++tries, ++h.updated) {
        const auto w = sha1_words(hashed_data(h));
        if (w[2] >= 0x10000000) {
            continue;
        }
        const std::string line =
            fmt::format("#h {:x} {:x} {:x} {:x} {:x}", w[0], w[1], w[2], w[3], w[4]);
        REQUIRE(line.size() < hash_line(w).size());
        const LeapListLoad load = parse_leap_seconds_list(list_text(h, line));
        INFO(line << ": " << load.detail);
        CHECK(load.problem == LeapListProblem::none);
        return;
    }
    FAIL("no hash with a short word in 1000 tries");
}

TEST_CASE("leap list: CRLF line ends are read like LF") {
    std::string text = signed_list(insertion_2016());
    std::string crlf;
    for (const char c : text) {
        crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
    }
    const LeapListLoad load = parse_leap_seconds_list(crlf);
    INFO(load.detail);
    CHECK(load.problem == LeapListProblem::none);
}

TEST_CASE("leap list: malformed lists name the line and announce nothing") {
    const Hand h = insertion_2016();
    const std::string good = signed_list(h);
    // Line numbers in list_text(): 1-2 comments, 3 #$, 4-5 comments, 6 #@,
    // 7 comment, 8.. the data lines.
    auto replace_line = [&good](int number, const std::string& with) {
        std::istringstream in(good);
        std::string out, line;
        for (int n = 1; std::getline(in, line); ++n) {
            out += (n == number ? with : line) + "\n";
        }
        return out;
    };
    struct Case {
        const char* what;
        std::string text;
        int line;
    };
    const std::vector<Case> cases = {
        {"three fields", replace_line(8, "2272060800 10 5"), 8},
        {"one field", replace_line(9, "3644697600"), 9},
        {"a letter in a number", replace_line(9, "36446976O0 36"), 9},
        {"a negative offset", replace_line(9, "3644697600 -36"), 9},
        {"a sign", replace_line(9, "+3644697600 36"), 9},
        {"an implausible offset", replace_line(9, "3644697600 100000"), 9},
        {"too many digits", replace_line(9, "3644697600000000000000 36"), 9},
        {"#$ without a number", replace_line(3, "#$"), 3},
        {"#@ with two numbers", replace_line(6, "#@ 3707596800 1"), 6},
        {"a second #@", replace_line(7, "#@ 3707596800"), 7},
        {"#h with four words", replace_line(11, "#h 1 2 3 4"), 11},
        {"#h with a word too long", replace_line(11, "#h 1 2 3 4 123456789"), 11},
        {"#h not hex", replace_line(11, "#h 1 2 3 4 5g"), 11},
        {"a NUL byte", replace_line(9, std::string("3644697600\0 36", 14)), 9},
        {"no #$", replace_line(3, "#"), 0},
        {"no #@", replace_line(6, "#"), 0},
        {"no data", list_text({h.updated, h.expires, {}}, "#h 1 2 3 4 5"), 0},
        {"empty", "", 0},
        {"binary", std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16), 1},
    };
    for (const auto& c : cases) {
        INFO(c.what);
        const LeapListLoad load = parse_leap_seconds_list(c.text);
        INFO(load.detail);
        CHECK(load.problem == LeapListProblem::malformed);
        CHECK(load.line == c.line);
        CHECK_FALSE(load.list);
        CHECK(leap_announcement(load, dec31_2016_noon) == Leap::none);
        CHECK(leap_list_state(load, dec31_2016_noon) == LeapListState::malformed);
    }
}

TEST_CASE("leap list: a list with a good hash but impossible steps is malformed") {
    struct Case {
        const char* what;
        std::vector<std::pair<std::int64_t, int>> entries;
        int line;
    };
    const std::vector<Case> cases = {
        {"not at midnight", {{2272060800, 10}, {jan1_2017 + ntp + 1, 11}}, 9},
        {"two seconds at once", {{2272060800, 10}, {jan1_2017 + ntp, 12}}, 9},
        {"no change", {{2272060800, 10}, {jan1_2017 + ntp, 10}}, 9},
        {"out of order", {{jan1_2017 + ntp, 10}, {2272060800, 11}}, 9},
        {"twice the same day", {{2272060800, 10}, {2272060800, 11}}, 9},
    };
    for (const auto& c : cases) {
        INFO(c.what);
        const LeapListLoad load =
            parse_leap_seconds_list(signed_list({3676924800, 3707596800, c.entries}));
        INFO(load.detail);
        CHECK(load.problem == LeapListProblem::malformed);
        CHECK(load.line == c.line);
        CHECK(leap_announcement(load, dec31_2016_noon) == Leap::none);
    }
}

TEST_CASE("leap list: tzdata's leap-seconds.list") {
    const std::string path = "/usr/share/zoneinfo/leap-seconds.list";
    const std::string text = read_file(path);
    if (text.empty()) {
        WARN(path << " is not installed (tzdata): nothing to check");
        return;
    }
    const LeapListLoad load = parse_leap_seconds_list(text);
    INFO(load.detail);
    REQUIRE(load.problem == LeapListProblem::none);
    // 28 leap seconds and the 1972 base; a later tzdata may add more.
    CHECK(load.list->entries.size() >= 28);
    CHECK(load.list->entries.front().start == 63072000); // 1972-01-01
    CHECK(load.list->entries.front().tai_offset == 10);
    // The copy on the machine this was written on expires on 2026-06-28
    // (its header: "File expires on 28 June 2026"); a newer one later.
    CHECK(load.list->expires >= jun28_2026);

    // Evaluated at 2016 dates, before the expiry.
    CHECK(leap_list_state(load, dec31_2016_noon) == LeapListState::valid);
    CHECK(leap_announcement(load, dec31_2016_noon) == Leap::insert);
    CHECK(leap_announcement(load, dec30_2016_noon) == Leap::none);
    CHECK(leap_announcement(load, jan1_2017_noon) == Leap::none);
    CHECK(leap_announcement(load, jun30_2015_noon) == Leap::insert);
    const auto next = next_leap_event(*load.list, dec30_2016_noon);
    REQUIRE(next);
    CHECK(next->at == jan1_2017);

    if (load.list->expires == jun28_2026) {
        // That copy is expired today: a warning, not an announcement.
        CHECK(leap_list_state(load, dec1_2026) == LeapListState::expired);
        CHECK(describe(load, dec1_2026) == "expired on 2026-06-28");
    }
}

TEST_CASE("leap list: the kernel's armed leap next to the announcement") {
    CHECK(kernel_leap_disagreement(Leap::none, false, false).empty());
    CHECK(kernel_leap_disagreement(Leap::insert, true, false).empty());
    CHECK(kernel_leap_disagreement(Leap::none, true, false) ==
          "the kernel has an insertion armed (STA_INS/STA_DEL), the leap-second list announces "
          "no leap second");
    CHECK(kernel_leap_disagreement(Leap::remove, false, true).empty());
    CHECK_FALSE(kernel_leap_disagreement(Leap::insert, false, true).empty());
    CHECK_FALSE(kernel_leap_disagreement(Leap::insert, false, false).empty());
}

TEST_CASE("leap list: nothing loaded announces nothing") {
    LeapListLoad nothing;
    CHECK(leap_list_state(nothing, dec31_2016_noon) == LeapListState::not_configured);
    CHECK(leap_announcement(nothing, dec31_2016_noon) == Leap::none);
    nothing.problem = LeapListProblem::none; // claims success without a list
    CHECK(leap_list_state(nothing, dec31_2016_noon) == LeapListState::not_configured);
    CHECK(leap_announcement(nothing, dec31_2016_noon) == Leap::none);
}

TEST_CASE("leap list: whether a receiver's 23:59:60 is scheduled") {
    const LeapListLoad load = parse_leap_seconds_list(signed_list(insertion_2016()));
    REQUIRE(load.problem == LeapListProblem::none);
    // Listed insertions: 2016-12-31 and 2015-06-30.
    CHECK(inserted_leap_second(load, jan1_2017) == LeapSecondCheck::scheduled);
    CHECK(inserted_leap_second(load, jul1_2015) == LeapSecondCheck::scheduled);
    // Other days, before the expiry (2017-06-28): the list would say.
    CHECK(inserted_leap_second(load, jan1_2017 - 86400) == LeapSecondCheck::not_scheduled);
    CHECK(inserted_leap_second(load, jan1_2017 + 86400) == LeapSecondCheck::not_scheduled);
    CHECK(inserted_leap_second(load, jul1_2015 + 86400 * 184) ==
          LeapSecondCheck::not_scheduled); // 2016-01-01
    // The list's first entry is its base offset, not a leap second.
    CHECK(inserted_leap_second(load, 2272060800 - ntp) == LeapSecondCheck::not_scheduled);
    // After its expiry it says nothing.
    CHECK(inserted_leap_second(load, 3707596800 - ntp + 86400) == LeapSecondCheck::unknown);
    CHECK(inserted_leap_second(load, jul1_2030) == LeapSecondCheck::unknown);

    // An expired list, a bad hash, no list: unknown, the receiver believed.
    Hand expired = insertion_2016();
    expired.expires = jan1_2017 - 86400 * 30 + ntp;
    const LeapListLoad old = parse_leap_seconds_list(signed_list(expired));
    REQUIRE(old.problem == LeapListProblem::none);
    CHECK(inserted_leap_second(old, jan1_2017) == LeapSecondCheck::unknown);
    CHECK(inserted_leap_second(old, jan1_2017 - 86400) == LeapSecondCheck::unknown);
    CHECK(inserted_leap_second(old, jul1_2015) == LeapSecondCheck::scheduled);
    const std::string good = signed_list(insertion_2016());
    std::string bad = good;
    bad[bad.size() - 2] = bad[bad.size() - 2] == '0' ? '1' : '0';
    const LeapListLoad broken = parse_leap_seconds_list(bad);
    REQUIRE(broken.problem == LeapListProblem::bad_hash);
    CHECK(inserted_leap_second(broken, jan1_2017 - 86400) == LeapSecondCheck::unknown);
    CHECK(inserted_leap_second(LeapListLoad{}, jan1_2017 - 86400) == LeapSecondCheck::unknown);

    // A deletion listed there is no insertion.
    const Hand deletion{
        3676924800, 3707596800, {{2272060800, 35}, {3644697600, 36}, {jan1_2017 + ntp, 35}}};
    const LeapListLoad minus = parse_leap_seconds_list(signed_list(deletion));
    REQUIRE(minus.problem == LeapListProblem::none);
    CHECK(inserted_leap_second(minus, jan1_2017) == LeapSecondCheck::not_scheduled);
    // An insertion on a day the announcement ignores (March 31) is still
    // scheduled: the receiver and the list agree.
    const Hand march{
        3676924800, 1924992000 + ntp, {{2272060800, 35}, {3644697600, 36}, {apr1_2030 + ntp, 37}}};
    const LeapListLoad odd = parse_leap_seconds_list(signed_list(march));
    REQUIRE(odd.problem == LeapListProblem::none);
    CHECK(leap_announcement(odd, mar31_2030_noon) == Leap::none);
    CHECK(inserted_leap_second(odd, apr1_2030) == LeapSecondCheck::scheduled);
}

TEST_CASE("receiver's announcement (NAV-TIMELS): its last day only, June 30 or December 31") {
    // +1 at the 00:00:00 of 2017-01-01, as a receiver says it.
    CHECK(receiver_leap_announcement(jan1_2017, +1, dec31_2016_noon) == Leap::insert);
    CHECK(receiver_leap_announcement(jan1_2017, +1, dec31_2016_midnight) == Leap::insert);
    CHECK(receiver_leap_announcement(jan1_2017, +1, jan1_2017 - 1) == Leap::insert);
    // The day before, the day after, and the event itself: nothing.
    CHECK(receiver_leap_announcement(jan1_2017, +1, dec30_2016_noon) == Leap::none);
    CHECK(receiver_leap_announcement(jan1_2017, +1, jan1_2017) == Leap::none);
    CHECK(receiver_leap_announcement(jan1_2017, +1, jan1_2017_noon) == Leap::none);
    CHECK(receiver_leap_announcement(jan1_2017, -1, dec31_2016_noon) == Leap::remove);
    CHECK(receiver_leap_announcement(jan1_2017, 0, dec31_2016_noon) == Leap::none);
    // At the end of March 31 (allowed by ITU-R TF.460, never used): not
    // announced, as the list's is not (chrony, gpsd: June and December).
    CHECK(receiver_leap_announcement(apr1_2030, +1, mar31_2030_noon) == Leap::none);
    // An event not at a midnight is no leap second.
    CHECK(receiver_leap_announcement(jan1_2017 - 3600, +1, dec31_2016_noon) == Leap::none);
}

TEST_CASE("choosing leap: a current list wins over the receiver, an expired one does not") {
    const LeapListLoad valid = parse_leap_seconds_list(signed_list(insertion_2016()));
    REQUIRE(leap_list_state(valid, dec31_2016_noon) == LeapListState::valid);
    // They agree.
    LeapChoice choice = choose_leap(valid, dec31_2016_noon, Leap::insert);
    CHECK(choice.leap == Leap::insert);
    CHECK_FALSE(choice.disagree);
    CHECK_FALSE(choice.from_receiver);
    // The receiver announces a deletion the list does not have: the list.
    choice = choose_leap(valid, dec31_2016_noon, Leap::remove);
    CHECK(choice.leap == Leap::insert);
    CHECK(choice.disagree);
    // A receiver that announces nothing (or sends no NAV-TIMELS).
    choice = choose_leap(valid, dec31_2016_noon, Leap::none);
    CHECK(choice.leap == Leap::insert);
    CHECK_FALSE(choice.disagree);
    // Expired by then (Debian 12's tzdata list expired on 2026-06-28): the
    // receiver's word, also where it says nothing.
    Hand h = insertion_2016();
    h.expires = dec30_2016_noon + ntp;
    const LeapListLoad expired = parse_leap_seconds_list(signed_list(h));
    choice = choose_leap(expired, dec31_2016_noon, Leap::insert);
    CHECK(choice.leap == Leap::insert);
    CHECK(choice.from_receiver);
    choice = choose_leap(expired, dec31_2016_noon, Leap::none);
    CHECK(choice.leap == Leap::none);
    CHECK_FALSE(choice.from_receiver);
    // No list at all.
    choice = choose_leap(LeapListLoad{}, dec31_2016_noon, Leap::remove);
    CHECK(choice.leap == Leap::remove);
    CHECK(choice.from_receiver);
}
