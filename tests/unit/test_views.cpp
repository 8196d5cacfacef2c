// daemon/views: the views of the live state rendered off the loop, at most
// once per max age, and shared by every client that asked
// (docs/design.md, "Rendering off the loop").
#include <catch2/catch.hpp>

#include <memory>
#include <thread>
#include <vector>

#include "daemon/views.hpp"
#include "io/event_loop.hpp"
#include "io/live_state_json.hpp"

using namespace shmrefclock;

namespace {

StateCapture capture_of(std::size_t points) {
    StateCapture capture;
    capture.state.version = "test";
    capture.state.refclocks.emplace_back().name = "gps";
    std::vector<SecondHistory::Point> history;
    for (std::size_t i = 0; i < points; ++i) {
        history.push_back({static_cast<std::int64_t>(1000 + i), 0.25});
    }
    capture.history.push_back(history);
    return capture;
}

// Runs the loop until `done` (or 10 s).
template <typename Done> bool run_until(EventLoop& loop, Done done) {
    Timer ticker;
    ticker.arm(1'000'000, 1'000'000);
    const std::int64_t start = stamp_now().monotonic_ns;
    const auto ticks = loop.watch(ticker.fd(), [&](const Stamp& now) {
        ticker.expirations();
        if (done() || now.monotonic_ns - start > 10'000'000'000) {
            loop.stop();
        }
    });
    loop.run();
    loop.unwatch(ticks);
    return done();
}

} // namespace

TEST_CASE("render_view: the history joins the snapshot only in the views that show it") {
    const RenderedView status = render_view(View::status, capture_of(2));
    CHECK(status.status == 200);
    const std::string state = to_json(capture_of(0).state).dump();
    CHECK(status.body == state + "\n");
    CHECK(status.body.find("\"history\"") == std::string::npos);
    // The same document, the refclock's points last in its object.
    const RenderedView history = render_view(View::status_history, capture_of(2));
    CHECK(history.body ==
          state.substr(0, state.size() - 3) + ",\"history\":[[1000,0.25],[1001,0.25]]}]}\n");
    const RenderedView page = render_view(View::status_page, capture_of(2));
    CHECK(page.status == 200);
    CHECK(page.content_type == "text/html; charset=utf-8");
    CHECK(page.body.find("<!DOCTYPE html>") == 0);
    const RenderedView metrics = render_view(View::metrics, capture_of(0));
    CHECK(metrics.body.find("shmrefclock_build_info") != std::string::npos);
}

TEST_CASE("many requests at once: one capture, one rendering, one shared text") {
    EventLoop loop;
    int captures = 0;
    bool with_history = false;
    Views views(loop, [&](const Stamp&, bool history) {
        ++captures;
        with_history = history;
        return capture_of(3600);
    });
    const Stamp now = stamp_now();
    std::vector<std::shared_ptr<const RenderedView>> answers;
    for (int i = 0; i < 100; ++i) {
        views.get(View::status_page, now,
                  [&](std::shared_ptr<const RenderedView> view) { answers.push_back(view); });
    }
    // Not rendered in the loop: nobody is answered before the renderer is done.
    CHECK(answers.empty());
    REQUIRE(run_until(loop, [&] { return answers.size() == 100; }));
    CHECK(captures == 1);
    CHECK(with_history);
    CHECK(views.renderings() == 1);
    for (const auto& answer : answers) {
        CHECK(answer == answers.front());
    }
    // Within the max age: the same text, at once, without a capture.
    Stamp later = now;
    later.monotonic_ns += view_max_age_ns(View::status_page);
    std::shared_ptr<const RenderedView> cached;
    views.get(View::status_page, later,
              [&](std::shared_ptr<const RenderedView> view) { cached = view; });
    CHECK(cached == answers.front());
    CHECK(captures == 1);
    // After it, and after a reload, a new rendering.
    later.monotonic_ns += 1;
    std::shared_ptr<const RenderedView> fresh;
    views.get(View::status_page, later,
              [&](std::shared_ptr<const RenderedView> view) { fresh = view; });
    REQUIRE(run_until(loop, [&] { return fresh != nullptr; }));
    CHECK(fresh != answers.front());
    CHECK(captures == 2);
    views.invalidate();
    std::shared_ptr<const RenderedView> after_reload;
    views.get(View::status_page, later,
              [&](std::shared_ptr<const RenderedView> view) { after_reload = view; });
    REQUIRE(run_until(loop, [&] { return after_reload != nullptr; }));
    CHECK(captures == 3);
}

TEST_CASE("the views are independent; status has no history; a view in flight at a reload "
          "answers those who waited for it") {
    EventLoop loop;
    std::vector<bool> histories;
    Views views(loop, [&](const Stamp&, bool history) {
        histories.push_back(history);
        return capture_of(1);
    });
    const Stamp now = stamp_now();
    std::shared_ptr<const RenderedView> status;
    std::shared_ptr<const RenderedView> metrics;
    views.get(View::status, now, [&](std::shared_ptr<const RenderedView> v) { status = v; });
    views.invalidate();
    views.get(View::metrics, now, [&](std::shared_ptr<const RenderedView> v) { metrics = v; });
    REQUIRE(run_until(loop, [&] { return status && metrics; }));
    CHECK(histories == std::vector<bool>{false, false});
    CHECK(status->body.find("\"history\"") == std::string::npos);
    CHECK(metrics->content_type.find("version=0.0.4") != std::string::npos);
    // The status rendered before the reload is not kept.
    std::shared_ptr<const RenderedView> again;
    views.get(View::status, now, [&](std::shared_ptr<const RenderedView> v) { again = v; });
    REQUIRE(run_until(loop, [&] { return again != nullptr; }));
    CHECK(histories.size() == 3);
}

TEST_CASE("destroyed with a rendering in flight: no callback, no leak, no hang") {
    EventLoop loop;
    bool called = false;
    {
        Views views(loop, [&](const Stamp&, bool) { return capture_of(3600); });
        views.get(View::status_page, stamp_now(),
                  [&](std::shared_ptr<const RenderedView>) { called = true; });
    }
    CHECK_FALSE(called);
}
