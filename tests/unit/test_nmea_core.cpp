// The rules that decide whether an NMEA cycle's time is published: the
// cycle check alone, then the whole core driven by generated line timings
// (core/nmea_replay.hpp) with no fd, timer or thread.
#include <catch2/catch.hpp>

#include <limits>

#include "core/leap_seconds.hpp"
#include "core/nmea_core.hpp"

using namespace shmrefclock;
using Verdict = Timeline::Verdict;

namespace {
timespec at(time_t sec, long nsec = 0) {
    return timespec{sec, nsec};
}
// A first byte's arrival on CLOCK_MONOTONIC.
std::int64_t mono(std::int64_t sec, std::int64_t nsec = 0) {
    return sec * 1'000'000'000 + nsec;
}
// A check whose published cycles are published (none refused by a witness).
struct Check {
    Timeline timeline;
    explicit Check(int min_fixes = 3, std::int64_t probation_ns = default_step_probation_ns)
        : timeline(min_fixes, probation_ns) {}
    Verdict add(timespec reference, std::int64_t receive_ns, bool leap_second = false) {
        last = timeline.add(reference, receive_ns, leap_second);
        if (last.verdict == Verdict::publish) {
            timeline.published();
        }
        return last.verdict;
    }
    Timeline::Judgement last;
};
} // namespace

TEST_CASE("min-fixes consecutive agreeing cycles before the first sample") {
    Check check(3);
    // Receive stamps ~0.3 ms after each reported second, one cycle a second.
    CHECK(check.add(at(1000), mono(1000, 300000)) == Verdict::acquiring);
    CHECK(check.add(at(1001), mono(1001, 310000)) == Verdict::acquiring);
    CHECK(check.add(at(1002), mono(1002, 290000)) == Verdict::publish);
    CHECK(check.add(at(1003), mono(1003, 300000)) == Verdict::publish);
    CHECK(check.timeline.consecutive() == 4);
}

TEST_CASE("min-fixes = 1 publishes the first valid cycle") {
    Check check(1);
    CHECK(check.add(at(1000), mono(1000, 1000)) == Verdict::publish);
}

