// UBX in the nmea source's core (core/ubx_epoch.hpp, issue 21): epochs framed
// and stamped like NMEA cycles, UTC published only when the receiver says it
// knows the leap-second count, NMEA on the same stream gated by the same
// word, and `decode` on the u-blox captures of tests/data/ubx. Frames are
// built from u-blox's interface descriptions (tests/unit/ubx_test_frames.hpp);
// the captures' expected seconds are computed here from their frames.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/nmea_core.hpp"
#include "core/nmea_replay.hpp"
#include "core/ubx_frame.hpp"
#include "core/ubx_messages.hpp"
#include "test_data_dir.hpp"
#include "tools/decode.hpp"
#include "ubx_test_frames.hpp"

using namespace shmrefclock;
using ubx_test::Bytes;
using ubx_test::frame;
using ubx_test::put;
using ubx_test::sentence;
using K = CycleOutcome::Kind;

namespace {

constexpr std::int64_t s = ns_per_s;
constexpr std::int64_t ms = 1'000'000;
// 2026-11-21T12:00:00Z.
constexpr std::int64_t base_second = 1795262400;
constexpr std::int64_t gps_epoch = 315964800; // 1980-01-06T00:00:00Z
constexpr std::int64_t gps_minus_utc = 18;    // since 2017-01-01
const std::chrono::year_month_day floor_date = std::chrono::year{2026} / 11 / 1;

struct Civil {
    int year;
    unsigned month, day, hour, minute, second;
};
Civil civil(std::int64_t posix) {
    const std::chrono::sys_seconds t{std::chrono::seconds{posix}};
    const auto day = std::chrono::floor<std::chrono::days>(t);
    const std::chrono::year_month_day date{day};
    const std::chrono::hh_mm_ss tod{t - day};
    return {static_cast<int>(date.year()),
            static_cast<unsigned>(date.month()),
            static_cast<unsigned>(date.day()),
            static_cast<unsigned>(tod.hours().count()),
            static_cast<unsigned>(tod.minutes().count()),
            static_cast<unsigned>(tod.seconds().count())};
}
// GPS time of week (ms) and week of UTC second `posix`.
std::uint32_t itow_ms(std::int64_t posix) {
    return static_cast<std::uint32_t>((posix - gps_epoch + gps_minus_utc) % 604800 * 1000);
}
std::uint16_t week(std::int64_t posix) {
    return static_cast<std::uint16_t>((posix - gps_epoch + gps_minus_utc) / 604800);
}

// NAV-TIMEUTC (0x01 0x21, 20 bytes): iTOW 0, tAcc 4, nano 8, year 12,
// month 14, day 15, hour 16, min 17, sec 18, valid 19 (validTOW 0x01,
// validWKN 0x02, validUTC 0x04).
std::string timeutc(std::int64_t posix, std::uint8_t valid, std::int32_t nano = 321'000,
                    std::uint32_t t_acc_ns = 25, std::size_t extra_bytes = 0) {
    Bytes p(20 + extra_bytes);
    const Civil c = civil(posix);
    put(p, 0, itow_ms(posix), 4);
    put(p, 4, t_acc_ns, 4);
    put(p, 8, static_cast<std::uint32_t>(nano), 4);
    put(p, 12, static_cast<std::uint32_t>(c.year), 2);
    p[14] = static_cast<std::uint8_t>(c.month);
    p[15] = static_cast<std::uint8_t>(c.day);
    p[16] = static_cast<std::uint8_t>(c.hour);
    p[17] = static_cast<std::uint8_t>(c.minute);
    p[18] = static_cast<std::uint8_t>(c.second);
    p[19] = valid;
    return frame(0x01, 0x21, p);
}
// NAV-TIMEGPS (0x01 0x20, 16 bytes): iTOW 0, fTOW 4, week 8, leapS 10,
// valid 11 (towValid 0x01, weekValid 0x02, leapSValid 0x04), tAcc 12. The
// GPS time of UTC second `posix` with the true count; `leap_s` as reported.
std::string timegps(std::int64_t posix, std::uint8_t valid, int leap_s = gps_minus_utc,
                    std::uint32_t t_acc_ns = 25) {
    Bytes p(16);
    put(p, 0, itow_ms(posix), 4);
    put(p, 8, week(posix), 2);
    p[10] = static_cast<std::uint8_t>(leap_s);
    p[11] = valid;
    put(p, 12, t_acc_ns, 4);
    return frame(0x01, 0x20, p);
}
// NAV-PVT (0x01 0x07, 92 bytes): iTOW 0, year 4, month 6, day 7, hour 8,
// min 9, sec 10, valid 11 (validDate 0x01, validTime 0x02, fullyResolved
// 0x04), tAcc 12, nano 16, fixType 20, flags 21 (gnssFixOK 0x01).
std::string pvt(std::int64_t posix, std::uint8_t valid = 0x07, std::uint8_t fix_type = 3,
                std::uint32_t t_acc_ns = 25) {
    Bytes p(92);
    const Civil c = civil(posix);
    put(p, 0, itow_ms(posix), 4);
    put(p, 4, static_cast<std::uint32_t>(c.year), 2);
    p[6] = static_cast<std::uint8_t>(c.month);
    p[7] = static_cast<std::uint8_t>(c.day);
    p[8] = static_cast<std::uint8_t>(c.hour);
    p[9] = static_cast<std::uint8_t>(c.minute);
    p[10] = static_cast<std::uint8_t>(c.second);
    p[11] = valid;
    put(p, 12, t_acc_ns, 4);
    p[20] = fix_type;
    p[21] = fix_type == 0 ? 0x00 : 0x01;
    return frame(0x01, 0x07, p);
}
// TIM-TP (0x0D 0x01, 16 bytes): towMS 0, towSubMS 4, qErr 8, week 12,
// flags 14 (timeBase UTC 0x01, UTC available 0x02, qErrInvalid 0x10,
// TpNotLocked 0x20), refInfo 15 (timeRefGnss: 0 GPS). The pulse at UTC
// second `pulse`, in UTC (utc) or GPS time.
std::string tim_tp(std::int64_t pulse, std::int32_t q_err_ps, std::uint8_t flags, bool utc = true) {
    Bytes p(16);
    const std::int64_t since = pulse - gps_epoch + (utc ? 0 : gps_minus_utc);
    put(p, 0, static_cast<std::uint64_t>(since % 604800 * 1000), 4);
    put(p, 8, static_cast<std::uint32_t>(q_err_ps), 4);
    put(p, 12, static_cast<std::uint64_t>(since / 604800), 2);
    p[14] = flags;
    return frame(0x0D, 0x01, p);
}
// NAV-SAT (0x01 0x35): not decoded, only a frame in the epoch.
std::string nav_sat(std::int64_t posix) {
    Bytes p(8 + 12 * 20);
    put(p, 0, itow_ms(posix), 4);
    return frame(0x01, 0x35, p);
}
// NMEA RMC and GGA for UTC second `posix`.
std::string nmea_cycle(std::int64_t posix, bool fix = true) {
    const Civil c = civil(posix);
    char hms[16], dmy[16];
    std::snprintf(hms, sizeof hms, "%02u%02u%02u.00", c.hour, c.minute, c.second);
    std::snprintf(dmy, sizeof dmy, "%02u%02u%02d", c.day, c.month, c.year % 100);
    return sentence(std::string("GNRMC,") + hms + (fix ? ",A," : ",V,") +
                    "4807.038,N,01131.000,E,0.1,0.0," + dmy + ",,,A") +
           sentence(std::string("GNGGA,") + hms + ",4807.038,N,01131.000,E," + (fix ? "1" : "0") +
                    ",08,0.9,545.4,M,46.9,M,,");
}

struct Run {
    std::vector<ReplayEvent> events;
    std::vector<CycleOutcome> outcomes;
    std::vector<Sample> samples;
    std::vector<std::string> warnings;
    ubx::FrameCounters frames;
    // The core's pulse label as each cycle ended.
    std::vector<std::optional<PulseLabel>> labels;
    // The receiver's health the core shows as each cycle ended.
    std::vector<std::optional<UbxReceiver>> receivers;
    // The accuracy published with each sample.
    std::vector<std::optional<std::int64_t>> accuracies;
    // The core's pulse label after the last byte.
    std::optional<PulseLabel> last_label;
};

// Epoch k (UTC second base_second + k) written at (k + 1) s + 40 ms, at
// 115200 Bd; monotonic 0 is realtime base_second - 1 s.
Run run_schedule(const ByteSchedule& schedule, int min_fixes = 3);

template <typename Epoch> Run run_epochs(int count, Epoch&& epoch, int min_fixes = 3) {
    ByteSchedule schedule;
    const std::int64_t byte_ns = byte_time_ns(115200);
    for (int k = 0; k < count; ++k) {
        schedule.write((k + 1) * s + 40 * ms, epoch(k, base_second + k), byte_ns);
    }
    return run_schedule(schedule, min_fixes);
}

// The bytes of `schedule` through a core at 115200 Bd.
Run run_schedule(const ByteSchedule& schedule, int min_fixes) {
    NmeaCore core(NmeaSettings{"test", 115200, min_fixes, floor_date});
    Run run;
    core.on_cycle([&](const CycleOutcome& o) {
        run.outcomes.push_back(o);
        run.labels.push_back(core.pulse_label());
        run.receivers.push_back(core.receiver());
    });
    ReplayOptions options;
    options.realtime_epoch = timespec{base_second - 1, 0};
    run.events = replay(core, schedule, options);
    for (const ReplayEvent& event : run.events) {
        if (event.kind == ReplayEvent::Kind::published) {
            run.samples.push_back(event.sample);
            run.accuracies.push_back(event.accuracy_ns);
        } else if (event.kind == ReplayEvent::Kind::logged &&
                   event.message.level == MessageLevel::warn) {
            run.warnings.push_back(event.message.text);
        }
    }
    run.frames = core.frame_counters();
    run.last_label = core.pulse_label();
    return run;
}

std::vector<std::int64_t> seconds_of(const Run& run) {
    std::vector<std::int64_t> seconds;
    for (const Sample& sample : run.samples) {
        seconds.push_back(sample.reference_time.tv_sec);
    }
    return seconds;
}

std::vector<std::int64_t> range(std::int64_t from, std::int64_t to) {
    std::vector<std::int64_t> out;
    for (std::int64_t k = from; k < to; ++k) {
        out.push_back(base_second + k);
    }
    return out;
}

std::size_t count_containing(const std::vector<std::string>& texts, const std::string& part) {
    return static_cast<std::size_t>(std::count_if(texts.begin(), texts.end(), [&](const auto& t) {
        return t.find(part) != std::string::npos;
    }));
}

} // namespace

