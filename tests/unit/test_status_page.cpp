// The status page (daemon/status_page.cpp) from hand-written snapshots.
#include <catch2/catch.hpp>

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
    CHECK(page.find("samples_published") != std::string::npos);
    CHECK(page.find("cycles no_fix") != std::string::npos);
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