TEST_CASE("a time that jumps backwards or forwards is not published, nor believed at once") {
    Check check(2);
    check.add(at(1000), mono(1000));
    REQUIRE(check.add(at(1001), mono(1001)) == Verdict::publish);
    // The receiver says 999 one second later: a wrong second.
    CHECK(check.add(at(999), mono(1002)) == Verdict::jumped);
    // Back on the believed timeline: published again after min-fixes.
    CHECK(check.add(at(1003), mono(1003)) == Verdict::acquiring);
    CHECK(check.add(at(1004), mono(1004)) == Verdict::publish);
    // A jump forward by one second is a wrong second too; the new timeline
    // holds, but is on probation (issue 18: not believed after min-fixes).
    CHECK(check.add(at(1006), mono(1005)) == Verdict::jumped);
    for (int k = 1; k < 100; ++k) {
        CHECK(check.add(at(1006 + k), mono(1005 + k)) == Verdict::probation);
    }
    CHECK(check.timeline.on_probation());
    CHECK(check.timeline.probation_step_ns() == 1'000'000'000);
}

TEST_CASE("a missed cycle is no jump: times still follow the elapsed time") {
    Check check(2);
    check.add(at(1000), mono(1000, 500000));
    check.add(at(1001), mono(1001, 500000));
    // Five seconds without a cycle (fix lost), then the right time again.
    CHECK(check.add(at(1006), mono(1006, 400000)) == Verdict::publish);
}

TEST_CASE("a second cycle within the same second is not written again") {
    Check check(1);
    check.add(at(1000), mono(1000));
    CHECK(check.add(at(1000, 200000000), mono(1000, 200100000)) == Verdict::same_second);
    CHECK(check.add(at(1001), mono(1001, 100000)) == Verdict::publish);
}

TEST_CASE("agreement tolerates stamp jitter of tens of ms, not 0.1 s") {
    Check check(2);
    check.add(at(1000), mono(1000));
    // 40 ms late stamp (a slow batch on a loaded machine): the same timeline.
    CHECK(check.add(at(1001), mono(1001, 40000000)) == Verdict::publish);
    CHECK(check.add(at(1002), mono(1002)) == Verdict::publish);
    // 100 ms off the elapsed time: not believed.
    CHECK(check.add(at(1003), mono(1003, 100000000)) == Verdict::jumped);
    CHECK(check.last.deviation_ns == -100'000'000);
}

TEST_CASE("a stamp delayed just past the tolerance costs only its own cycle") {
    Check check(3);
    for (int k = 0; k < 5; ++k) {
        check.add(at(1000 + k), mono(1000 + k));
    }
    // 70 ms late (a loaded machine): refused, but no reason to doubt the
    // cycles after it.
    CHECK(check.add(at(1005), mono(1005, 70000000)) == Verdict::jumped);
    CHECK(check.add(at(1006), mono(1006)) == Verdict::publish);
    // 0.2 s off: min-fixes cycles again.
    CHECK(check.add(at(1007), mono(1007, 200000000)) == Verdict::jumped);
    CHECK(check.add(at(1008), mono(1008)) == Verdict::acquiring);
}

TEST_CASE("a step of 0.1 s is not believed when the allowance has grown to cover it") {
    // Issue 18, found by the random variants: the believed timeline allows
    // 50 ms + 1000 ppm of the time since its last anchor, so 52 s after a
    // 0.102 s step (every cycle since refused) the stepped cycles fitted
    // it again and were published 0.1 s off. They continue the step, which
    // stays on probation.
    Check check(2, 600'000'000'000);
    for (int k = 0; k < 10; ++k) {
        check.add(at(1000 + k), mono(1000 + k));
    }
    REQUIRE(check.last.verdict == Verdict::publish);
    CHECK(check.add(at(1010, -102'000'000), mono(1010)) == Verdict::jumped);
    for (int k = 1; k < 300; ++k) {
        INFO("cycle " << k << " of the step");
        REQUIRE(check.add(at(1010 + k, -102'000'000), mono(1010 + k)) == Verdict::probation);
    }
    CHECK(check.timeline.on_probation());
    // Two stamps late by tens of ms are no step: the believed timeline
    // takes the second (a tie goes to it), then the next.
    Check loaded(2);
    for (int k = 0; k < 10; ++k) {
        loaded.add(at(1000 + k), mono(1000 + k));
    }
    CHECK(loaded.add(at(1010), mono(1010, 60'000'000)) == Verdict::jumped);
    CHECK(loaded.add(at(1011), mono(1011, 30'000'000)) == Verdict::publish);
    CHECK(loaded.add(at(1012), mono(1012)) == Verdict::publish);
}

// [time64]: the times need a 64-bit time_t (left out of 32-bit builds).
TEST_CASE("case 1: a time 2^64 ns past the expected one is a jump, not 1 s later", "[time64]") {
    // issue 8, case 1: the reported difference overflowed int64 and wrapped
    // to "1 s later". 2^64 ns = 18446744073.709551616 s (a year-2611 ZDA).
    Check check(2);
    check.add(at(1795262400), mono(1000));
    REQUIRE(check.add(at(1795262401), mono(1001)) == Verdict::publish);
    const timespec wrapped = at(static_cast<time_t>(1795262402 + 18446744073LL), 709551616);
    CHECK(check.add(wrapped, mono(1002)) == Verdict::jumped);
    // And back: the difference is as far the other way; on the believed
    // timeline again.
    CHECK(check.add(at(1795262403), mono(1003)) == Verdict::acquiring);
    // Times at the ends of time_t, stamps at the ends of int64.
    Check extremes(1);
    extremes.add(at(std::numeric_limits<time_t>::max(), 999999999), mono(1000));
    CHECK(extremes.add(at(std::numeric_limits<time_t>::min()), mono(1001)) == Verdict::jumped);
    CHECK(extremes.add(at(1000), std::numeric_limits<std::int64_t>::min()) == Verdict::jumped);
    // 292 years of silence later: a fresh acquisition, believed as at
    // start-up (no timeline that old can judge a second).
    CHECK(extremes.add(at(1001), std::numeric_limits<std::int64_t>::max()) == Verdict::publish);
}

TEST_CASE("timespec arithmetic saturates instead of wrapping", "[time64]") {
    const time_t max = std::numeric_limits<time_t>::max();
    const time_t min = std::numeric_limits<time_t>::min();
    const std::int64_t big = std::numeric_limits<std::int64_t>::max();
    CHECK(timespec_diff_ns(at(max), at(min)) == big);
    CHECK(timespec_diff_ns(at(min), at(max)) == -big);
    CHECK(timespec_diff_ns(at(static_cast<time_t>(1795262402 + 18446744073LL), 709551616),
                           at(1795262401)) == big);
    // Exact where the difference fits, also with tv_nsec out of range.
    CHECK(timespec_diff_ns(at(1001, 500), at(1000, 999999999)) == 501);
    CHECK(timespec_diff_ns(at(10, 1'500'000'000), at(12)) == -500'000'000);
    CHECK(timespec_diff_ns(at(10, -1), at(10)) == -1);
    // 2^63 - 1 ns is 292 years: the last difference that fits.
    CHECK(timespec_diff_ns(at(static_cast<time_t>(9223372036LL), 854775807), at(0)) == big);
    CHECK(timespec_diff_ns(at(static_cast<time_t>(9223372036LL), 854775806), at(0)) == big - 1);
    const timespec end = timespec_add(at(max, 999999999), 1);
    CHECK(end.tv_sec == max);
    CHECK(end.tv_nsec == 999999999);
    const timespec start = timespec_add(at(min), -big);
    CHECK(start.tv_sec == min);
    CHECK(start.tv_nsec == 0);
    const timespec normal = timespec_add(at(10, 1'999'999'999), -2'000'000'000);
    CHECK(normal.tv_sec == 9);
    CHECK(normal.tv_nsec == 999'999'999);
    CHECK(timespec_to_ns(at(max)) == big);
}

// ---------------------------------------------------------------------------
// The core, driven by byte schedules.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>

#include "core/nmea_replay.hpp"

namespace {

constexpr std::int64_t ms = 1'000'000;
constexpr std::int64_t s = ns_per_s;
// 2026-11-21T12:00:00Z: the cycles below report seconds from here on.
constexpr time_t base_second = 1795262400;
const std::chrono::year_month_day floor_date = std::chrono::year{2026} / 11 / 1;

std::string sentence(const std::string& body) {
    unsigned checksum = 0;
    for (const char c : body) {
        checksum ^= static_cast<unsigned char>(c);
    }
    char tail[8];
    std::snprintf(tail, sizeof tail, "*%02X\r\n", checksum);
    return "$" + body + tail;
}

// The fields that name POSIX second `second` (+ `centis` hundredths).
struct Named {
    std::string hms; // hhmmss.cc
    std::string dmy; // ddmmyy (RMC)
    std::string zda; // dd,mm,yyyy (ZDA)
};

Named name_of(time_t second, int centis = 0) {
    const std::chrono::sys_seconds t{std::chrono::seconds{second}};
    const auto day = std::chrono::floor<std::chrono::days>(t);
    const std::chrono::year_month_day date{day};
    const std::chrono::hh_mm_ss tod{t - day};
    char hms[16], dmy[16], zda[24];
    std::snprintf(hms, sizeof hms, "%02d%02d%02d.%02d", static_cast<int>(tod.hours().count()),
                  static_cast<int>(tod.minutes().count()), static_cast<int>(tod.seconds().count()),
                  centis % 100);
    std::snprintf(dmy, sizeof dmy, "%02u%02u%02d", static_cast<unsigned>(date.day()),
                  static_cast<unsigned>(date.month()), static_cast<int>(date.year()) % 100);
    std::snprintf(zda, sizeof zda, "%02u,%02u,%04d", static_cast<unsigned>(date.day()),
                  static_cast<unsigned>(date.month()), static_cast<int>(date.year()));
    return {hms, dmy, zda};
}

std::string rmc(const std::string& hms, const std::string& dmy, bool fix = true) {
    return sentence("GNRMC," + hms + (fix ? ",A," : ",V,") + "4807.038,N,01131.000,E,0.1,0.0," +
                    dmy + ",,,A");
}

std::string gga(const std::string& hms, bool fix = true) {
    return sentence("GNGGA," + hms + ",4807.038,N,01131.000,E," + (fix ? "1" : "0") +
                    ",08,0.9,545.4,M,46.9,M,,");
}

std::string zda(const std::string& hms, const std::string& date) {
    return sentence("GPZDA," + hms + "," + date + ",00,00");
}

std::string gsv_padding(std::size_t padding) {
    const std::string gsv =
        sentence("GPGSV,3,1,12,01,40,083,46,02,17,308,41,12,07,344,39,14,22,228,45");
    std::string bytes;
    for (std::size_t added = 0; added < padding; added += gsv.size()) {
        bytes += gsv;
    }
    return bytes;
}

// A u-blox style reporting cycle for POSIX second `second` (+ `centis`
// hundredths): RMC, GGA, then at least `padding` bytes of whole GSV
// sentences, which bear no time; checksums right.
std::string make_cycle(time_t second, std::size_t padding = 300, bool fix = true, int centis = 0) {
    const Named named = name_of(second, centis);
    return rmc(named.hms, named.dmy, fix) + gga(named.hms, fix) + gsv_padding(padding);
}

NmeaCore make_core(int baud, int min_fixes) {
    return NmeaCore(NmeaSettings{"test", baud, min_fixes, floor_date});
}

ReplayOptions options_at(bool line_rate = true) {
    ReplayOptions options;
    options.line_rate = line_rate;
    // Monotonic 0 is realtime base_second - 1 s: cycle k written at
    // monotonic (k + 1) s + d reports second base_second + k.
    options.realtime_epoch = timespec{base_second - 1, 0};
    return options;
}

std::vector<ReplayEvent> without_logs(const std::vector<ReplayEvent>& events) {
    std::vector<ReplayEvent> kept;
    for (const auto& event : events) {
        if (event.kind != ReplayEvent::Kind::logged) {
            kept.push_back(event);
        }
    }
    return kept;
}

std::vector<std::string> warnings(const std::vector<ReplayEvent>& events) {
    std::vector<std::string> texts;
    for (const auto& event : events) {
        if (event.kind == ReplayEvent::Kind::logged && event.message.level == MessageLevel::warn) {
            texts.push_back(event.message.text);
        }
    }
    return texts;
}

std::vector<Sample> published(const std::vector<ReplayEvent>& events) {
    std::vector<Sample> samples;
    for (const auto& event : events) {
        if (event.kind == ReplayEvent::Kind::published) {
            samples.push_back(event.sample);
        }
    }
    return samples;
}

} // namespace

TEST_CASE("core: cycles framed by quiet gaps, min-fixes, exact first-byte stamps") {
    const int baud = 9600;
    const std::int64_t byte_ns = byte_time_ns(baud);
    ByteSchedule schedule;
    for (int k = 0; k < 5; ++k) {
        schedule.write((k + 1) * s + 130 * ms, make_cycle(base_second + k), byte_ns);
    }
    NmeaCore core = make_core(baud, 3);
    std::vector<CycleOutcome::Kind> outcomes;
    core.on_cycle([&](const CycleOutcome& o) { outcomes.push_back(o.kind); });
    const auto samples = published(replay(core, schedule, options_at()));
    using K = CycleOutcome::Kind;
    CHECK(outcomes ==
          std::vector<K>{K::acquiring, K::acquiring, K::published, K::published, K::published});
    // A loop that meets every expiry on time is never held up.
    CHECK(core.activity().loop_held_up == 0);
    REQUIRE(samples.size() == 3);
    for (std::size_t i = 0; i < samples.size(); ++i) {
        CHECK(samples[i].reference_time.tv_sec == base_second + 2 + static_cast<time_t>(i));
        CHECK(samples[i].reference_time.tv_nsec == 0);
        // The first byte is complete one byte time after the write began.
        CHECK(samples[i].receive_time.tv_sec == base_second + 2 + static_cast<time_t>(i));
        CHECK(samples[i].receive_time.tv_nsec == 130 * ms + byte_ns);
    }
}

TEST_CASE("core: queued bytes date the first one on a line-rate device, not on a pty") {
    const int baud = 9600;
    const std::int64_t byte_ns = byte_time_ns(baud);
    // The loop wakes 5 byte times late: 6 bytes are queued.
    for (const bool line_rate : {true, false}) {
        ByteSchedule schedule;
        for (int k = 0; k < 2; ++k) {
            schedule.write((k + 1) * s, make_cycle(base_second + k), byte_ns);
        }
        ReplayOptions options = options_at(line_rate);
        options.wake_latency_ns = [&] { return 5 * byte_ns; };
        NmeaCore core = make_core(baud, 1);
        const auto samples = published(replay(core, schedule, options));
        REQUIRE(samples.size() == 2);
        const long expected = line_rate ? byte_ns : 6 * byte_ns;
        CHECK(samples[0].receive_time.tv_nsec == expected);
        CHECK(samples[1].receive_time.tv_nsec == expected);
    }
}

TEST_CASE("core: a cycle read over many batches is one cycle") {
    // About 750 bytes at 9600 baud: 0.78 s on the line, read by some 30
    // batch timers, still one cycle.
    const std::int64_t byte_ns = byte_time_ns(9600);
    ByteSchedule schedule;
    for (int k = 0; k < 3; ++k) {
        schedule.write((k + 1) * s, make_cycle(base_second + k, 600), byte_ns);
    }
    NmeaCore core = make_core(9600, 1);
    int cycles = 0;
    core.on_cycle([&](const CycleOutcome&) { ++cycles; });
    const auto samples = published(replay(core, schedule, options_at()));
    CHECK(cycles == 3);
    CHECK(samples.size() == 3);
}

TEST_CASE("core: a loop held up past each batch expiry does not cut a cycle in two") {
    // The loop sees every other batch expiry 24.5 ms late (a loaded
    // machine): a read that returns bytes, then the next expiry on time,
    // 0.5 ms later, when at 4800 baud no byte has come yet. That empty read
    // is not a quiet line.
    for (const int baud : {4800, 9600}) {
        const std::int64_t byte_ns = byte_time_ns(baud);
        ByteSchedule schedule;
        for (int k = 0; k < 4; ++k) {
            schedule.write((k + 1) * s + 100 * ms, make_cycle(base_second + k, 150), byte_ns);
        }
        ReplayOptions options = options_at();
        // The loop wakes 1 ms after the first byte, so that the batch
        // expiries fall between two bytes rather than on one.
        options.wake_latency_ns = [] { return 1 * ms; };
        bool held_up = false;
        options.timer_latency_ns = [&held_up] {
            held_up = !held_up;
            return held_up ? 24'500'000 : 0;
        };
        NmeaCore core = make_core(baud, 1);
        std::vector<CycleOutcome::Kind> outcomes;
        core.on_cycle([&](const CycleOutcome& o) { outcomes.push_back(o.kind); });
        const auto samples = published(replay(core, schedule, options));
        using K = CycleOutcome::Kind;
        CHECK(outcomes == std::vector<K>(4, K::published));
        // Counted, for the live state: the machine is loaded.
        CHECK(core.activity().loop_held_up > 0);
        REQUIRE(samples.size() == 4);
        for (std::size_t i = 0; i < samples.size(); ++i) {
            CHECK(samples[i].reference_time.tv_sec == base_second + static_cast<time_t>(i));
            CHECK(samples[i].receive_time.tv_nsec == 100 * ms + byte_ns + 1 * ms);
        }
    }
}

TEST_CASE("core: a receiver that never goes quiet is never stamped") {
    const std::int64_t byte_ns = byte_time_ns(9600);
    ByteSchedule schedule;
    // Cycles of 1500 bytes, one a second at 9600 baud: 1.56 s each, queued
    // behind each other: the line never goes quiet.
    for (int k = 0; k < 8; ++k) {
        schedule.write((k + 1) * s, make_cycle(base_second + k, 1400), byte_ns);
    }
    NmeaCore core = make_core(9600, 1);
    const auto events = replay(core, schedule, options_at());
    // The first read stamps a true cycle start; after it, nothing is.
    CHECK(published(events).size() <= 1);
    CHECK_THAT(core.health(), Catch::Contains("line never quiet"));
}

TEST_CASE("core: 5 and 10 Hz at 115200 baud: every cycle framed, one sample a second") {
    for (const int hz : {5, 10}) {
        const std::int64_t byte_ns = byte_time_ns(115200);
        ByteSchedule schedule;
        const int seconds = 4;
        for (int k = 0; k < seconds * hz; ++k) {
            // Each cycle names its own second; the sub-second cycles repeat it
            // with a fraction, as 5/10 Hz receivers do.
            std::string cycle = make_cycle(base_second + k / hz, 200, true, k % hz * 100 / hz);
            schedule.write(s + k * (s / hz) + 20 * ms, cycle, byte_ns);
        }
        NmeaCore core = make_core(115200, 1);
        int cycles = 0;
        core.on_cycle([&](const CycleOutcome&) { ++cycles; });
        const auto samples = published(replay(core, schedule, options_at()));
        CHECK(cycles == seconds * hz);
        REQUIRE(samples.size() == static_cast<std::size_t>(seconds));
        for (int k = 0; k < seconds; ++k) {
            CHECK(samples[static_cast<std::size_t>(k)].reference_time.tv_sec == base_second + k);
        }
    }
}

TEST_CASE("core: a one-off jump is refused; a jump that holds is on probation") {
    // issue 18: a jump that holds was believed after min-fixes cycles. Now
    // the receiver's return to the believed timeline is published after
    // min-fixes cycles, and a new timeline is not published at all.
    const std::int64_t byte_ns = byte_time_ns(9600);
    using K = CycleOutcome::Kind;
    const auto run = [&](const std::vector<time_t>& reported) {
        ByteSchedule schedule;
        for (std::size_t k = 0; k < reported.size(); ++k) {
            schedule.write(static_cast<std::int64_t>(k + 1) * s,
                           make_cycle(base_second + reported[k]), byte_ns);
        }
        NmeaCore core = make_core(9600, 2);
        std::vector<CycleOutcome::Kind> outcomes;
        core.on_cycle([&](const CycleOutcome& o) { outcomes.push_back(o.kind); });
        const auto samples = published(replay(core, schedule, options_at()));
        return std::make_pair(outcomes, samples);
    };
    // The 4th cycle jumps 6 s ahead, then the receiver is right again.
    const auto [once, once_samples] = run({0, 1, 2, 9, 4, 5, 6});
    CHECK(once == std::vector<K>{K::acquiring, K::published, K::published, K::jumped, K::acquiring,
                                 K::published, K::published});
    REQUIRE(once_samples.size() == 4);
    CHECK(once_samples[2].reference_time.tv_sec == base_second + 5);
    // The 4th cycle jumps a second ahead and stays there.
    const auto [held, held_samples] = run({0, 1, 2, 4, 5, 6, 7});
    CHECK(held == std::vector<K>{K::acquiring, K::published, K::published, K::jumped, K::probation,
                                 K::probation, K::probation});
    CHECK(held_samples.size() == 2);
}

TEST_CASE("core: stale 2 s after the last published cycle began; no fix withdraws then too") {
    const std::int64_t byte_ns = byte_time_ns(9600);
    ByteSchedule schedule;
    for (int k = 0; k < 3; ++k) {
        schedule.write((k + 1) * s + 100 * ms, make_cycle(base_second + k), byte_ns);
    }
    // Then cycles without a fix.
    for (int k = 3; k < 6; ++k) {
        schedule.write((k + 1) * s + 100 * ms, make_cycle(base_second + k, 300, false), byte_ns);
    }
    NmeaCore core = make_core(9600, 1);
    const auto events = without_logs(replay(core, schedule, options_at()));
    REQUIRE(events.size() == 4);
    CHECK(events[2].kind == ReplayEvent::Kind::published);
    CHECK(events[3].kind == ReplayEvent::Kind::withdrawn);
    // The last published cycle's first byte arrived at 3.1 s + one byte.
    CHECK(events[3].at_ns == 3 * s + 100 * ms + byte_ns + SourceRules::stale_after_ns);
}

TEST_CASE("core: bytes right after an open are not stamped") {
    const std::int64_t byte_ns = byte_time_ns(9600);
    ByteSchedule schedule;
    // The first cycle is already on the line when the device opens.
    schedule.write(10 * ms, make_cycle(base_second), byte_ns);
    schedule.write(1 * s + 10 * ms, make_cycle(base_second + 1), byte_ns);
    NmeaCore core = make_core(9600, 1);
    std::vector<CycleOutcome::Kind> outcomes;
    core.on_cycle([&](const CycleOutcome& o) { outcomes.push_back(o.kind); });
    replay(core, schedule, options_at());
    using K = CycleOutcome::Kind;
    CHECK(outcomes == std::vector<K>{K::not_stamped, K::published});
}

TEST_CASE("core: a failing device is reopened with back-off and withdrawn") {
    NmeaCore core = make_core(9600, 1);
    std::vector<std::int64_t> delays;
    for (int i = 0; i < 7; ++i) {
        const Actions actions = core.device_failed("no device /dev/ttyX");
        CHECK(actions.close_device);
        for (const auto& timer : actions.timers) {
            if (timer.id == TimerId::reopen) {
                delays.push_back(timer.after_ns / s);
            }
        }
    }
    CHECK(delays == std::vector<std::int64_t>{1, 2, 4, 8, 16, 30, 30});
    CHECK(core.health() == "no device /dev/ttyX (retrying in 30 s)");

    // A published sample resets the back-off, and a failure withdraws it.
    const std::int64_t byte_ns = byte_time_ns(9600);
    ByteSchedule schedule;
    schedule.write(1 * s, make_cycle(base_second), byte_ns);
    ReplayOptions options = options_at();
    options.end_ns = 2 * s; // before the sample goes stale
    REQUIRE(published(replay(core, schedule, options)).size() == 1);
    const Actions actions = core.device_failed("read: Input/output error");
    CHECK(actions.withdraw);
    CHECK(core.health() == "read: Input/output error (retrying in 1 s)");
}

TEST_CASE("core: 10,000 random cycle timings") {
    // Random line rates, cycle lengths, phases within the second, wake-up
    // latencies and min-fixes. Every published sample must name its cycle's
    // second and carry its first byte's arrival (to within a byte time on a
    // line-rate device, exactly the wake-up on a pty), and once acquired
    // every cycle that fits in its second is published.
    const auto seed = std::random_device{}();
    INFO("seed " << seed);
    std::mt19937 random(seed);
    int cycles_checked = 0;
    for (int run = 0; run < 200; ++run) {
        const int bauds[] = {4800, 9600, 38400, 115200};
        const int baud = bauds[random() % 4];
        const std::int64_t byte_ns = byte_time_ns(baud);
        const bool line_rate = random() % 4 != 0;
        const int min_fixes = 1 + static_cast<int>(random() % 3);
        // A cycle of up to 0.7 s on the line, starting 0-150 ms after its
        // second (a receiver's own latency, the same every second, give or
        // take 20 ms: a timeline must not wander by more than
        // Timeline::tolerance_ns): there is always a quiet gap of more than
        // 150 ms.
        const std::int64_t phase = static_cast<std::int64_t>(random() % 130) * ms;
        const std::size_t max_bytes = static_cast<std::size_t>(600 * ms / byte_ns);
        const std::int64_t latency_max = 2 * ms;
        ByteSchedule schedule;
        std::vector<std::int64_t> first_byte;
        const int cycles = 50;
        for (int k = 0; k < cycles; ++k) {
            const std::size_t padding = random() % std::max<std::size_t>(1, max_bytes - 200);
            const std::int64_t start =
                (k + 1) * s + phase + static_cast<std::int64_t>(random() % 20) * ms;
            schedule.write(start, make_cycle(base_second + k, padding), line_rate ? byte_ns : 0);
            first_byte.push_back(start + (line_rate ? byte_ns : 0));
        }
        ReplayOptions options = options_at(line_rate);
        std::uniform_int_distribution<std::int64_t> latency(0, latency_max);
        options.wake_latency_ns = [&] { return latency(random); };
        NmeaCore core = make_core(baud, min_fixes);
        const auto samples = published(replay(core, schedule, options));
        REQUIRE(samples.size() == static_cast<std::size_t>(cycles - min_fixes + 1));
        for (const Sample& sample : samples) {
            const auto k = static_cast<std::size_t>(sample.reference_time.tv_sec - base_second);
            REQUIRE(k < first_byte.size());
            CHECK(sample.reference_time.tv_nsec == 0);
            const std::int64_t stamped =
                timespec_diff_ns(sample.receive_time, options.realtime_epoch);
            const std::int64_t error = stamped - first_byte[k];
            if (line_rate) {
                CHECK(error >= 0);
                CHECK(error < byte_ns);
            } else {
                CHECK(error >= 0);
                CHECK(error <= latency_max);
            }
        }
        cycles_checked += cycles;
    }
    CHECK(cycles_checked == 10'000);
}

// ---------------------------------------------------------------------------
// Hostile and odd receivers (issue 8): each case drives the core as the
// daemon would and fails on the code before the fix.

namespace {

using K = CycleOutcome::Kind;

struct Run {
    std::vector<ReplayEvent> events;
    std::vector<K> outcomes;
    std::vector<Sample> samples;
};

Run run_core(const ByteSchedule& schedule, int min_fixes, int baud = 9600,
             ReplayOptions options = options_at()) {
    NmeaCore core = make_core(baud, min_fixes);
    Run result;
    core.on_cycle([&](const CycleOutcome& o) { result.outcomes.push_back(o.kind); });
    result.events = replay(core, schedule, options);
    result.samples = published(result.events);
    return result;
}

std::vector<time_t> seconds_of(const std::vector<Sample>& samples) {
    std::vector<time_t> seconds;
    for (const Sample& sample : samples) {
        CHECK(sample.reference_time.tv_nsec == 0);
        seconds.push_back(sample.reference_time.tv_sec);
    }
    return seconds;
}

} // namespace

TEST_CASE("case 1: a year-2611 ZDA 2^64 ns after the expected time is not published", "[time64]") {
    const std::int64_t byte_ns = byte_time_ns(9600);
    ByteSchedule schedule;
    for (int k = 0; k < 3; ++k) {
        schedule.write((k + 1) * s + 100 * ms, make_cycle(base_second + k), byte_ns);
    }
    // The next cycle's time plus 2^64 ns. The GGA without a time drops the
    // carried date, so that the GGA with the new time of day reports a fix
    // without being a valid time itself: the ZDA is the cycle's time.
    const auto wrapped = static_cast<time_t>(base_second + 3 + 18446744073LL);
    const Named named = name_of(wrapped, 70);
    REQUIRE(named.zda.substr(6) == "2611");
    schedule.write(4 * s + 100 * ms,
                   gga("") + gga(named.hms) + zda(named.hms, named.zda) + gsv_padding(300),
                   byte_ns);
    const Run run = run_core(schedule, 2);
    CHECK(seconds_of(run.samples) == std::vector<time_t>{base_second + 1, base_second + 2});
    REQUIRE(run.outcomes.size() == 4);
    // With the stamps as evidence the parser's date bounds refuse year 2611
    // before the cycle check sees it; the check's own arithmetic on such a
    // time is the CycleCheck case 1 test above.
    CHECK(run.outcomes[3] == K::implausible_date);
}

TEST_CASE("case 10: around a leap second, 00:00:00 follows 23:59:60 and is published exactly") {
    // 2026-12-31 23:59:57 .. 2027-01-01 00:00:02 with 23:59:60 between.
    const time_t new_year =
        std::chrono::sys_days{std::chrono::year{2027} / 1 / 1}.time_since_epoch().count() * 86400;
    const std::int64_t byte_ns = byte_time_ns(9600);
    ByteSchedule schedule;
    std::vector<std::string> cycles;
    for (const time_t second : {new_year - 3, new_year - 2, new_year - 1}) {
        cycles.push_back(make_cycle(second));
    }
    cycles.push_back(rmc("235960.00", "311226") + gga("235960.00") + gsv_padding(300));
    for (const time_t second : {new_year, new_year + 1, new_year + 2}) {
        cycles.push_back(make_cycle(second));
    }
    for (std::size_t k = 0; k < cycles.size(); ++k) {
        schedule.write(static_cast<std::int64_t>(k + 1) * s + 100 * ms, cycles[k], byte_ns);
    }
    for (const int min_fixes : {1, 2, 3}) {
        INFO("min-fixes " << min_fixes);
        const Run run = run_core(schedule, min_fixes);
        // The monotonic clock runs through the leap second (the wall clock
        // may repeat 23:59:59, or not): 2 s between 23:59:59 and 00:00:00.
        std::vector<time_t> expected;
        for (const time_t second :
             {new_year - 3, new_year - 2, new_year - 1, new_year, new_year + 1, new_year + 2}) {
            expected.push_back(second);
        }
        // The first min-fixes - 1 cycles acquire.
        expected.erase(expected.begin(), expected.begin() + (min_fixes - 1));
        CHECK(seconds_of(run.samples) == expected);
        REQUIRE(run.outcomes.size() == 7);
        CHECK(run.outcomes[3] == K::leap_second);
        CHECK(std::count(run.outcomes.begin(), run.outcomes.end(), K::jumped) == 0);
    }
}

TEST_CASE("case 8: a receiver that sends every cycle twice, 400 ms apart") {
    const std::int64_t byte_ns = byte_time_ns(9600);
    ByteSchedule schedule;
    const int seconds = 200;
    for (int k = 0; k < seconds; ++k) {
        // 280 bytes: 290 ms on the line, then 110 ms quiet before the repeat.
        const std::string cycle = make_cycle(base_second + k, 100);
        schedule.write((k + 1) * s + 100 * ms, cycle, byte_ns);
        schedule.write((k + 1) * s + 500 * ms, cycle, byte_ns);
    }
    const Run run = run_core(schedule, 3);
    // Each second once, from its first copy (whose first byte is stamped),
    // after min-fixes agreeing cycles: the repeats do not break the run.
    REQUIRE(run.samples.size() == seconds - 2);
    for (std::size_t i = 0; i < run.samples.size(); ++i) {
        const auto k = static_cast<std::int64_t>(i) + 2;
        CHECK(run.samples[i].reference_time.tv_sec == base_second + k);
        CHECK(timespec_diff_ns(run.samples[i].receive_time, options_at().realtime_epoch) ==
              (k + 1) * s + 100 * ms + byte_ns);
    }
    CHECK(std::count(run.outcomes.begin(), run.outcomes.end(), K::repeat) == seconds);
    for (const std::string& text : warnings(run.events)) {
        CHECK_THAT(text, !Catch::Contains("off the timeline"));
    }
}

TEST_CASE("case 8: a receiver whose every cycle jumps warns once a minute, with a count") {
    const std::int64_t byte_ns = byte_time_ns(9600);
    ByteSchedule schedule;
    const int seconds = 150;
    for (int k = 0; k < seconds; ++k) {
        // Alternately 0 and 5 s ahead: every cycle jumps.
        schedule.write((k + 1) * s + 100 * ms, make_cycle(base_second + k + (k % 2) * 5), byte_ns);
    }
    const Run run = run_core(schedule, 2);
    CHECK(run.samples.empty());
    CHECK(std::count(run.outcomes.begin(), run.outcomes.end(), K::jumped) == seconds - 1);
    const auto logged = warnings(run.events);
    // 149 jumps in 150 s: at 2 s, 62 s and 122 s.
    REQUIRE(logged.size() == 3);
    CHECK_THAT(logged[0], Catch::Contains("off the timeline"));
    CHECK_THAT(logged[0], !Catch::Contains("not logged"));
    CHECK_THAT(logged[1], Catch::Contains("(59 more like it in the last minute not logged)"));
    CHECK_THAT(logged[2], Catch::Contains("(59 more like it"));
}

TEST_CASE("case 3: a time that walks 1.24 s per second is refused") {
    const std::int64_t byte_ns = byte_time_ns(9600);
    ByteSchedule schedule;
    // Cycle k names base + 1.24 k s (whole seconds: the walk is in the
    // seconds named, 240 ms more each cycle, under the 250 ms agreement).
    std::vector<std::string> cycles;
    for (int k = 0; k < 60; ++k) {
        const std::int64_t walked_ns = k * 1240 * ms;
        const time_t second = base_second + static_cast<time_t>(walked_ns / s);
        const int centis = static_cast<int>(walked_ns % s / (10 * ms));
        schedule.write((k + 1) * s + 100 * ms, make_cycle(second, 300, true, centis), byte_ns);
    }
    for (const int min_fixes : {1, 2, 3}) {
        INFO("min-fixes " << min_fixes);
        const Run run = run_core(schedule, min_fixes);
        CHECK(std::count(run.outcomes.begin(), run.outcomes.end(), K::jumped) > 0);
        // 240 ms a cycle is off the timeline at once: at most the first
        // cycle (min-fixes 1), then nothing.
        CHECK(run.samples.size() <= 1);
        for (const Sample& sample : run.samples) {
            const std::int64_t stamped =
                timespec_diff_ns(sample.receive_time, options_at().realtime_epoch);
            // Cycle k was written at (k + 1) s + 100 ms; the truth is base + k.
            const std::int64_t k = stamped / s - 1;
            CHECK(std::llabs(timespec_diff_ns(sample.reference_time, at(base_second + k))) <=
                  Timeline::tolerance_ns);
        }
    }
    // A walk is never believed: it does not agree with itself either.
    Check check(2, 60 * s);
    for (std::int64_t k = 0; k < 200; ++k) {
        CHECK(check.add(timespec_add(at(1000 + k), k * 240 * ms), mono(1000 + k)) !=
              Verdict::publish);
    }
}

TEST_CASE("case 3: a walk the monotonic clock's rate error explains is no walk: 900 ppm") {
    Check check(3);
    // 900 ppm: the system clock's own rate error, for an hour.
    int refused = 0;
    for (std::int64_t k = 0; k < 3600; ++k) {
        const auto verdict = check.add(at(1000 + k), mono(1000 + k) + k * 900'000);
        refused += verdict != Verdict::publish ? 1 : 0;
    }
    CHECK(refused == 2); // acquiring
}

TEST_CASE("case 3: a walk after hours of good cycles is caught before it is 0.1 s off") {
    // Rates from 5000 ppm (the slowest this guarantees: see
    // Timeline::tolerance_ns) to 0.5 s a second, after an hour or a day.
    for (const std::int64_t hours : {1, 24}) {
        for (const std::int64_t rate_ppm : {5'000, 10'000, 20'000, 50'000, 120'000, 500'000}) {
            INFO(hours << " h, then " << rate_ppm << " ppm");
            Check check(3);
            const std::int64_t good = hours * 3600;
            for (std::int64_t k = 0; k < good; ++k) {
                check.add(at(1000 + k), mono(1000 + k, 7 * ms * (k % 3)));
            }
            REQUIRE(check.timeline.consecutive() == good);
            std::int64_t worst = 0;
            for (std::int64_t k = 0; k < 600; ++k) {
                const std::int64_t walked = k * rate_ppm * 1000;
                const auto verdict =
                    check.add(timespec_add(at(1000 + good + k), walked), mono(1000 + good + k));
                if (verdict == Verdict::publish) {
                    worst = std::max(worst, walked);
                }
            }
            CHECK(worst < 100 * ms);
        }
    }
}

TEST_CASE("case 5: a line that drips a byte every 30 ms never stamps a cycle") {
    // Each byte alone on the line, 30 ms apart: the batch timer sees a quiet
    // period after every byte. Cycles that would be 1.9 s late if each
    // byte started a stamped cycle.
    for (const std::int64_t drip : {30 * ms, 45 * ms, 100 * ms}) {
        INFO("a byte every " << drip / ms << " ms");
        ByteSchedule schedule;
        std::int64_t t = 1 * s;
        for (int k = 0; k < 20; ++k) {
            for (const char byte : make_cycle(base_second + k, 0)) {
                schedule.write(t, std::string(1, byte), 0);
                t += drip;
            }
        }
        const Run run = run_core(schedule, 1, 9600, options_at(false));
        CHECK(run.samples.empty());
    }
}

TEST_CASE("case 5: the quiet gap keeps normal receivers stamped at their first byte") {
    // 10 Hz at 115200 baud, 30 ms of output and a 70 ms gap: every cycle is
    // still stamped at its first byte.
    const std::int64_t byte_ns = byte_time_ns(115200);
    ByteSchedule schedule;
    for (int k = 0; k < 40; ++k) {
        schedule.write(s + k * 100 * ms + 20 * ms,
                       make_cycle(base_second + k / 10, 200, true, k % 10 * 10), byte_ns);
    }
    const Run run = run_core(schedule, 1, 115200);
    CHECK(std::count(run.outcomes.begin(), run.outcomes.end(), K::not_stamped) == 0);
    REQUIRE(run.samples.size() == 4);
}

TEST_CASE("case 4: the sentences of one cycle name different seconds") {
    const std::int64_t byte_ns = byte_time_ns(9600);
    ByteSchedule schedule;
    for (int k = 0; k < 3; ++k) {
        schedule.write((k + 1) * s + 100 * ms, make_cycle(base_second + k), byte_ns);
    }
    // GGA says N+1, RMC N, ZDA N-1.
    const time_t n = base_second + 3;
    schedule.write(4 * s + 100 * ms,
                   gga(name_of(n + 1).hms) + rmc(name_of(n).hms, name_of(n).dmy) +
                       zda(name_of(n - 1).hms, name_of(n - 1).zda) + gsv_padding(200),
                   byte_ns);
    for (int k = 4; k < 8; ++k) {
        schedule.write((k + 1) * s + 100 * ms, make_cycle(base_second + k), byte_ns);
    }
    NmeaCore core = make_core(9600, 2);
    std::vector<K> outcomes;
    core.on_cycle([&](const CycleOutcome& o) { outcomes.push_back(o.kind); });
    const auto events = replay(core, schedule, options_at());
    CHECK(outcomes == std::vector<K>{K::acquiring, K::published, K::published, K::disagreeing,
                                     K::acquiring, K::published, K::published, K::published});
    CHECK(core.disagreeing_cycles() == 1);
    CHECK(seconds_of(published(events)) == std::vector<time_t>{base_second + 1, base_second + 2,
                                                               base_second + 5, base_second + 6,
                                                               base_second + 7});
    const auto logged = warnings(events);
    CHECK(std::count_if(logged.begin(), logged.end(), [](const std::string& text) {
              return text.find("name different seconds") != std::string::npos;
          }) == 1);
}

TEST_CASE("case 4: cycle N's RMC glued to the start of cycle N+1 is never published") {
    // Each burst: the previous second's RMC, then this second's GGA and ZDA.
    const std::int64_t byte_ns = byte_time_ns(9600);
    ByteSchedule schedule;
    for (int k = 1; k < 20; ++k) {
        const Named now = name_of(base_second + k);
        const Named before = name_of(base_second + k - 1);
        schedule.write((k + 1) * s + 100 * ms,
                       rmc(before.hms, before.dmy) + gga(now.hms) + zda(now.hms, now.zda) +
                           gsv_padding(200),
                       byte_ns);
    }
    const Run run = run_core(schedule, 1);
    CHECK(run.samples.empty());
    CHECK(std::count(run.outcomes.begin(), run.outcomes.end(), K::disagreeing) == 19);
}

TEST_CASE("case 4: 850 ms of GSV, a gap, then the RMC: not published with either stamp") {
    // 9600 baud: 810 ms of GSV from 20 ms after the second, then the RMC
    // after gaps of 60 ms (a cycle of its own), 20 ms and none (one cycle,
    // the RMC 0.8 s in): its stamp would be the RMC's or the first GSV's.
    const std::int64_t byte_ns = byte_time_ns(9600);
    for (const std::int64_t gap : {60 * ms, 20 * ms, 0 * ms}) {
        INFO("gap " << gap / ms << " ms");
        ByteSchedule schedule;
        for (int k = 0; k < 10; ++k) {
            const std::int64_t start = (k + 1) * s + 20 * ms;
            const std::int64_t end = schedule.write(start, gsv_padding(760), byte_ns);
            const Named named = name_of(base_second + k);
            schedule.write(end + gap, rmc(named.hms, named.dmy), byte_ns);
        }
        REQUIRE(schedule.arrival_ns.back() < 11 * s);
        const Run run = run_core(schedule, 1, 9600);
        CHECK(run.samples.empty());
        CHECK(std::count(run.outcomes.begin(), run.outcomes.end(), K::published) == 0);
    }
}

TEST_CASE("case 4: noise (no sentence) shortly before a cycle does not cost it its stamp") {
    const std::int64_t byte_ns = byte_time_ns(9600);
    ByteSchedule schedule;
    for (int k = 0; k < 5; ++k) {
        schedule.write((k + 1) * s + 20 * ms, make_cycle(base_second + k), byte_ns);
        // 120 bytes of noise ending some 100 ms before the next cycle.
        schedule.write((k + 1) * s + 770 * ms, std::string(120, '\x7f'), byte_ns);
    }
    const Run run = run_core(schedule, 1);
    CHECK(run.samples.size() == 5);
}

TEST_CASE("a clock step withdraws the sample, drops the cycle being read, and re-acquires") {
    // Done-when 4's NMEA half: stamps taken before a step of CLOCK_REALTIME
    // are on the old scale, and a pps refclock locked to this one numbers
    // its pulses by them.
    const std::int64_t byte_ns = byte_time_ns(9600);
    for (const std::int64_t step : {-500 * ms, 500 * ms}) {
        INFO("step " << step / ms << " ms");
        ByteSchedule schedule;
        for (int k = 0; k < 10; ++k) {
            schedule.write((k + 1) * s + 100 * ms, make_cycle(base_second + k), byte_ns);
        }
        ReplayOptions options = options_at();
        // In the middle of cycle 5 (first byte at 6.1 s).
        const std::int64_t step_at = 6 * s + 100 * ms + 20 * ms;
        options.clock_steps.push_back({step_at, step});
        NmeaCore core = make_core(9600, 3);
        const auto events = without_logs(replay(core, schedule, options));
        // Reference - receive of a cycle stamped at its first byte, before
        // the step: the first byte comes 100 ms + a byte after its second.
        const std::int64_t before = -(100 * ms + byte_ns);
        std::vector<time_t> seconds;
        bool withdrawn_at_step = false;
        for (const auto& event : events) {
            if (event.kind == ReplayEvent::Kind::withdrawn && event.at_ns == step_at) {
                withdrawn_at_step = true;
            }
            if (event.kind != ReplayEvent::Kind::published) {
                continue;
            }
            seconds.push_back(event.sample.reference_time.tv_sec);
            const std::int64_t difference =
                timespec_diff_ns(event.sample.reference_time, event.sample.receive_time);
            // Published after the step: stamped on the new scale, where the
            // clock reads `step` more.
            CHECK(difference == (event.at_ns > step_at ? before - step : before));
        }
        CHECK(withdrawn_at_step);
        // Cycles 2-4 published; 5 (being read at the step) is not; 6 and 7
        // re-acquire; 8 and 9 are published.
        CHECK(seconds == std::vector<time_t>{base_second + 2, base_second + 3, base_second + 4,
                                             base_second + 8, base_second + 9});
    }
}

namespace {

// 2026-12-31 23:59:57 .. 2027-01-01 00:00:04 with a 23:59:60 between
// 23:59:59 and 00:00:00, one cycle a second on the line (the monotonic
// clock runs through the leap second): cycles[3] is 23:59:60.
struct LeapDay {
    time_t new_year =
        std::chrono::sys_days{std::chrono::year{2027} / 1 / 1}.time_since_epoch().count() * 86400;
    ByteSchedule schedule;
    LeapDay() {
        std::vector<std::string> cycles;
        for (const time_t second : {new_year - 3, new_year - 2, new_year - 1}) {
            cycles.push_back(make_cycle(second));
        }
        cycles.push_back(rmc("235960.00", "311226") + gga("235960.00") + gsv_padding(300));
        for (time_t second = new_year; second <= new_year + 4; ++second) {
            cycles.push_back(make_cycle(second));
        }
        for (std::size_t k = 0; k < cycles.size(); ++k) {
            schedule.write(static_cast<std::int64_t>(k + 1) * s + 100 * ms, cycles[k],
                           byte_time_ns(9600));
        }
    }
};

struct LeapRun : Run {
    std::uint64_t refused = 0;
    std::string health;
};

// A leap-second list, as the daemon would hand it in with every read, that
// answers `answer` about the day that ends at `day_end`: it inserts a second
// there (scheduled), or has no entry there (not_scheduled), both valid for
// half a year after it; or it would insert one but expired before it
// (unknown).
LeapListLoad list_answering(LeapSecondCheck answer, std::int64_t day_end) {
    constexpr std::int64_t day = 86400;
    LeapSecondsList list;
    list.updated = day_end - 200 * day;
    list.expires = answer == LeapSecondCheck::unknown ? day_end - 30 * day : day_end + 180 * day;
    list.entries.push_back({day_end - 3650 * day, 37});
    if (answer != LeapSecondCheck::not_scheduled) {
        list.entries.push_back({day_end, 38});
    }
    LeapListLoad load;
    load.list = list;
    load.problem = LeapListProblem::none;
    REQUIRE(inserted_leap_second(load, day_end) == answer);
    return load;
}

// The core with a leap-second list that answers `answer` about the day
// that ends at `day_end` (by default the LeapDay's new year); none: no list.
LeapRun run_with_list(const ByteSchedule& schedule, int min_fixes,
                      std::optional<LeapSecondCheck> answer,
                      std::int64_t day_end = LeapDay{}.new_year) {
    NmeaSettings settings{"test", 9600, min_fixes, floor_date};
    LeapRun result;
    NmeaCore core(std::move(settings));
    core.on_cycle([&](const CycleOutcome& o) { result.outcomes.push_back(o.kind); });
    ReplayOptions options = options_at();
    const LeapListLoad list = answer ? list_answering(*answer, day_end) : LeapListLoad{};
    options.leap_seconds = answer ? &list : nullptr;
    result.events = replay(core, schedule, options);
    result.samples = published(result.events);
    result.refused = core.unscheduled_leap_seconds();
    result.health = core.health();
    return result;
}

} // namespace

TEST_CASE("leap second: a 23:59:60 the list schedules, or with no list at all, is counted") {
    // The list schedules it (or there is no list: `decode`, which believes
    // the capture): 00:00:00 is published 2 s after 23:59:59.
    const LeapDay day;
    for (const auto answer : {std::optional<LeapSecondCheck>{LeapSecondCheck::scheduled},
                              std::optional<LeapSecondCheck>{}}) {
        INFO("list answers " << (answer ? to_string(*answer) : "nothing (no list)"));
        const LeapRun run = run_with_list(day.schedule, 2, answer);
        std::vector<time_t> expected;
        for (time_t second = day.new_year - 2; second <= day.new_year + 4; ++second) {
            expected.push_back(second);
        }
        CHECK(seconds_of(run.samples) == expected);
        REQUIRE(run.outcomes.size() == 9);
        CHECK(run.outcomes[3] == K::leap_second);
        CHECK(run.outcomes[4] == K::published);
        CHECK(run.refused == 0);
        // The sample stays out through the leap second: 23:59:59's is not
        // withdrawn before 00:00:00's replaces it (the replay goes on after
        // the last cycle, 00:00:04 at 9.1 s, until its sample goes stale).
        for (const ReplayEvent& event : run.events) {
            if (event.at_ns > 9 * s) {
                break;
            }
            CHECK(event.kind != ReplayEvent::Kind::withdrawn);
            if (event.kind == ReplayEvent::Kind::logged) {
                CHECK(event.message.level != MessageLevel::warn);
            }
        }
    }
    // The list is asked about the day that ends at the new year: a list
    // that schedules the leap a day earlier or later does not vouch for it.
    for (const std::int64_t other : {day.new_year - 86400, day.new_year + 86400}) {
        const LeapRun run = run_with_list(day.schedule, 2, LeapSecondCheck::scheduled, other);
        REQUIRE(run.outcomes.size() == 9);
        CHECK(run.outcomes[3] == K::unscheduled_leap);
        CHECK(run.refused == 1);
    }
}

TEST_CASE("leap second: with an expired or missing list, a 23:59:60 is a step on probation") {
    // issue 18, item 3: with the default (expired) tzdata list a made-up
    // 23:59:60 was believed at once, and the receiver, a second behind from
    // then on, published. Without a valid list the receiver's word is no
    // evidence: what follows is a -1 s step from the believed timeline.
    const LeapDay day;
    for (const int min_fixes : {1, 2, 3}) {
        INFO("min-fixes " << min_fixes);
        const LeapRun run = run_with_list(day.schedule, min_fixes, LeapSecondCheck::unknown);
        std::vector<time_t> expected;
        for (time_t second = day.new_year - 3 + (min_fixes - 1); second < day.new_year; ++second) {
            expected.push_back(second);
        }
        CHECK(seconds_of(run.samples) == expected);
        REQUIRE(run.outcomes.size() == 9);
        CHECK(run.outcomes[3] == K::jumped);
        for (std::size_t k = 4; k < 9; ++k) {
            CHECK(run.outcomes[k] == K::probation);
        }
        CHECK_THAT(run.health, Catch::Contains("probation: receiver -1.000 s"));
    }
}

TEST_CASE("leap second: a 23:59:60 that a valid list does not schedule is refused") {
    // The receiver invents a leap second: without the list's word the check
    // would count it, and the next cycle, which names a second one second
    // earlier than the elapsed time says, would be published at once
    // (issue 18, item 3: and then after min-fixes cycles).
    const LeapDay day;
    for (const int min_fixes : {1, 2, 3}) {
        INFO("min-fixes " << min_fixes);
        const LeapRun run = run_with_list(day.schedule, min_fixes, LeapSecondCheck::not_scheduled);
        REQUIRE(run.outcomes.size() == 9);
        CHECK(run.outcomes[3] == K::unscheduled_leap);
        CHECK(run.refused == 1);
        // 00:00:00 does not follow 23:59:59 without the leap second: a
        // jump, and a new timeline that needs evidence: nothing after it is
        // published.
        CHECK(run.outcomes[4] == K::jumped);
        for (std::size_t k = 5; k < 9; ++k) {
            CHECK(run.outcomes[k] == K::probation);
        }
        std::vector<time_t> expected;
        for (time_t second = day.new_year - 3 + (min_fixes - 1); second < day.new_year; ++second) {
            expected.push_back(second);
        }
        CHECK(seconds_of(run.samples) == expected);
        const auto logged = warnings(run.events);
        REQUIRE_FALSE(logged.empty());
        CHECK_THAT(logged[0],
                   Catch::Contains("2026-12-31T23:59:60Z") && Catch::Contains("does not schedule"));
    }
    // The health says why while it lasts (min-fixes high enough that the
    // run has not been believed again by the end).
    const LeapRun run = run_with_list(day.schedule, 9, LeapSecondCheck::not_scheduled);
    CHECK(run.samples.empty());
    CHECK_THAT(run.health, Catch::Contains("acquiring"));
    ByteSchedule cut;
    cut.write(1 * s + 100 * ms, make_cycle(day.new_year - 1), byte_time_ns(9600));
    cut.write(2 * s + 100 * ms, rmc("235960.00", "311226") + gga("235960.00") + gsv_padding(300),
              byte_time_ns(9600));
    const LeapRun refused = run_with_list(cut, 2, LeapSecondCheck::not_scheduled);
    CHECK_THAT(refused.health, Catch::Contains("refused 23:59:60 on 2026-12-31") &&
                                   Catch::Contains("not in the leap-second list"));
}

// ---------------------------------------------------------------------------
// The live state's counters (docs/design.md, "Live state"): what was
// injected, counted exactly.

namespace {
// A sentence whose checksum is wrong: the right one plus one.
std::string bad_checksum_sentence(int n) {
    std::string good =
        sentence("GPGSV,3,1,12,01,40,083,46,02,17,308,41,12,07,344," + std::to_string(n));
    const auto star = good.find('*');
    const unsigned right = static_cast<unsigned>(std::stoul(good.substr(star + 1, 2), nullptr, 16));
    char wrong[3];
    std::snprintf(wrong, sizeof wrong, "%02X", (right + 1) & 0xFF);
    return good.substr(0, star + 1) + wrong + "\r\n";
}
} // namespace

TEST_CASE("core counters: N bad checksums, M no-fix cycles, bytes, opens and arrival") {
    const int baud = 9600;
    const std::int64_t byte_ns = byte_time_ns(baud);
    // 12 cycles 130 ms after their seconds; cycles 4..6 without a fix (M =
    // 3); bad checksums in cycles 1 (two) and 8 (three): N = 5.
    const int cycles = 12;
    const std::size_t no_fix_cycles = 3;
    const std::size_t bad_checksums = 5;
    ByteSchedule schedule;
    for (int k = 0; k < cycles; ++k) {
        const bool fix = k < 4 || k > 6;
        std::string bytes = make_cycle(base_second + k, 300, fix);
        for (int b = 0; b < (k == 1 ? 2 : k == 8 ? 3 : 0); ++b) {
            bytes += bad_checksum_sentence(b);
        }
        schedule.write((k + 1) * s + 130 * ms, bytes, byte_ns);
    }
    NmeaCore core = make_core(baud, 3);
    std::size_t observed = 0;
    core.on_cycle([&](const CycleOutcome&) { ++observed; });
    const auto samples = published(replay(core, schedule, options_at()));

    CHECK(core.counters().bad_checksum == bad_checksums);
    const auto& activity = core.activity();
    using K = CycleOutcome::Kind;
    const auto count = [&](K kind) { return activity.cycles.at(static_cast<std::size_t>(kind)); };
    CHECK(count(K::no_fix) == no_fix_cycles);
    CHECK(count(K::published) == samples.size());
    std::uint64_t total = 0;
    for (const auto n : activity.cycles) {
        total += n;
    }
    CHECK(total == observed);
    CHECK(total == static_cast<std::uint64_t>(cycles));
    CHECK(activity.bytes == schedule.bytes.size());
    CHECK(activity.device_opens == 1);
    CHECK(activity.device_failures == 0);
    // Every published cycle's first byte was complete 130 ms plus one byte
    // time after its second.
    REQUIRE(core.arrival().size() == samples.size());
    const auto arrival = core.arrival().summary();
    REQUIRE(arrival);
    CHECK(arrival->median_ns == 130 * ms + byte_ns);
    CHECK(arrival->spread_ns == 0);

    core.device_failed("unplugged");
    CHECK(core.activity().device_failures == 1);
}

TEST_CASE("cycle outcome names are identifiers, one per kind") {
    std::set<std::string> names;
    for (std::size_t i = 0; i < cycle_outcome_count; ++i) {
        const std::string text(name(static_cast<CycleOutcome::Kind>(i)));
        CHECK(text.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string::npos);
        names.insert(text);
    }
    CHECK(names.size() == cycle_outcome_count);
    CHECK(name(CycleOutcome::Kind::no_fix) == "no_fix");
}

TEST_CASE("core: a clock step clears the arrival delays measured on the old scale") {
    const int baud = 9600;
    const std::int64_t byte_ns = byte_time_ns(baud);
    ByteSchedule schedule;
    for (int k = 0; k < 10; ++k) {
        schedule.write((k + 1) * s + 130 * ms, make_cycle(base_second + k), byte_ns);
    }
    ReplayOptions options = options_at();
    // CLOCK_REALTIME stepped 200 ms forward between cycles 3 and 4.
    const std::int64_t step_ns = 200 * ms;
    options.clock_steps.push_back({4 * s + 600 * ms, step_ns});
    NmeaCore core = make_core(baud, 2);
    const auto samples = published(replay(core, schedule, options));
    std::size_t after_step = 0;
    for (const Sample& sample : samples) {
        after_step += sample.reference_time.tv_sec >= base_second + 4 ? 1 : 0;
    }
    REQUIRE(after_step > 0);
    REQUIRE(after_step < samples.size());
    CHECK(core.arrival().size() == after_step);
    for (const std::int64_t value : core.arrival().values()) {
        CHECK(value == 130 * ms + byte_ns + step_ns);
    }
}

// ---------------------------------------------------------------------------
// issue 18: walks and steps hidden by refused cycles. Hostile receivers
// generated from parameters (rate, hiding period and kind, step, number of
// good cycles), judged by the one hard rule: with no witness, no published
// sample is 0.1 s or more off the true second, and the good cycles before
// the fault are published.

namespace {

enum class Hide { no_fix, gga_quality_0, disagreeing };

struct Hostile {
    int good = 30;            // right cycles before the fault
    int faulty = 60;          // cycles from the fault on
    std::int64_t rate_ns = 0; // the walk: gained per second after the fault
    std::int64_t step_ns = 0; // the step at the fault
    int hide_every = 0;       // cycle k is refused when k % hide_every == hide_every - 1
    Hide hide = Hide::no_fix;
    int min_fixes = 3;
};

std::ostream& operator<<(std::ostream& out, const Hostile& h) {
    return out << "good " << h.good << ", faulty " << h.faulty << ", rate " << h.rate_ns / ms
               << " ms/s, step " << h.step_ns / ms << " ms, hide every " << h.hide_every << " by "
               << static_cast<int>(h.hide) << ", min-fixes " << h.min_fixes;
}

// Cycle k is written at (k + 1) s + 100 ms (its truth: base_second + k, in
// options_at()'s realtime) and names the truth plus the fault.
ByteSchedule hostile_schedule(const Hostile& h) {
    const std::int64_t byte_ns = byte_time_ns(9600);
    ByteSchedule schedule;
    for (int k = 0; k < h.good + h.faulty; ++k) {
        const std::int64_t fault =
            k < h.good ? 0 : h.step_ns + h.rate_ns * static_cast<std::int64_t>(k - h.good);
        const timespec named = timespec_add(at(base_second + k), fault);
        const Named n = name_of(named.tv_sec, static_cast<int>(named.tv_nsec / (10 * ms)));
        std::string cycle;
        if (h.hide_every > 0 && k % h.hide_every == h.hide_every - 1) {
            switch (h.hide) {
            case Hide::no_fix:
                cycle = rmc(n.hms, n.dmy, false) + gga(n.hms, false);
                break;
            case Hide::gga_quality_0:
                cycle = rmc(n.hms, n.dmy, true) + gga(n.hms, false);
                break;
            case Hide::disagreeing:
                cycle = rmc(n.hms, n.dmy, true) + gga(name_of(named.tv_sec + 1).hms, true);
                break;
            }
        } else {
            cycle = rmc(n.hms, n.dmy) + gga(n.hms);
        }
        schedule.write((k + 1) * s + 100 * ms, cycle + gsv_padding(300), byte_ns);
    }
    return schedule;
}

struct Judged {
    std::int64_t worst_ns = 0; // the largest |error| published
    int before = 0;            // samples published from the good cycles
    int after = 0;             // and from the faulty ones
};

Judged judge(const Hostile& h, const std::vector<Sample>& samples) {
    Judged judged;
    for (const Sample& sample : samples) {
        const std::int64_t stamped =
            timespec_diff_ns(sample.receive_time, options_at().realtime_epoch);
        const std::int64_t k = stamped / s - 1;
        const std::int64_t error = timespec_diff_ns(sample.reference_time, at(base_second + k));
        judged.worst_ns = std::max<std::int64_t>(judged.worst_ns, std::llabs(error));
        (k < h.good ? judged.before : judged.after) += 1;
    }
    return judged;
}

} // namespace

namespace {

// Good cycles before the fault that always publish some: min-fixes in a
// row, twice, whatever the refused cycles among them.
int good_enough_to_publish(const Hostile& h) {
    return 2 * (h.min_fixes + std::max(h.hide_every, 1));
}

// Issue 18, Done-when 1: no sample 0.1 s or more off, and samples from the
// good cycles before the fault when there were enough of them.
void check_never_off(const Hostile& h) {
    INFO(h);
    const Run run = run_core(hostile_schedule(h), h.min_fixes);
    const Judged judged = judge(h, run.samples);
    CHECK(judged.worst_ns < 100 * ms);
    if (h.good >= good_enough_to_publish(h)) {
        CHECK(judged.before > 0);
    }
}

} // namespace

TEST_CASE("issue 18: a walk hidden by refused cycles is never published 0.1 s off") {
    std::vector<Hostile> variants;
    for (const Hide hide : {Hide::no_fix, Hide::gga_quality_0, Hide::disagreeing}) {
        for (const int every : {0, 2, 3, 4, 5, 7}) {
            for (const std::int64_t rate :
                 {120 * ms, -120 * ms, 50 * ms, 90 * ms, 300 * ms, 30 * ms, 1240 * ms}) {
                for (const int good : {0, 10, 30}) {
                    for (const int min_fixes : {1, 3}) {
                        variants.push_back(Hostile{good, 60, rate, 0, every, hide, min_fixes});
                    }
                }
            }
        }
    }
    for (const Hostile& h : variants) {
        check_never_off(h);
    }
}

TEST_CASE("issue 18: the walk of the report, cycle k naming T + k + 0.12 k, V every 4th") {
    const Hostile h{0, 40, 120 * ms, 0, 4, Hide::no_fix, 3};
    const Run run = run_core(hostile_schedule(h), 3);
    // Cycle 2 is 0.24 s off when min-fixes would be reached: nothing.
    CHECK(run.samples.empty());
    // With good cycles before it: those are published, the walk is not.
    const Hostile late{30, 40, 120 * ms, 0, 4, Hide::no_fix, 3};
    const Run after = run_core(hostile_schedule(late), 3);
    const Judged judged = judge(late, after.samples);
    // V every 4th restarts the count of min-fixes: one good cycle in four.
    CHECK(judged.before >= 6);
    // Cycle 30, the walk's first, is still right; none after it.
    CHECK(judged.after <= 1);
    CHECK(judged.worst_ns == 0);
}

TEST_CASE("issue 18: a step after good cycles with refused cycles mixed in is not believed") {
    for (const std::int64_t step : {-1 * s, 1 * s, -2 * s, 3600 * s, -500 * ms, 200 * ms}) {
        for (const Hide hide : {Hide::no_fix, Hide::gga_quality_0, Hide::disagreeing}) {
            for (const int every : {0, 3, 4}) {
                for (const int good : {10, 30}) {
                    for (const int min_fixes : {1, 2, 3}) {
                        const Hostile h{good, 120, 0, step, every, hide, min_fixes};
                        INFO(h);
                        const Run run = run_core(hostile_schedule(h), min_fixes);
                        const Judged judged = judge(h, run.samples);
                        CHECK(judged.worst_ns < 100 * ms);
                        CHECK(judged.before > 0);
                        CHECK(judged.after == 0);
                        CHECK(std::count(run.outcomes.begin(), run.outcomes.end(), K::probation) >
                              0);
                    }
                }
            }
        }
    }
}

TEST_CASE("issue 18: walks and steps drawn at random are never published 0.1 s off") {
    // Variants in no list (issue 18, Done-when 5): a seed of its own each
    // run, shown with any failure; SHMREFCLOCK_TEST_SEED=N repeats a run.
    // The ranges are what the timeline must catch: walks of 20 to 1500 ms a
    // second (over its 1000 ppm), steps of 100 ms (twice its 50 ms
    // tolerance) to an hour, either way.
    const char* given = std::getenv("SHMREFCLOCK_TEST_SEED");
    const std::uint64_t seed =
        given != nullptr ? std::strtoull(given, nullptr, 10) : std::random_device{}();
    INFO("SHMREFCLOCK_TEST_SEED=" << seed);
    std::mt19937_64 rng(seed);
    const auto pick = [&](std::int64_t low, std::int64_t high) {
        return std::uniform_int_distribution<std::int64_t>(low, high)(rng);
    };
    for (int i = 0; i < 200; ++i) {
        Hostile h;
        h.good = static_cast<int>(pick(0, 40));
        h.faulty = static_cast<int>(pick(5, 80));
        const std::int64_t sign = pick(0, 1) == 0 ? -1 : 1;
        if (pick(0, 1) == 0) {
            h.rate_ns = sign * pick(20, 1500) * ms;
        } else {
            h.step_ns = sign * (pick(0, 1) == 0 ? pick(100, 999) * ms : pick(1, 3600) * s);
        }
        h.hide_every = static_cast<int>(pick(1, 7)); // none, or one in 2 to 7
        if (h.hide_every == 1) {
            h.hide_every = 0;
        }
        h.hide = static_cast<Hide>(pick(0, 2));
        h.min_fixes = static_cast<int>(pick(1, 3));
        if (h.step_ns != 0) {
            // A step before anything was published is a receiver wrong
            // from the start, which nothing but the witness can tell: the
            // step comes after the cycles that publish (as in the list
            // above).
            h.good = std::max(h.good, good_enough_to_publish(h));
        }
        check_never_off(h);
    }
}

TEST_CASE("issue 18: the default probation, on a simulated clock: 10 minutes, then believed") {
    // A receiver that corrects itself by -1 s for good (a leap count learnt
    // after a cold start): late, never wrong -- and believed in the end.
    const Hostile h{30, 700, 0, -1 * s, 4, Hide::no_fix, 3};
    NmeaCore core = make_core(9600, 3);
    std::vector<CycleOutcome> outcomes;
    core.on_cycle([&](const CycleOutcome& o) { outcomes.push_back(o); });
    const auto events = replay(core, hostile_schedule(h), options_at());
    const auto samples = published(events);
    CHECK(default_step_probation_ns == 600 * s);
    // The first cycle after the fault is 30 (written at 31.1 s): believed
    // 600 s after the second cycle of the new timeline, 31 (k = 31).
    std::optional<std::int64_t> first_after;
    for (const Sample& sample : samples) {
        const std::int64_t k =
            timespec_diff_ns(sample.receive_time, options_at().realtime_epoch) / s - 1;
        if (k >= h.good) {
            first_after = first_after ? *first_after : k;
            CHECK(timespec_diff_ns(sample.reference_time, at(base_second + k)) == -1 * s);
        }
    }
    REQUIRE(first_after);
    CHECK(*first_after >= h.good + 600);
    CHECK(*first_after <= h.good + 605);
    const auto probation = core.activity().cycles.at(static_cast<std::size_t>(K::probation));
    CHECK(probation > 400);
    const auto logged = warnings(events);
    CHECK(std::count_if(logged.begin(), logged.end(), [](const std::string& text) {
              return text.find("not published during a probation of 600 s") != std::string::npos;
          }) == 1);
    CHECK(std::count_if(logged.begin(), logged.end(), [](const std::string& text) {
              return text.find("believed after its probation of 600 s") != std::string::npos;
          }) == 1);
    CHECK(name(K::probation) == "probation");
}

TEST_CASE("issue 18: a short step-probation ends; the witness ends it at once") {
    Hostile h{30, 60, 0, -1 * s, 0, Hide::no_fix, 3};
    NmeaSettings settings{"test", 9600, 3, floor_date};
    settings.step_probation_ns = 20 * s;
    {
        NmeaCore core(settings);
        const Judged judged = judge(h, published(replay(core, hostile_schedule(h), options_at())));
        CHECK(judged.after >= 35);
        CHECK(judged.after <= 40);
    }
    // The receiver was a second ahead from the start (nothing could tell)
    // and corrects itself at cycle 30; the kernel is synchronized from
    // 40 s on and vouches for the correction: believed then.
    ByteSchedule schedule;
    for (int k = 0; k < 90; ++k) {
        const time_t named = base_second + k + (k < 30 ? 1 : 0);
        schedule.write((k + 1) * s + 100 * ms, make_cycle(named), byte_time_ns(9600));
    }
    settings.step_probation_ns = default_step_probation_ns;
    NmeaCore core(settings);
    ReplayOptions options = options_at();
    options.kernel_clock = [](std::int64_t monotonic_ns) {
        KernelClock kernel;
        kernel.synchronized = monotonic_ns >= 40 * s;
        kernel.maxerror_ns = 20 * ms;
        return kernel;
    };
    const auto events = replay(core, schedule, options);
    const auto samples = published(events);
    std::vector<std::int64_t> corrected;
    for (const Sample& sample : samples) {
        const std::int64_t k =
            timespec_diff_ns(sample.receive_time, options.realtime_epoch) / s - 1;
        if (k >= 30) {
            CHECK(sample.reference_time.tv_sec == base_second + k);
            corrected.push_back(k);
        }
    }
    REQUIRE_FALSE(corrected.empty());
    // Cycle 39 is the first written after 40 s.
    CHECK(corrected.front() == 39);
    const auto logged = warnings(events);
    CHECK(std::count_if(logged.begin(), logged.end(), [](const std::string& text) {
              return text.find("because the synchronized kernel clock agrees") != std::string::npos;
          }) == 1);
}

TEST_CASE("issue 18: a reopen keeps the timeline; a restart silence compares whole seconds") {
    // Silence of 90 s (a receiver unplugged, restarted), then back on the
    // same timeline give or take 0.3 s (another latency): believed after
    // min-fixes. One second off: a step, on probation.
    for (const std::int64_t back : {0 * ms, 300 * ms, -1 * s, 2 * s}) {
        INFO("back " << back / ms << " ms off");
        ByteSchedule schedule;
        for (int k = 0; k < 130; ++k) {
            if (k >= 20 && k < 110) {
                continue;
            }
            const timespec named = timespec_add(at(base_second + k), k >= 110 ? back : 0);
            schedule.write(
                (k + 1) * s + 100 * ms,
                make_cycle(named.tv_sec, 300, true, static_cast<int>(named.tv_nsec / (10 * ms))),
                byte_time_ns(9600));
        }
        const Run run = run_core(schedule, 3);
        int after = 0;
        for (const Sample& sample : run.samples) {
            const std::int64_t k =
                timespec_diff_ns(sample.receive_time, options_at().realtime_epoch) / s - 1;
            after += k >= 110 ? 1 : 0;
        }
        CHECK(after == (std::llabs(back) < 500 * ms ? 18 : 0));
    }
    // Under a minute of silence: the same timeline goes on at once, a
    // step is a step.
    for (const time_t back : {0, -1}) {
        ByteSchedule schedule;
        for (int k = 0; k < 80; ++k) {
            if (k >= 20 && k < 50) {
                continue;
            }
            schedule.write((k + 1) * s + 100 * ms,
                           make_cycle(base_second + k + (k >= 50 ? back : 0)), byte_time_ns(9600));
        }
        CHECK(run_core(schedule, 3).samples.size() == (back == 0 ? 18 + 30 : 18));
    }
}

TEST_CASE("issue 18: a witness that refuses for long does not age the timeline into a step") {
    // The synchronized kernel refuses a receiver a second ahead for 20
    // minutes: the cycles stay on the believed timeline (anchored though
    // refused), so no probation starts when the timeline would have been
    // older than Timeline::judge_span_ns.
    ByteSchedule schedule;
    for (int k = 0; k < 1200; ++k) {
        schedule.write((k + 1) * s + 100 * ms, make_cycle(base_second + k + 1), byte_time_ns(9600));
    }
    NmeaCore core = make_core(9600, 3);
    ReplayOptions options = options_at();
    options.kernel_clock = [](std::int64_t) {
        KernelClock kernel;
        kernel.synchronized = true;
        kernel.maxerror_ns = 10 * ms;
        return kernel;
    };
    const auto samples = published(replay(core, schedule, options));
    CHECK(samples.empty());
    const auto& cycles = core.activity().cycles;
    CHECK(cycles.at(static_cast<std::size_t>(K::witness)) == 1198);
    CHECK(cycles.at(static_cast<std::size_t>(K::probation)) == 0);
    CHECK(cycles.at(static_cast<std::size_t>(K::jumped)) == 0);
}

TEST_CASE("issue 18: a reload carries the timeline: a step is not believed after it") {
    Check check(3);
    for (int k = 0; k < 10; ++k) {
        check.add(at(1000 + k), mono(1000 + k));
    }
    // The receiver steps a second back, and the configuration is reloaded
    // (with another min-fixes): the new timeline is still on probation.
    CHECK(check.add(at(1010), mono(1011)) == Verdict::jumped);
    Timeline reloaded(2, 30 * ns_per_s);
    reloaded.carry_from(check.timeline);
    CHECK(reloaded.consecutive() == 0);
    CHECK(reloaded.add(at(1011), mono(1012)).verdict == Verdict::probation);
    CHECK(reloaded.on_probation());
    CHECK(reloaded.probation_ns() == 30 * ns_per_s);
    // Back on the believed timeline: min-fixes (2) cycles, then published.
    CHECK(reloaded.add(at(1013), mono(1013)).verdict == Verdict::acquiring);
    CHECK(reloaded.add(at(1014), mono(1014)).verdict == Verdict::publish);
}

TEST_CASE("issue 23: 2, 5 and 10 Hz receivers publish whole seconds from the first one on") {
    // The stream starts at each of a receiver's sub-second cycles in turn
    // (a 2 Hz receiver's first cycle at .5 s was published, and with
    // decode's timing the next whole second was then refused). Every cycle
    // is judged by the timeline; one sample a second, each a whole second,
    // the first at the first whole second after min-fixes seconds, and
    // nothing refused but acquiring and the sub-second cycles.
    for (const int hz : {2, 5, 10}) {
        for (int first = 0; first < hz; ++first) {
            for (const int min_fixes : {1, 3}) {
                INFO(hz << " Hz, first cycle " << first << "/" << hz << ", min-fixes "
                        << min_fixes);
                const std::int64_t byte_ns = byte_time_ns(115200);
                ByteSchedule schedule;
                const int cycles = 6 * hz;
                for (int k = first; k < first + cycles; ++k) {
                    const int centis = k % hz * 100 / hz;
                    schedule.write(s + k * (s / hz) + 20 * ms,
                                   make_cycle(base_second + k / hz, 100, true, centis), byte_ns);
                }
                const Run run = run_core(schedule, min_fixes, 115200);
                REQUIRE(run.outcomes.size() == static_cast<std::size_t>(cycles));
                // min-fixes counts seconds (the timeline's acquisition; a
                // second's later cycles add nothing): the first whole second
                // at which min-fixes seconds have been seen, the partial
                // first second among them.
                const int first_published = std::max(min_fixes - 1, first > 0 ? 1 : 0) * hz;
                std::vector<time_t> expected;
                for (int k = first_published; k < first + cycles; k += hz) {
                    expected.push_back(base_second + k / hz);
                }
                CHECK(seconds_of(run.samples) == expected);
                for (const Sample& sample : run.samples) {
                    CHECK(sample.reference_time.tv_nsec == 0);
                }
                for (std::size_t i = 0; i < run.outcomes.size(); ++i) {
                    const int k = first + static_cast<int>(i);
                    const K outcome = run.outcomes[i];
                    if (k % hz == 0 && k >= first_published) {
                        CHECK(outcome == K::published);
                    } else {
                        CHECK((outcome == K::acquiring || outcome == K::sub_second));
                    }
                }
            }
        }
    }
}

TEST_CASE("issue 23: a 1 Hz receiver whose times are not whole publishes every second") {
    // SiRF's .809, the GP-320FW's .02 (gpsd's haicom-305N and gp-320fw
    // captures): each cycle a second after the last is published; only a
    // first cycle, or the first after a silence, could be a faster
    // receiver's and waits for the next.
    for (const int centis : {2, 42, 80}) {
        for (const int min_fixes : {1, 3}) {
            INFO("." << centis << ", min-fixes " << min_fixes);
            ByteSchedule schedule;
            for (int k = 0; k < 30; ++k) {
                if (k >= 10 && k < 20) {
                    continue; // 10 s of silence
                }
                schedule.write((k + 1) * s + centis * 10 * ms + 100 * ms,
                               make_cycle(base_second + k, 300, true, centis), byte_time_ns(9600));
            }
            const Run run = run_core(schedule, min_fixes);
            // Of 20 cycles: the first (min-fixes 1) or the first two
            // (min-fixes 3: acquiring) of the first run, and the first after
            // the silence (10 s is too short for a fresh acquisition).
            const std::size_t lost = (min_fixes == 1 ? 1 : 2) + 1;
            CHECK(run.samples.size() == 20 - lost);
            for (const Sample& sample : run.samples) {
                CHECK(sample.reference_time.tv_nsec == centis * 10 * ms);
            }
        }
    }
}
