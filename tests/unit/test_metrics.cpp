// The Prometheus exposition (daemon/metrics.cpp) from hand-written
// snapshots: every expected line below comes from the values injected here.
#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <sstream>

#include "daemon/metrics.hpp"
#include "io/live_state_json.hpp"

using namespace shmrefclock;
using Json = nlohmann::ordered_json;

namespace {

// The exposition of a hand-written document, read as `status` reads the
// daemon's (io/live_state_json).
std::string render_metrics(const Json& snapshot) {
    return shmrefclock::render_metrics(daemon_state_from_json(snapshot));
}

Json snapshot_with(Json refclock) {
    return Json{{"version", "9.8.7"}, {"uptime_s", 12.5}, {"refclocks", Json::array({refclock})}};
}

Json nmea_refclock(const std::string& name) {
    return Json{
        {"name", name},
        {"source", "nmea"},
        {"outputs", "shm 0"},
        {"offset_s", 0.25},
        {"health", "3D fix"},
        {"last_sample",
         {{"reference_ns", 1700000000000000000LL},
          {"receive_ns", 1700000000130000000LL},
          {"clock_minus_receive_s", -0.13},
          {"age_s", 0.5},
          {"leap", 0}}},
        {"counters",
         {{"samples_published", 41},
          {"withdrawals", 2},
          {"bytes", 123456},
          {"sentences", {{"ok", 300}, {"bad_checksum", 7}}},
          {"cycles", {{"published", 41}, {"no_fix", 3}}}}},
        {"nmea_arrival", {{"cycles", 60}, {"median_s", 0.131}, {"spread_s", 0.002}}},
        {"pps_latency",
         {{"pps_refclock", "pps"},
          {"pulses", 30},
          {"median_s", 0.13},
          {"spread_s", 0.001},
          {"suggested_offset_s", 0.13},
          {"settled", true}}},
    };
}

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        out.push_back(line);
    }
    return out;
}

bool has_line(const std::string& text, const std::string& line) {
    for (const auto& l : lines(text)) {
        if (l == line) {
            return true;
        }
    }
    return false;
}

} // namespace

TEST_CASE("counters become _total counters with the refclock label") {
    const std::string text = render_metrics(snapshot_with(nmea_refclock("gps")));
    INFO(text);
    CHECK(has_line(text, "# TYPE shmrefclock_samples_published_total counter"));
    CHECK(has_line(text, "shmrefclock_samples_published_total{refclock=\"gps\"} 41"));
    CHECK(has_line(text, "shmrefclock_withdrawals_total{refclock=\"gps\"} 2"));
    CHECK(has_line(text, "shmrefclock_bytes_total{refclock=\"gps\"} 123456"));
    // Objects: one counter, the keys as a label named in docs/design.md.
    CHECK(has_line(text, "# TYPE shmrefclock_sentences_total counter"));
    CHECK(
        has_line(text, "shmrefclock_sentences_total{refclock=\"gps\",result=\"bad_checksum\"} 7"));
    CHECK(has_line(text, "shmrefclock_cycles_total{refclock=\"gps\",outcome=\"no_fix\"} 3"));
}

TEST_CASE("every counter and gauge the structs declare is in /metrics and in the JSON") {
    // A refclock of each kind with every counter and every optional part
    // set, each count a value of its own.
    DaemonState state;
    state.version = "1";
    for (const char* source : {"nmea", "pps", "system"}) {
        RefclockState& rc = state.refclocks.emplace_back();
        rc.name = std::string("rc-") + source;
        rc.source = source;
        rc.last_sample.emplace();
        if (rc.source == "nmea") {
            rc.nmea.emplace();
            rc.nmea->arrival.emplace();
            rc.nmea->pps_latency.emplace();
            rc.nmea->receiver.emplace().time_accuracy_s = 2.5e-8;
        } else if (rc.source == "pps") {
            rc.pps.emplace().quantization.emplace().q_err_s = -1.0158e-8;
        }
    }
    std::uint64_t next = 100;
    for (RefclockState& rc : state.refclocks) {
        RefclockState::counters(
            rc, Overload{[&](const CounterInfo&, std::uint64_t& count) { count = next++; },
                         [&](const CounterInfo&, ReasonCounts& counts) {
                             counts = {{"a", next++}, {"b", next++}};
                         }});
    }
    const std::string text = shmrefclock::render_metrics(state);
    const Json json = to_json(state);
    INFO(text);
    std::size_t counters = 0;
    for (std::size_t i = 0; i < state.refclocks.size(); ++i) {
        const RefclockState& rc = state.refclocks[i];
        const Json& in_json = json.at("refclocks").at(i).at("counters");
        const std::string labels = "refclock=\"" + rc.name + "\"";
        RefclockState::counters(
            rc,
            Overload{
                [&](const CounterInfo& info, std::uint64_t count) {
                    const std::string metric = "shmrefclock_" + std::string(info.name) + "_total";
                    CHECK(has_line(text, "# TYPE " + metric + " counter"));
                    CHECK(has_line(text, "# HELP " + metric + " " + std::string(info.help)));
                    CHECK(has_line(text, metric + "{" + labels + "} " + std::to_string(count)));
                    CHECK(in_json.at(std::string(info.name)) == count);
                    ++counters;
                },
                [&](const CounterInfo& info, const ReasonCounts& counts) {
                    const std::string metric = "shmrefclock_" + std::string(info.name) + "_total";
                    CHECK_FALSE(info.label.empty());
                    for (const ReasonCount& each : counts) {
                        CHECK(has_line(text, metric + "{" + labels + "," + std::string(info.label) +
                                                 "=\"" + each.reason + "\"} " +
                                                 std::to_string(each.count)));
                        CHECK(in_json.at(std::string(info.name)).at(each.reason) == each.count);
                    }
                    ++counters;
                }});
    }
    // samples_published and withdrawals three times, nmea's seven (with
    // ubx_frames), pps's five (with the labelled pulses).
    CHECK(counters == 18);
    // Every gauge a struct declares.
    const auto gauges = [&](const auto& object) {
        using T = std::decay_t<decltype(object)>;
        T::fields(object, [&](const FieldInfo& info, const auto&) {
            if (!info.metric.empty()) {
                CHECK(has_line(text, "# TYPE " + std::string(info.metric) + " gauge"));
            }
        });
    };
    gauges(state);
    gauges(state.refclocks[0]);
    gauges(*state.refclocks[0].last_sample);
    gauges(*state.refclocks[0].nmea->arrival);
    gauges(*state.refclocks[0].nmea->pps_latency);
    gauges(*state.refclocks[0].nmea->receiver);
    CHECK(has_line(text, "shmrefclock_ubx_time_accuracy_seconds{refclock=\"rc-nmea\"} 2.5e-08"));
    CHECK(json.at("refclocks").at(0).at("ubx_receiver").at("time_accuracy_s") == 2.5e-8);
    gauges(*state.refclocks[1].pps->quantization);
    CHECK(has_line(text, "shmrefclock_pps_qerr_seconds{refclock=\"rc-pps\"} -1.0158e-08"));
    CHECK(json.at("refclocks").at(1).at("pps_quantization").at("q_err_s") == -1.0158e-8);
}

