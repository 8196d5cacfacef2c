// The rules that decide whether an NMEA cycle's time is published: the
// cycle check alone, then the whole core driven by generated line timings
// (core/nmea_replay.hpp) with no fd, timer or thread.
#include <catch2/catch.hpp>

#include "core/nmea_core.hpp"

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

// ---------------------------------------------------------------------------
// The core, driven by byte schedules.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

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

// A u-blox style reporting cycle for POSIX second `second` (+ `centis`
// hundredths): RMC, GGA, then at least `padding` bytes of whole GSV
// sentences, which bear no time; checksums right.
std::string make_cycle(time_t second, std::size_t padding = 300, bool fix = true, int centis = 0) {
    const std::chrono::sys_seconds t{std::chrono::seconds{second}};
    const auto day = std::chrono::floor<std::chrono::days>(t);
    const std::chrono::year_month_day date{day};
    const std::chrono::hh_mm_ss tod{t - day};
    char hms[16], dmy[16];
    std::snprintf(hms, sizeof hms, "%02d%02d%02d.%02d", static_cast<int>(tod.hours().count()),
                  static_cast<int>(tod.minutes().count()), static_cast<int>(tod.seconds().count()),
                  centis % 100);
    std::snprintf(dmy, sizeof dmy, "%02u%02u%02d", static_cast<unsigned>(date.day()),
                  static_cast<unsigned>(date.month()), static_cast<int>(date.year()) % 100);
    std::string cycle = sentence(std::string("GNRMC,") + hms + (fix ? ",A," : ",V,") +
                                 "4807.038,N,01131.000,E,0.1,0.0," + dmy + ",,,A");
    cycle += sentence(std::string("GNGGA,") + hms + ",4807.038,N,01131.000,E," + (fix ? "1" : "0") +
                      ",08,0.9,545.4,M,46.9,M,,");
    const std::string gsv =
        sentence("GPGSV,3,1,12,01,40,083,46,02,17,308,41,12,07,344,39,14,22,228,45");
    for (std::size_t added = 0; added < padding; added += gsv.size()) {
        cycle += gsv;
    }
    return cycle;
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

TEST_CASE("core: a jump is refused and re-acquired over min-fixes cycles") {
    const std::int64_t byte_ns = byte_time_ns(9600);
    ByteSchedule schedule;
    const time_t reported[] = {0, 1, 2, 4, 5, 6, 7}; // the 4th cycle jumps a second
    for (int k = 0; k < 7; ++k) {
        schedule.write((k + 1) * s, make_cycle(base_second + reported[k]), byte_ns);
    }
    NmeaCore core = make_core(9600, 2);
    std::vector<CycleOutcome::Kind> outcomes;
    core.on_cycle([&](const CycleOutcome& o) { outcomes.push_back(o.kind); });
    const auto samples = published(replay(core, schedule, options_at()));
    using K = CycleOutcome::Kind;
    CHECK(outcomes == std::vector<K>{K::acquiring, K::published, K::published, K::jumped,
                                     K::published, K::published, K::published});
    REQUIRE(samples.size() == 5);
    CHECK(samples[2].reference_time.tv_sec == base_second + 5);
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
    const auto events = replay(core, schedule, options_at());
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
        // second: there is always a quiet gap of more than 150 ms.
        const std::size_t max_bytes = static_cast<std::size_t>(600 * ms / byte_ns);
        const std::int64_t latency_max = 2 * ms;
        ByteSchedule schedule;
        std::vector<std::int64_t> first_byte;
        const int cycles = 50;
        for (int k = 0; k < cycles; ++k) {
            const std::size_t padding = random() % std::max<std::size_t>(1, max_bytes - 200);
            const std::int64_t start = (k + 1) * s + static_cast<std::int64_t>(random() % 150) * ms;
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
