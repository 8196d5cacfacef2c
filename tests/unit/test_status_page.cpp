// The status page (daemon/status_page.cpp) from hand-written snapshots.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "daemon/status_page.hpp"
#include "io/live_state_json.hpp"

using namespace shmrefclock;
using Json = nlohmann::ordered_json;

namespace {

// The page of a hand-written document, read as `status` reads the
// daemon's (io/live_state_json).
std::string render_status_page(const Json& snapshot) {
    return shmrefclock::render_status_page(daemon_state_from_json(snapshot));
}

Json snapshot_with(Json refclock) {
    return Json{{"version", "9.8.7"},
                {"status", "gps: 3D fix"},
                {"uptime_s", 100},
                {"refclocks", Json::array({refclock})}};
}

Json refclock(const std::string& name, const std::string& health) {
    return Json{{"name", name},
                {"source", "nmea"},
                {"outputs", "shm 0"},
                {"offset_s", 0.0},
                {"health", health},
                {"last_sample", nullptr},
                {"counters", {{"samples_published", 3}, {"cycles", {{"no_fix", 4}}}}}};
}

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
        ++n;
    }
    return n;
}

} // namespace

TEST_CASE("strings from the config and the receiver are HTML-escaped") {
    CHECK(escape_html("<a href=\"x\">&'") == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    const std::string page =
        render_status_page(snapshot_with(refclock("<script>alert(1)</script>", "\"><img src=x>")));
    INFO(page);
    CHECK(page.find("<script") == std::string::npos);
    CHECK(page.find("<img") == std::string::npos);
    CHECK(page.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
    CHECK(page.find("&quot;&gt;&lt;img src=x&gt;") != std::string::npos);
}

TEST_CASE("a page for a phone: doctype, viewport, refresh, no script, counters shown") {
    const std::string page = render_status_page(snapshot_with(refclock("gps", "3D fix")));
    CHECK(page.rfind("<!DOCTYPE html>", 0) == 0);
    CHECK(page.find("name=\"viewport\"") != std::string::npos);
    CHECK(page.find("http-equiv=\"refresh\"") != std::string::npos);
    CHECK(page.find("<script") == std::string::npos);
    CHECK(page.find("http://") == std::string::npos);
    CHECK(page.find("https://") == std::string::npos);
    CHECK(page.find("3D fix") != std::string::npos);
    CHECK(page.find("Samples published <code class=\"metric\">shmrefclock_samples_published_total"
                    "</code></th><td>3</td>") != std::string::npos);
    // A reason `status` read from JSON has no words: its identifier.
    CHECK(page.find(
              "no_fix <code class=\"metric\">shmrefclock_cycles_total{outcome=&quot;no_fix&quot;}"
              "</code></th><td>4</td>") != std::string::npos);
}

TEST_CASE("each refclock's health, offset and plot come before any counters") {
    Json first = refclock("gps", "fix, time from RMC");
    first["last_sample"] = {{"reference", "2026-12-05T10:00:00.000000000Z"},
                            {"clock_minus_receive_s", -0.1305},
                            {"age_s", 0.31}};
    first["history"] = Json::array({Json::array({1000.0, -0.13}), Json::array({1001.0, -0.131})});
    Json second = refclock("pps", "no device /dev/pps0 (retrying in 1 s)");
    second["source"] = "pps";
    Json snapshot = snapshot_with(first);
    snapshot["refclocks"].push_back(second);
    const std::string page = render_status_page(snapshot);
    INFO(page);
    CHECK(page.find("<p class=\"health ok\"><strong class=\"state\">publishing</strong> "
                    "<span class=\"reason\">fix, time from RMC</span> <span class=\"age\">last "
                    "sample 0.3&#8239;s ago</span></p>") != std::string::npos);
    CHECK(page.find("<p class=\"health bad\"><strong class=\"state\">not publishing</strong> "
                    "<span class=\"reason\">no device /dev/pps0 (retrying in 1 s)</span> "
                    "<span class=\"age\">no sample now</span></p>") != std::string::npos);
    CHECK(page.find("<strong>-130.500&#8239;ms</strong>") != std::string::npos);
    // In document order: both summaries (health, offset, plot), then the
    // counters.
    std::size_t at = 0;
    for (const std::string part :
         {"class=\"health ok\"", "class=\"offset\"", "class=\"plot history\"",
          "class=\"health bad\"", "class=\"offset\"", "class=\"plot history\"",
          "class=\"counters\"", "class=\"counters\""}) {
        const std::size_t next = page.find(part, at);
        INFO(part);
        REQUIRE(next != std::string::npos);
        at = next + 1;
    }
}

TEST_CASE("the offset PPS measured is suggested next to the plot") {
    Json rc = refclock("gps", "fix, time from RMC");
    rc["pps_latency"] = {{"pps_refclock", "pps"},        {"pulses", 12},
                         {"median_s", 0.1304},           {"spread_s", 0.0002},
                         {"suggested_offset_s", 0.1304}, {"settled", false}};
    const std::string page = render_status_page(snapshot_with(rc));
    INFO(page);
    const auto suggested =
        page.find("<p class=\"suggested\">Suggested <code>offset = 0.130</code>");
    CHECK(suggested != std::string::npos);
    CHECK(page.find("over 12 pulses (spread 0.200&#8239;ms), not settled yet") !=
          std::string::npos);
    CHECK(suggested < page.find("class=\"counters\""));
}

TEST_CASE("a u-blox receiver's health is in its details") {
    Json rc = refclock("gps", "fix, time from NAV-TIMEUTC");
    rc["ubx_receiver"] = {{"fix", "time only"},        {"leap_count", "known"},
                          {"time_accuracy_s", 1.2e-8}, {"tim_tp", true},
                          {"pulse_locked", false},     {"raim_active", false}};
    const std::string page = render_status_page(snapshot_with(rc));
    INFO(page);
    CHECK(page.find("<h3>u-blox receiver</h3>") != std::string::npos);
    CHECK(page.find("time only, leap-second count known, tAcc 12 ns, pulse NOT locked to GNSS, "
                    "RAIM not active") != std::string::npos);
}

TEST_CASE("every counter declared has a title, shown with its metric") {
    RefclockState rc;
    rc.name = "gps";
    rc.nmea.emplace().cycles = {{"same_second", 2, "second already published"}};
    rc.pps.emplace().pulses = {{"lock_stale", 1, "lock sample is more than 2 s old"}};
    DaemonState state;
    state.refclocks.push_back(rc);
    const std::string page = shmrefclock::render_status_page(state);
    INFO(page);
    std::size_t declared = 0;
    RefclockState::counters(
        rc,
        Overload{[&](const CounterInfo& info, std::uint64_t) {
                     ++declared;
                     CHECK_FALSE(info.title.empty());
                     CHECK(info.title.find('_') == std::string_view::npos);
                     CHECK(page.find(fmt::format("{} <code class=\"metric\">shmrefclock_{}_total"
                                                 "</code>",
                                                 info.title, info.name)) != std::string::npos);
                 },
                 [&](const CounterInfo& info, const ReasonCounts&) {
                     ++declared;
                     CHECK_FALSE(info.title.empty());
                     CHECK(info.title.find('_') == std::string_view::npos);
                     CHECK(page.find(fmt::format("<th colspan=\"2\">{}, by {}</th>", info.title,
                                                 info.label)) != std::string::npos);
                 }});
    CHECK(declared == 14); // device_opens and device_failures in each source
    CHECK(page.find("second already published <code class=\"metric\">shmrefclock_cycles_total{"
                    "outcome=&quot;same_second&quot;}</code></th><td>2</td>") != std::string::npos);
    CHECK(page.find("lock sample is more than 2 s old <code class=\"metric\">"
                    "shmrefclock_pulses_total{verdict=&quot;lock_stale&quot;}</code>") !=
          std::string::npos);
}

TEST_CASE("empty or missing history: an empty frame saying so, no line") {
    Json rc = refclock("gps", "3D fix");
    for (const bool present : {true, false}) {
        if (present) {
            rc["history"] = Json::array();
        }
        const std::string page = render_status_page(snapshot_with(rc));
        INFO(page);
        CHECK(page.find(">No history yet</text>") != std::string::npos);
        CHECK(count(page, "<svg") == 1);
        CHECK(count(page, "</svg>") == 1);
        CHECK(count(page, "<polyline") == 0);
    }
}

TEST_CASE("history and histogram draw inline SVG") {
    Json rc = refclock("gps", "3D fix");
    rc["history"] = Json::array({Json::array({1000.0, 0.001}), Json::array({1060.0, -0.002}),
                                 Json::array({1120.0, 0.0005})});
    rc["nmea_arrival"] = {
        {"cycles", 10},
        {"median_s", 0.13},
        {"spread_s", 0.001},
        {"histogram", {{"start_s", 0.1}, {"bin_s", 0.01}, {"counts", {0, 2, 8, 0}}}}};
    const std::string page = render_status_page(snapshot_with(rc));
    INFO(page);
    CHECK(count(page, "<svg") == 2);
    CHECK(count(page, "</svg>") == 2);
    CHECK(count(page, "<polyline") == 1);
    CHECK(page.find("No history yet") == std::string::npos);
    // Two non-empty bins, two bars; the axis from the injected start and bins.
    CHECK(count(page, "class=\"bar\"") == 2);
    CHECK(page.find("100.000 ms") != std::string::npos);
    CHECK(page.find("140.000 ms") != std::string::npos);
    // The y axis spans the injected values.
    CHECK(page.find("1.000 ms") != std::string::npos);
    CHECK(page.find("-2.000 ms") != std::string::npos);
}