TEST_CASE("gauges for the last sample, arrival, latency and the build") {
    const std::string text = render_metrics(snapshot_with(nmea_refclock("gps")));
    INFO(text);
    CHECK(has_line(text, "shmrefclock_build_info{version=\"9.8.7\"} 1"));
    CHECK(has_line(text, "# TYPE shmrefclock_build_info gauge"));
    CHECK(has_line(text, "shmrefclock_uptime_seconds 12.5"));
    CHECK(has_line(text, "shmrefclock_last_sample_valid{refclock=\"gps\"} 1"));
    CHECK(has_line(text, "shmrefclock_last_sample_age_seconds{refclock=\"gps\"} 0.5"));
    CHECK(has_line(text, "shmrefclock_last_sample_offset_seconds{refclock=\"gps\"} -0.13"));
    CHECK(has_line(
        text, "shmrefclock_last_sample_receive_timestamp_seconds{refclock=\"gps\"} 1700000000.13"));
    CHECK(has_line(text, "shmrefclock_nmea_arrival_median_seconds{refclock=\"gps\"} 0.131"));
    CHECK(has_line(text, "shmrefclock_nmea_latency_suggested_offset_seconds{refclock=\"gps\",pps_"
                         "refclock=\"pps\"} 0.13"));
    CHECK(has_line(text,
                   "shmrefclock_nmea_latency_pulses{refclock=\"gps\",pps_refclock=\"pps\"} 30"));
    CHECK(has_line(text,
                   "shmrefclock_nmea_latency_settled{refclock=\"gps\",pps_refclock=\"pps\"} 1"));
    CHECK(has_line(
        text, "shmrefclock_refclock_info{refclock=\"gps\",source=\"nmea\",health=\"3D fix\"} 1"));
}

TEST_CASE("a refclock without a sample: valid 0, no sample gauges") {
    Json rc = nmea_refclock("gps");
    rc["last_sample"] = nullptr;
    rc.erase("nmea_arrival");
    rc.erase("pps_latency");
    const std::string text = render_metrics(snapshot_with(rc));
    INFO(text);
    CHECK(has_line(text, "shmrefclock_last_sample_valid{refclock=\"gps\"} 0"));
    CHECK(text.find("shmrefclock_last_sample_age_seconds") == std::string::npos);
    CHECK(text.find("nmea_latency") == std::string::npos);
    CHECK(text.find("nmea_arrival") == std::string::npos);
}

TEST_CASE("label values escape backslash, quote and newline") {
    CHECK(escape_label_value("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
    const std::string text = render_metrics(snapshot_with(nmea_refclock("say \"hi\"\\now\n")));
    INFO(text);
    CHECK(has_line(
        text, "shmrefclock_samples_published_total{refclock=\"say \\\"hi\\\"\\\\now\\n\"} 41"));
}

TEST_CASE("each family once: HELP and TYPE, then all its samples together") {
    Json snapshot = snapshot_with(nmea_refclock("a"));
    snapshot["refclocks"].push_back(nmea_refclock("b"));
    const std::string text = render_metrics(snapshot);
    INFO(text);
    std::map<std::string, int> types;
    std::string family;
    std::set<std::string> closed;
    for (const auto& line : lines(text)) {
        if (line.rfind("# TYPE ", 0) == 0) {
            const std::string name = line.substr(7, line.find(' ', 7) - 7);
            ++types[name];
            if (!family.empty()) {
                closed.insert(family);
            }
            family = name;
            continue;
        }
        if (line.rfind("# HELP ", 0) == 0) {
            continue;
        }
        const std::string name = line.substr(0, line.find_first_of("{ "));
        CHECK(name == family);
        CHECK(closed.count(name) == 0);
    }
    for (const auto& [name, count] : types) {
        INFO(name);
        CHECK(count == 1);
        CHECK(name.rfind("shmrefclock_", 0) == 0);
    }
    CHECK(has_line(text, "shmrefclock_samples_published_total{refclock=\"a\"} 41"));
    CHECK(has_line(text, "shmrefclock_samples_published_total{refclock=\"b\"} 41"));
}
