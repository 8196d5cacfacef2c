// A refclock's part of the live state (docs/design.md, "Live state"): the
// schema's keys from real refclocks (real SHM segments in this test's IPC
// namespace, devices that do not exist), and the NMEA latency wired from a
// pps refclock's pulses through LockSource::pulse_numbered.
#include <catch2/catch.hpp>

#include <ctime>

#include "core/nmea_core.hpp"
#include "core/nmea_latency.hpp"
#include "core/pps_numbering.hpp"
#include "daemon/leap_list.hpp"
#include "daemon/refclock.hpp"
#include "io/event_loop.hpp"
#include "io/live_state_json.hpp"

using namespace shmrefclock;

namespace {

// A refclock's part of the control socket's document (io/live_state_json).
nlohmann::ordered_json json_of(const RefclockState& refclock) {
    DaemonState state;
    state.refclocks.push_back(refclock);
    return to_json(state).at("refclocks").at(0);
}

constexpr std::int64_t ms = 1'000'000;
constexpr time_t N = 1795262400; // 2026-11-21T12:00:00Z

RefclockConfig nmea_config() {
    RefclockConfig config;
    config.name = "gps";
    config.source = SourceKind::nmea;
    config.unit = 0;
    config.device = "/nonexistent/ttyGPS";
    config.offset = 0.05;
    return config;
}

RefclockConfig pps_config() {
    RefclockConfig config;
    config.name = "pps";
    config.source = SourceKind::pps;
    config.unit = 1;
    config.device = "/nonexistent/pps0";
    config.lock = "gps";
    return config;
}

Stamp now_stamp() {
    Stamp stamp;
    clock_gettime(CLOCK_REALTIME, &stamp.realtime);
    return stamp;
}

} // namespace

TEST_CASE("snapshot: nmea and pps refclocks carry the schema's counters") {
    EventLoop loop;
    LeapList leaps(loop);
    leaps.load("");
    Refclock gps(
        nmea_config(), loop, nullptr, [] {}, leaps);
    Refclock pps(
        pps_config(), loop, &gps, [] {}, leaps);
    gps.start();
    pps.start();

    const auto state = json_of(gps.snapshot(now_stamp(), SnapshotOptions{}));
    const auto& counters = state.at("counters");
    CHECK(counters.at("samples_published") == 0);
    CHECK(counters.at("device_opens") == 0);
    CHECK(counters.at("device_failures") == 1); // the device does not exist
    CHECK(counters.at("bytes") == 0);
    CHECK(counters.at("sentences").at("bad_checksum") == 0);
    CHECK(counters.at("sentences").size() == 7);
    const auto& cycles = counters.at("cycles");
    CHECK(cycles.size() == cycle_outcome_count);
    for (std::size_t i = 0; i < cycle_outcome_count; ++i) {
        CHECK(cycles.at(std::string(name(static_cast<CycleOutcome::Kind>(i)))) == 0);
    }
    CHECK(state.at("nmea_arrival").is_null());
    CHECK(state.at("pps_latency").is_null());
    CHECK_FALSE(state.contains("history"));

    const auto pps_state = json_of(pps.snapshot(now_stamp(), SnapshotOptions{true}));
    const auto& pulses = pps_state.at("counters").at("pulses");
    CHECK(pulses.size() == pulse_verdict_count + 1);
    CHECK(pulses.at("outside_window") == 0);
    CHECK(pulses.at("repeated") == 0);
    CHECK(pps_state.at("counters").at("device_failures") == 1);
    CHECK_FALSE(pps_state.contains("pps_latency")); // only nmea refclocks
    CHECK(pps_state.at("history").empty());
}

