// The Prometheus exposition (daemon/metrics.cpp) from hand-written
// snapshots: every expected line below comes from the values injected here.
#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <sstream>

#include "daemon/metrics.hpp"

using namespace shmrefclock;
using Json = nlohmann::ordered_json;

namespace {

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
          {"cycles", {{"published", 41}, {"no_fix", 3}}},
          {"brand_new_counter", 5}}},
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
    // A counter this code has never heard of still renders.
    CHECK(has_line(text, "# TYPE shmrefclock_brand_new_counter_total counter"));
    CHECK(has_line(text, "shmrefclock_brand_new_counter_total{refclock=\"gps\"} 5"));
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