TEST_CASE("UBX epochs with the leap count known: published, stamped at their first byte", "[ubx]") {
    const Run run = run_epochs(
        6, [](int, std::int64_t t) { return timegps(t, 0x07) + timeutc(t, 0x07) + nav_sat(t); });
    CHECK(seconds_of(run) == range(2, 6));
    for (const Sample& sample : run.samples) {
        // Written 40 ms after the second; the first byte of the epoch is
        // readable one byte time later.
        const std::int64_t late = timespec_diff_ns(sample.receive_time, sample.reference_time);
        CHECK(late == 40 * ms + byte_time_ns(115200));
        // NAV-TIMEUTC's nano (+321 us) is rounded to the millisecond: a
        // whole second.
        CHECK(sample.reference_time.tv_nsec == 0);
    }
    REQUIRE(run.outcomes.size() == 6);
    CHECK(run.outcomes.back().time->name() == "NAV-TIMEUTC");
    CHECK(run.frames.good == 12);
    CHECK(run.frames.unknown == 6);
    for (const std::string& warning : run.warnings) {
        // Only the end of the replay: no epoch for 2 s.
        if (warning.find("withdrawing the sample") == std::string::npos) {
            FAIL_CHECK(warning);
        }
    }
}

TEST_CASE("UBX: NAV-TIMEGPS alone names UTC as GPS time - leapS", "[ubx]") {
    const Run run = run_epochs(4, [](int, std::int64_t t) { return timegps(t, 0x07); });
    CHECK(seconds_of(run) == range(2, 4));
    CHECK(run.outcomes.back().time->name() == "NAV-TIMEGPS");
}