TEST_CASE("snapshot: the NMEA latency from pulses, without the configured offset") {
    EventLoop loop;
    LeapList leaps(loop);
    leaps.load("");
    Refclock gps(
        nmea_config(), loop, nullptr, [] {}, leaps);
    // The system clock 7 ms ahead: pulse of N stamped at N + 7 ms; the cycle
    // naming N arrives 130 ms after N, stamped N + 137 ms; the published
    // sample carries reference N + 0.05 (the configured offset).
    for (std::size_t i = 0; i < NmeaLatency::min_pulses; ++i) {
        const time_t second = N + static_cast<time_t>(i);
        Sample lock;
        lock.reference_time = {second, 50 * ms};
        lock.receive_time = {second, 137 * ms};
        gps.pulse_numbered("pps", timespec{second + 1, 7 * ms}, timespec{second + 1, 0}, lock);
    }
    // A second pps refclock is not mixed in.
    Sample other;
    other.reference_time = {N, 50 * ms};
    other.receive_time = {N, 900 * ms};
    gps.pulse_numbered("pps2", timespec{N, 7 * ms}, timespec{N, 0}, other);

    const auto state = json_of(gps.snapshot(now_stamp(), SnapshotOptions{}));
    const auto& latency = state.at("pps_latency");
    REQUIRE(latency.is_object());
    CHECK(latency.at("pps_refclock") == "pps");
    CHECK(latency.at("pulses") == NmeaLatency::min_pulses);
    CHECK(latency.at("median_s").get<double>() == Approx(0.130).margin(1e-12));
    CHECK(latency.at("spread_s").get<double>() == 0.0);
    CHECK(latency.at("suggested_offset_s").get<double>() == Approx(0.130).margin(1e-12));
    CHECK(latency.at("settled") == true);
}

TEST_CASE("snapshot: history holds one point per published second") {
    EventLoop loop;
    LeapList leaps(loop);
    leaps.load("");
    RefclockConfig config = nmea_config();
    config.offset = 0;
    Refclock gps(
        config, loop, nullptr, [] {}, leaps);
    const Stamp now = now_stamp();
    for (int i = 3; i >= 1; --i) {
        Sample sample;
        sample.reference_time = {now.realtime.tv_sec - i, 0};
        sample.receive_time = {now.realtime.tv_sec - i, 130 * ms};
        gps.publish(sample, std::nullopt);
        sample.receive_time.tv_nsec = 230 * ms; // a second sample of that second
        gps.publish(sample, std::nullopt);
    }
    const auto state = json_of(gps.snapshot(now, SnapshotOptions{true}));
    const auto& history = state.at("history");
    REQUIRE(history.size() == 3);
    CHECK(history[0][0] == now.realtime.tv_sec - 3);
    CHECK(history[0][1].get<double>() == Approx(-0.130));
    CHECK(state.at("counters").at("samples_published") == 6);
    CHECK(state.at("last_sample").at("clock_minus_receive_s").get<double>() == Approx(-0.230));
}

TEST_CASE("a refclock writes no finer a precision than the receiver says its time is") {
    EventLoop loop;
    LeapList leaps(loop);
    leaps.load("");
    RefclockConfig config = nmea_config();
    config.precision = -20;
    Refclock gps(
        config, loop, nullptr, [] {}, leaps);
    const Stamp now = now_stamp();
    Sample sample;
    sample.reference_time = {now.realtime.tv_sec, 0};
    sample.receive_time = now.realtime;
    // No word from the receiver, and 20 ns (2^-25 s is finer than -20):
    // the configured -20.
    gps.publish(sample, std::nullopt);
    REQUIRE(gps.latest_sample());
    CHECK(gps.latest_sample()->precision == -20);
    gps.publish(sample, 20);
    CHECK(gps.latest_sample()->precision == -20);
    // 50 us: 2^-15 s = 30.5 us is finer than it, 2^-14 s = 61.0 us not.
    gps.publish(sample, 50'000);
    CHECK(gps.latest_sample()->precision == -14);
    // 2 ms: -8 (2^-9 s = 1.95 ms is finer).
    gps.publish(sample, 2'000'000);
    CHECK(gps.latest_sample()->precision == -8);
}