TEST_CASE("UBX: the receiver's tAcc goes with its sample, and its health is shown", "[ubx]") {
    // tAcc from NAV-TIMEUTC where the epoch has one, else NAV-TIMEGPS,
    // else NAV-PVT: the message the time is taken from first (times()).
    // Epochs 0-3 carry all three (TIMEUTC 30 ns, TIMEGPS 4 ms, PVT 2 s);
    // epochs 4-6 only NAV-TIMEGPS (2.5 ms) and NAV-PVT (time only, 7 us).
    const Run run = run_epochs(7, [](int k, std::int64_t t) {
        if (k < 4) {
            return pvt(t, 0x07, 3, 2'000'000'000) + timegps(t, 0x07, gps_minus_utc, 4'000'000) +
                   timeutc(t, 0x07, 0, 30) + tim_tp(t + 1, 0, 0x0B);
        }
        return pvt(t, 0x07, 5, 7'000) + timegps(t, 0x07, gps_minus_utc, 2'500'000);
    });
    CHECK(seconds_of(run) == range(2, 7));
    REQUIRE(run.accuracies.size() == 5);
    CHECK(run.accuracies[0] == 30);
    CHECK(run.accuracies[1] == 30);
    CHECK(run.accuracies[2] == 2'500'000);
    CHECK(run.accuracies[4] == 2'500'000);
    REQUIRE(run.receivers.size() == 7);
    REQUIRE(run.receivers[3]);
    const UbxReceiver& all = *run.receivers[3];
    CHECK(all.fix == "3D");
    CHECK(all.leap_count == "known");
    CHECK(all.time_accuracy_s == Approx(30e-9));
    // TIM-TP flags 0x0B: UTC base, UTC available, RAIM 2 (active).
    CHECK(all.tim_tp);
    CHECK(all.pulse_locked);
    CHECK(all.raim_active);
    CHECK(ubx::describe(all) ==
          "3D, leap-second count known, tAcc 30 ns, pulse locked to GNSS, RAIM active");
    REQUIRE(run.receivers[6]);
    const UbxReceiver& timing = *run.receivers[6];
    CHECK(timing.fix == "time only");
    CHECK(timing.time_accuracy_s == Approx(2.5e-3));
    CHECK_FALSE(timing.tim_tp);
    CHECK(ubx::describe(timing) == "time only, leap-second count known, tAcc 2.500 ms, no TIM-TP");
}

TEST_CASE("UBX: a fix without time, and a pulse not locked, in the receiver's health", "[ubx]") {
    // NAV-PVT with gnssFixOK but fix type 1 (dead reckoning only), and a
    // TIM-TP with TpNotLocked (0x20) and RAIM not active (1 << 2).
    const Run run = run_epochs(4, [](int, std::int64_t t) {
        return pvt(t, 0x07, 1) + timeutc(t, 0x07) + tim_tp(t + 1, 0, 0x27);
    });
    CHECK(run.samples.empty());
    REQUIRE(run.receivers.back());
    CHECK(ubx::describe(*run.receivers.back()) ==
          "dead reckoning, leap-second count known, tAcc 25 ns, pulse NOT locked to GNSS, RAIM "
          "not active");
}

TEST_CASE("UBX: leap count not known: withheld with the reason, logged once, then acquired",
          "[ubx]") {
    // The cold start of ublox-glo.log: NAV-TIMEGPS leapS not valid, NAV-PVT
    // fully resolved, and a firmware count 3 s off; then the almanac.
    const Run run = run_epochs(10, [](int k, std::int64_t t) {
        if (k < 5) {
            return timegps(t, 0x03, gps_minus_utc - 3) + pvt(t + 3, 0x07);
        }
        return timegps(t, 0x07) + pvt(t, 0x07);
    });
    CHECK(seconds_of(run) == range(7, 10));
    REQUIRE(run.outcomes.size() == 10);
    for (int k = 0; k < 5; ++k) {
        CHECK(run.outcomes[k].kind == K::leap_unknown);
    }
    CHECK(count_containing(run.warnings, "leap-second count not yet known to the receiver") == 1);
}

TEST_CASE("UBX: validUTC cleared withdraws the sample within the epoch", "[ubx]") {
    // Published from epoch 2; epoch 5 says validUTC no more (a receiver
    // restarted): its sample goes at once, not 2 s after epoch 4.
    const Run run =
        run_epochs(8, [](int k, std::int64_t t) { return timeutc(t, k < 5 ? 0x07 : 0x03); });
    CHECK(seconds_of(run) == range(2, 5));
    std::optional<std::int64_t> withdrawn;
    for (const ReplayEvent& event : run.events) {
        if (event.kind == ReplayEvent::Kind::withdrawn && !withdrawn) {
            withdrawn = event.at_ns;
        }
    }
    REQUIRE(withdrawn);
    // Epoch 5 is written at 6 s + 40 ms, and read in one batch (25 ms) after
    // its last byte, long before epoch 4's sample would go stale (7.04 s).
    CHECK(*withdrawn > 6 * s + 40 * ms);
    CHECK(*withdrawn < 6 * s + 200 * ms);
    CHECK(count_containing(run.warnings, "sample withdrawn") == 1);
}

// UBX-MON-VER (0x0A 0x04) with one extension, e.g. "PROTVER=18.00".
std::string mon_ver(const std::string& extension) {
    Bytes p(40 + 30);
    const std::string sw = "ROM CORE 3.01 (107888)";
    std::copy(sw.begin(), sw.end(), p.begin());
    std::copy(extension.begin(), extension.end(), p.begin() + 40);
    return frame(0x0A, 0x04, p);
}

TEST_CASE("UBX: lengths checked per protocol version", "[ubx]") {
    using ubx::Lengths;
    // The versions whose interface descriptions give the lengths (M8 15-23,
    // F9 27-33, M10 34): exact; any other, or none said: the shared fields.
    for (const int major : {15, 18, 23, 27, 29, 33, 34}) {
        INFO(major);
        CHECK(ubx::length_rule(ubx::ProtocolVersion{major, 0}) == Lengths::exact);
    }
    for (const int major : {14, 24, 26, 50}) {
        INFO(major);
        CHECK(ubx::length_rule(ubx::ProtocolVersion{major, 0}) == Lengths::at_least);
    }
    CHECK(ubx::length_rule(std::nullopt) == Lengths::at_least);
    const Bytes payload(24, 0);
    CHECK(ubx::decode_nav_timeutc(ubx::Payload{payload}, Lengths::at_least));
    CHECK_FALSE(ubx::decode_nav_timeutc(ubx::Payload{payload}, Lengths::exact));
    CHECK(ubx::decode_nav_timeutc(ubx::Payload{payload.data(), 20}, Lengths::exact));
    CHECK_FALSE(ubx::decode_nav_timeutc(ubx::Payload{payload.data(), 19}, Lengths::at_least));

    // Through the core: a NAV-TIMEUTC 4 bytes too long is malformed from a
    // receiver whose MON-VER says protocol 18, and read by its 20 bytes
    // from one that never said or says a version this reader does not know.
    const auto run_with = [](const std::string& first) {
        return run_epochs(6, [&](int k, std::int64_t t) {
            return (k == 0 ? first : std::string()) + timeutc(t, 0x07, 321'000, 25, 4);
        });
    };
    CHECK(run_with(mon_ver("PROTVER=18.00")).samples.empty());
    CHECK(seconds_of(run_with("")) == range(2, 6));
    CHECK(seconds_of(run_with(mon_ver("PROTVER=25.00"))) == range(2, 6));
    // The right length from the protocol 18 receiver is published.
    const Run right = run_epochs(6, [](int k, std::int64_t t) {
        return (k == 0 ? mon_ver("PROTVER=18.00") : std::string()) + timeutc(t, 0x07);
    });
    CHECK(seconds_of(right) == range(2, 6));
}

TEST_CASE("UBX: steps and walks are judged by the timeline as NMEA cycles are", "[ubx]") {
    // Issue 21: "the integrity checks (date rules, continuity, witness)
    // apply to UBX as to NMEA". A receiver a second behind from epoch 8 on
    // (validUTC set throughout): the step is on probation, never published.
    const Run step =
        run_epochs(20, [](int k, std::int64_t t) { return timeutc(k < 8 ? t : t - 1, 0x07); });
    CHECK(seconds_of(step) == range(2, 8));
    CHECK(std::count_if(step.outcomes.begin(), step.outcomes.end(), [](const CycleOutcome& o) {
              return o.kind == CycleOutcome::Kind::probation;
          }) > 0);
    // A walk of 0.12 s a second from epoch 8: nothing published after it.
    const Run walk = run_epochs(16, [](int k, std::int64_t t) {
        const std::int32_t nano = k < 8 ? 0 : static_cast<std::int32_t>((k - 8) * 120 * ms);
        return timeutc(t, 0x07, nano);
    });
    CHECK(seconds_of(walk) == range(2, 9));
    for (const Sample& sample : walk.samples) {
        CHECK(sample.reference_time.tv_nsec < 100 * ms);
    }
}

TEST_CASE("UBX: NAV-TIMEUTC without validUTC is withheld, NAV-TIMEUTC's own word", "[ubx]") {
    const Run run = run_epochs(5, [](int, std::int64_t t) { return timeutc(t, 0x03); });
    CHECK(run.samples.empty());
    for (const CycleOutcome& outcome : run.outcomes) {
        CHECK(outcome.kind == K::leap_unknown);
    }
}

TEST_CASE("UBX: NAV-PVT alone is not enough, however fully resolved", "[ubx]") {
    const Run run = run_epochs(5, [](int, std::int64_t t) { return pvt(t, 0x07); });
    CHECK(run.samples.empty());
    CHECK(count_containing(run.warnings, "enable NAV-TIMEUTC") == 1);
    // With NAV-TIMELS's word from GPS once, NAV-PVT's time is the
    // receiver's: the stream knows the count.
    const Run told = run_epochs(6, [](int k, std::int64_t t) {
        std::string bytes = pvt(t, 0x07);
        if (k == 0) {
            // NAV-TIMELS (0x01 0x26, 24 bytes): version 4 = 0,
            // srcOfCurrLs 8 = 2 (GPS), currLs 9 = 18, valid 23 =
            // validCurrLs 0x01.
            Bytes p(24);
            put(p, 0, itow_ms(t), 4);
            p[8] = 2;
            p[9] = gps_minus_utc;
            p[23] = 0x01;
            bytes += frame(0x01, 0x26, p);
        }
        return bytes;
    });
    CHECK(seconds_of(told) == range(2, 6));
    CHECK(told.outcomes.back().time->name() == "NAV-PVT");
}

TEST_CASE("UBX and NMEA on one stream: the NMEA is gated by the UBX word on the leap count",
          "[ubx]") {
    // NMEA and UBX in each epoch while the count is not known, then NMEA
    // alone (the UBX messages switched off): still the same receiver.
    const Run run = run_epochs(8, [](int k, std::int64_t t) {
        if (k < 3) {
            return timegps(t, 0x03, gps_minus_utc - 2) + nmea_cycle(t + 2);
        }
        return nmea_cycle(t + 2);
    });
    CHECK(run.samples.empty());
    for (const CycleOutcome& outcome : run.outcomes) {
        CHECK(outcome.kind == K::leap_unknown);
    }
    // Told the count, then NMEA only: published.
    const Run known = run_epochs(6, [](int k, std::int64_t t) {
        return k < 1 ? timegps(t, 0x07) + nmea_cycle(t) : nmea_cycle(t);
    });
    CHECK(seconds_of(known) == range(2, 6));
}

TEST_CASE("UBX and NMEA naming different seconds: the cycle is refused", "[ubx]") {
    // A receiver whose binary and NMEA UTC differ by a second contradicts
    // itself: neither is believed.
    const Run run =
        run_epochs(6, [](int, std::int64_t t) { return timeutc(t, 0x07) + nmea_cycle(t + 1); });
    CHECK(run.samples.empty());
    for (const CycleOutcome& outcome : run.outcomes) {
        CHECK(outcome.kind == K::disagreeing);
    }
}

TEST_CASE("UBX: a header claiming 2000 bytes before the NMEA does not hold the cycle back",
          "[ubx]") {
    // 0xB5 0x62 NAV-PVT with a length of 2000 (under the maximum): the
    // framer waits for its payload, the NMEA after it included. When the
    // line goes quiet the frame is not one, and its bytes are read as NMEA
    // in the same cycle.
    const std::string bogus{"\xb5\x62\x01\x07\xd0\x07", 6};
    const Run run = run_epochs(
        6, [&](int k, std::int64_t t) { return (k == 3 ? bogus : std::string()) + nmea_cycle(t); });
    CHECK(seconds_of(run) == range(2, 6));
    CHECK(run.frames.truncated == 1);
}

TEST_CASE("UBX: bad checksums and a 65,535-byte header never publish, the good epochs do",
          "[ubx]") {
    const Run run = run_epochs(8, [](int k, std::int64_t t) {
        std::string good = timeutc(t, 0x07);
        if (k == 4) {
            // The same message naming another second, its checksum broken.
            std::string bad = timeutc(t + 5, 0x07);
            bad[bad.size() - 1] = static_cast<char>(bad.back() ^ 0x55);
            return bad + std::string{"\xb5\x62\x01\x21\xff\xff", 6} + good;
        }
        return good;
    });
    CHECK(seconds_of(run) == range(2, 8));
    CHECK(run.frames.bad_checksum == 1);
    CHECK(run.frames.over_long == 1);
}

TEST_CASE("UBX: TIM-TP labels the next pulse of a published epoch", "[ubx]") {
    // UTC time base, UTC available (0x03): TIM-TP first in each epoch, as
    // in u-blox-m8t-time.log, naming the pulse after the epoch.
    const Run run = run_epochs(5, [](int k, std::int64_t t) {
        return tim_tp(t + 1, 1000 * k - 2000, 0x03) + timeutc(t, 0x07);
    });
    REQUIRE(run.labels.size() == 5);
    for (int k = 0; k < 5; ++k) {
        INFO(k);
        if (run.outcomes[k].kind != K::published) {
            // Acquiring: not the receiver's word yet.
            CHECK_FALSE(run.labels[k]);
            continue;
        }
        REQUIRE(run.labels[k]);
        CHECK(run.labels[k]->second.tv_sec == base_second + k + 1);
        CHECK(run.labels[k]->q_err_ps == 1000 * k - 2000);
        CHECK(timespec_diff_ns(run.labels[k]->announced, run.samples.at(k - 2).receive_time) == 0);
    }
    // GPS time base (flags 0x00): GPS - leapS, with the count the epoch's
    // NAV-TIMEGPS says it knows; qErrInvalid leaves the qErr out.
    const Run gps = run_epochs(
        4, [](int, std::int64_t t) { return tim_tp(t + 1, 500, 0x10, false) + timegps(t, 0x07); });
    REQUIRE(gps.labels.back());
    CHECK(gps.labels.back()->second.tv_sec == base_second + 4);
    CHECK_FALSE(gps.labels.back()->q_err_ps);
    // A UTC base without "UTC available" (0x01): no label.
    const Run none = run_epochs(
        4, [](int, std::int64_t t) { return tim_tp(t + 1, 0, 0x01) + timeutc(t, 0x07); });
    CHECK(seconds_of(none) == range(2, 4));
    CHECK_FALSE(none.labels.back());
    // TpNotLocked (0x20): a label that says so, for the pps refclock to
    // withhold the pulse (PulseVerdict::not_locked); the fix's own samples
    // go on.
    const Run unlocked = run_epochs(
        4, [](int, std::int64_t t) { return tim_tp(t + 1, 0, 0x23) + timeutc(t, 0x07); });
    CHECK(seconds_of(unlocked) == range(2, 4));
    REQUIRE(unlocked.labels.back());
    CHECK_FALSE(unlocked.labels.back()->locked);
    CHECK(unlocked.labels.back()->second.tv_sec == base_second + 4);
    REQUIRE(run.labels.back());
    CHECK(run.labels.back()->locked);
    // An epoch withheld (the leap count not known): no label.
    const Run unknown = run_epochs(
        4, [](int, std::int64_t t) { return tim_tp(t + 1, 0, 0x03) + timeutc(t, 0x03); });
    for (const auto& label : unknown.labels) {
        CHECK_FALSE(label);
    }
}

// In CI a stalled writer delivered an epoch's NMEA 100 ms after its UBX: a
// cycle of its own naming the same second, which took the label with it,
// and the next pulse went out without its qErr.
TEST_CASE("UBX: an epoch's late tail and the cycles between seconds keep the pulse label",
          "[ubx]") {
    const std::int64_t byte_ns = byte_time_ns(115200);
    for (const bool timeless : {false, true}) {
        INFO((timeless ? "a NAV-SAT tail" : "an NMEA tail naming the same second"));
        ByteSchedule schedule;
        for (int k = 0; k < 6; ++k) {
            const std::int64_t t = base_second + k;
            schedule.write((k + 1) * s + 40 * ms, tim_tp(t + 1, 100 * k, 0x03) + timeutc(t, 0x07),
                           byte_ns);
            schedule.write((k + 1) * s + 190 * ms, timeless ? nav_sat(t) : nmea_cycle(t), byte_ns);
        }
        const Run run = run_schedule(schedule);
        REQUIRE(run.outcomes.size() >= 6);
        std::optional<std::int64_t> labelled;
        for (std::size_t i = 0; i < run.outcomes.size(); ++i) {
            INFO(i);
            if (run.outcomes[i].kind == K::published) {
                REQUIRE(run.labels[i]);
                labelled = run.labels[i]->second.tv_sec;
            } else if (labelled) {
                // The same time again: a repeat of the cycle.
                CHECK(run.outcomes[i].kind == K::repeat);
                REQUIRE(run.labels[i]);
                CHECK(run.labels[i]->second.tv_sec == *labelled);
            }
        }
        CHECK(labelled == base_second + 6);
        REQUIRE(run.last_label);
        CHECK(run.last_label->second.tv_sec == base_second + 6);
        CHECK(run.last_label->q_err_ps == 500);
    }
    // A tail with a TIM-TP of its own that is not published (the same
    // time again) is no word of the receiver's: the label goes.
    ByteSchedule schedule;
    for (int k = 0; k < 5; ++k) {
        const std::int64_t t = base_second + k;
        schedule.write((k + 1) * s + 40 * ms, tim_tp(t + 1, 0, 0x03) + timeutc(t, 0x07), byte_ns);
        if (k == 4) {
            schedule.write((k + 1) * s + 190 * ms, tim_tp(t + 1, 0, 0x03) + nmea_cycle(t), byte_ns);
        }
    }
    const Run doubled = run_schedule(schedule);
    REQUIRE(doubled.outcomes.back().kind == K::repeat);
    CHECK_FALSE(doubled.last_label);
    // A 10 Hz receiver: TIM-TP in the epoch before the pulse, which is not
    // published (one sample a second), labels it; the epochs without one
    // keep the label.
    ByteSchedule fast;
    for (int k = 0; k < 40; ++k) {
        // Epoch k at base_second + k / 10 s, written 40 ms after it.
        const std::int64_t t_ms = base_second * 1000 + 100 * k;
        std::string epoch = timeutc(t_ms / 1000, 0x07,
                                    static_cast<std::int32_t>(t_ms % 1000) * 1'000'000 + 321'000);
        if (t_ms % 1000 == 900) {
            epoch = tim_tp(t_ms / 1000 + 1, 7, 0x03) + epoch;
        }
        fast.write((1040 + 100 * k) * ms, epoch, byte_ns);
    }
    const Run ten_hz = run_schedule(fast);
    REQUIRE_FALSE(ten_hz.samples.empty());
    REQUIRE(ten_hz.last_label);
    CHECK(ten_hz.last_label->q_err_ps == 7);
}

TEST_CASE("UBX: NAV-TIMELS announces a leap second on its last UTC day only", "[ubx]") {
    // The receiver names 2026-12-30 23:59:57 .. 2026-12-31 00:00:02 and
    // announces +1 at 2027-01-01 00:00:00 (timeToLsEvent from each epoch):
    // the samples of December 31 carry leap 1 (insert), those of December
    // 30 none. NAV-TIMELS (0x01 0x26, 24 bytes): version 4 = 0,
    // srcOfCurrLs 8 = 2 (GPS), currLs 9, srcOfLsChange 10 = 2, lsChange 11,
    // timeToLsEvent 12 (s), valid 23 = validCurrLs 0x01 |
    // validTimeToLsEvent 0x02.
    constexpr std::int64_t first = 1798675197; // 2026-12-30T23:59:57Z
    constexpr std::int64_t event = 1798761600; // 2027-01-01T00:00:00Z
    const std::int64_t shift = first - base_second;
    const Run run = run_epochs(6, [&](int, std::int64_t t) {
        const std::int64_t named = t + shift;
        Bytes p(24);
        put(p, 0, itow_ms(named), 4);
        p[8] = 2;
        p[9] = gps_minus_utc;
        p[10] = 2;
        p[11] = 1;
        put(p, 12, static_cast<std::uint64_t>(event - named), 4);
        p[23] = 0x03;
        return timeutc(named, 0x07) + frame(0x01, 0x26, p);
    });
    REQUIRE(run.samples.size() == 4);
    for (const Sample& sample : run.samples) {
        const bool december_31 = sample.reference_time.tv_sec >= 1798675200;
        INFO(sample.reference_time.tv_sec);
        CHECK(sample.leap == (december_31 ? Leap::insert : Leap::none));
    }
}

// ---- decode on the captures (issue 21, Done-when 1) ----

namespace {

struct Decoded {
    std::vector<std::string> published; // "2017-...T...Z NAME"
    std::vector<std::string> reasons;   // of the cycles not published
    std::string summary;
};

// An epoch's time, to the millisecond: "YYYY-MM-DDTHH:MM:SS.mmmZ".
std::string format_ms(std::int64_t posix_ms) {
    const std::int64_t second = posix_ms >= 0 ? posix_ms / 1000 : (posix_ms - 999) / 1000;
    const Civil c = civil(second);
    char text[40];
    std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02u:%02u:%02u.%03dZ", c.year, c.month, c.day,
                  c.hour, c.minute, c.second, static_cast<int>(posix_ms - second * 1000));
    return text;
}

// Per navigation epoch of the capture (its NAV frames share an iTOW), the
// UTC that NAV-TIMEUTC names with validUTC, else NAV-TIMEGPS with
// towValid, weekValid and leapSValid (GPS - leapS), to the millisecond:
// worked out here from the fields as u-blox describes them.
std::vector<std::int64_t> leap_known_epochs_ms(const std::string& capture) {
    ubx::Framer framer;
    std::vector<ubx::Item> items = framer.feed(capture);
    for (ubx::Item& item : framer.finish()) {
        items.push_back(std::move(item));
    }
    std::vector<std::int64_t> epochs;
    std::optional<std::uint32_t> epoch;
    std::optional<std::int64_t> from_utc, from_gps;
    auto close = [&] {
        if (from_utc || from_gps) {
            epochs.push_back(from_utc ? *from_utc : *from_gps);
        }
        from_utc.reset();
        from_gps.reset();
    };
    auto u32 = [](const std::vector<std::uint8_t>& b, std::size_t at) {
        return std::uint32_t{b[at]} | std::uint32_t{b[at + 1]} << 8 |
               std::uint32_t{b[at + 2]} << 16 | std::uint32_t{b[at + 3]} << 24;
    };
    auto round_ms = [](std::int64_t ns) {
        return ns >= 0 ? (ns + 500'000) / 1'000'000 : -((-ns + 500'000) / 1'000'000);
    };
    for (const ubx::Item& item : items) {
        // NAV-PVT, -TIMEGPS, -TIMEUTC, -TIMELS: iTOW at offset 0.
        const std::uint8_t id = item.message_id;
        if (item.kind != ubx::Item::Kind::frame || item.message_class != 0x01 ||
            (id != 0x07 && id != 0x20 && id != 0x21 && id != 0x26) || item.bytes.size() < 4) {
            continue;
        }
        const auto& b = item.bytes;
        const std::uint32_t itow = u32(b, 0);
        if (epoch && *epoch != itow) {
            close();
        }
        epoch = itow;
        if (item.message_id == 0x21 && b.size() >= 20 && (b[19] & 0x07) == 0x07) {
            const auto nano = static_cast<std::int32_t>(u32(b, 8));
            const std::int64_t day =
                std::chrono::sys_days{std::chrono::year{b[12] | b[13] << 8} /
                                      std::chrono::month{b[14]} / std::chrono::day{b[15]}}
                    .time_since_epoch()
                    .count();
            from_utc = (day * 86400 + b[16] * 3600 + b[17] * 60 + b[18]) * 1000 + round_ms(nano);
        }
        if (item.message_id == 0x20 && b.size() >= 16 && (b[11] & 0x07) == 0x07) {
            const auto ftow = static_cast<std::int32_t>(u32(b, 4));
            const std::int64_t week = b[8] | b[9] << 8;
            const auto leap = static_cast<std::int8_t>(b[10]);
            from_gps = (gps_epoch - leap + week * 604800) * 1000 + itow + round_ms(ftow);
        }
    }
    close();
    return epochs;
}

Decoded decode_ubx(const std::string& name, std::optional<std::int64_t> day_of = std::nullopt,
                   int baud = 115200) {
    std::istringstream in(ubx_test::read_file(shmrefclock::test::test_data_dir() + "/ubx/" + name));
    std::ostringstream out;
    std::ostringstream summary;
    DecodeOptions options;
    options.json = true;
    options.baud = baud;
    options.summary = &summary;
    if (day_of) {
        // As the capture was taken: its own day is the date rules' today
        // and floor (the hint decode gives for an old capture).
        const std::chrono::sys_days day{std::chrono::floor<std::chrono::days>(
            std::chrono::sys_seconds{std::chrono::seconds{*day_of}})};
        options.system_clock = static_cast<time_t>(*day_of);
        options.not_before = std::chrono::year_month_day{day};
    }
    REQUIRE(decode_capture(in, out, options) == 0);
    Decoded decoded;
    decoded.summary = summary.str();
    std::istringstream lines(out.str());
    std::string line;
    while (std::getline(lines, line)) {
        const auto object = nlohmann::json::parse(line);
        if (object["published"].get<bool>()) {
            decoded.published.push_back(object["time"].get<std::string>() + " " +
                                        object["sentence"].get<std::string>());
        } else {
            decoded.reasons.push_back(object["reason"].get<std::string>());
        }
    }
    return decoded;
}

} // namespace

TEST_CASE("decode on the u-blox captures: only times named with the leap count known",
          "[ubx][captures]") {
    for (const std::string name :
         {"u-blox-m8t-time.log", "ublox-zed-f9p-hp.log", "ublox-aek-4t.log", "ublox-8-time.log",
          "ublox-zed-f9t-ubx_nmea_l5.log", "ublox-neo-m8n.log"}) {
        INFO(name);
        const std::vector<std::int64_t> epochs = leap_known_epochs_ms(ubx_test::capture(name));
        REQUIRE(epochs.size() >= 3);
        const Decoded decoded = decode_ubx(name, epochs.front() / 1000);
        INFO(decoded.summary);
        std::set<std::string> named;
        for (const std::int64_t epoch : epochs) {
            named.insert(format_ms(epoch));
        }
        // Nothing but a time so named, by the message that names it.
        std::set<std::string> published;
        for (const std::string& line : decoded.published) {
            const std::string time = line.substr(0, line.find(' '));
            const std::string message = line.substr(line.find(' ') + 1);
            CHECK(named.count(time) == 1);
            CHECK((message == "NAV-TIMEUTC" || message == "NAV-TIMEGPS"));
            published.insert(time);
        }
        // And every such time the daemon publishes once min-fixes (3)
        // epochs agree: a whole second, or a 1 Hz receiver's epoch a second
        // after the last (the AEK-4T navigates at .999 s).
        for (std::size_t k = 2; k < epochs.size(); ++k) {
            const bool whole = epochs[k] % 1000 == 0;
            const bool a_second_on = epochs[k] - epochs[k - 1] >= 900;
            if (whole || a_second_on) {
                CHECK(published.count(format_ms(epochs[k])) == 1);
            }
        }
        CHECK(!published.empty());
    }
}

TEST_CASE("decode: ublox-glo.log, a cold start, publishes nothing, and says why",
          "[ubx][captures]") {
    // 2023-06-28, the capture's day.
    const Decoded decoded = decode_ubx("ublox-glo.log", 1687963931);
    CHECK(decoded.published.empty());
    REQUIRE(decoded.reasons.size() >= 290);
    for (const std::string& reason : decoded.reasons) {
        CHECK(reason == "leap-second count not yet known to the receiver");
    }
    CHECK(decoded.summary.find("leap-second count not known at the end") != std::string::npos);
}

// The ZED-F9T sends 3.5 kB a second of UBX and NMEA: that fits 57600 Bd,
// but there its NAV-TIMEGPS begins 0.5 s after the epoch's first byte and
// nothing is published. The hint named 57600; it names a rate that works,
// and says why at 57600.
TEST_CASE("decode: the rate a capture's hint names publishes it", "[ubx][captures]") {
    const std::string name = "ublox-zed-f9t-ubx_nmea_l5.log";
    const std::vector<std::int64_t> epochs = leap_known_epochs_ms(ubx_test::capture(name));
    REQUIRE_FALSE(epochs.empty());
    const std::int64_t day_of = epochs.front() / 1000;
    const Decoded slow = decode_ubx(name, day_of, 9600);
    CHECK(slow.published.empty());
    CHECK_THAT(slow.summary, Catch::Contains("does not fit the line at 9600 Bd"));
    CHECK_THAT(slow.summary, Catch::Contains("e.g. --baud 115200"));
    const Decoded fits = decode_ubx(name, day_of, 57600);
    CHECK(fits.published.empty());
    CHECK_THAT(fits.summary, Catch::Contains("more than 0.5 s after the cycle's first byte"));
    CHECK_THAT(fits.summary, Catch::Contains("e.g. --baud 115200"));
    const Decoded named = decode_ubx(name, day_of, 115200);
    CHECK(named.published.size() >= 5);
    CHECK_THAT(named.summary, !Catch::Contains("--baud"));
}
