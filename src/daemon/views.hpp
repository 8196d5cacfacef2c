// The views of the live state that clients ask for: /metrics, the status
// page, `status` and `status history` (docs/design.md, "Rendering off the
// loop"). The loop only captures the state (the live state without its
// history, and the history rings copied as they are); one renderer thread
// joins the history to it and renders the text. Each view is rendered at
// most once per max_age (core/render_schedule), whatever the number of
// clients: a client is handed a shared, finished rendering.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/history.hpp"
#include "core/live_state.hpp"
#include "core/render_schedule.hpp"
#include "core/stamp.hpp"
#include "daemon/http_server.hpp"
#include "io/event_loop.hpp"
#include "io/unique_fd.hpp"

namespace shmrefclock {

enum class View { metrics, status_page, status, status_history };
inline constexpr std::size_t view_count = 4;

// A finished rendering: an HTTP status (the control socket's views are
// always 200; their body is the reply line), the content type and the body.
using RenderedView = HttpResponse;

// The state captured in the loop: the live state without history, and for
// a view with history, each refclock's points in the state's order.
struct StateCapture {
    DaemonState state;
    std::vector<std::vector<SecondHistory::Point>> history;
};

// How old a rendering may be when it is handed out, per view. One second
// for the HTTP views (a scrape sees the state of the last second; the page
// is read by a person) and for `status history` (as large as the page);
// 0.1 s for `status`, which a script may ask right after a change.
std::int64_t view_max_age_ns(View view);

// Renders `view` of `capture` (on the renderer thread; pure). Never throws:
// a failure is a 500 (HTTP) or an error line (control socket).
RenderedView render_view(View view, StateCapture capture);

class Views {
public:
    // Called in the loop: the state at `now`, with the history if asked.
    using Capturer = std::function<StateCapture(const Stamp& now, bool history)>;
    // Called in the loop with the rendering (never null).
    using Ready = std::function<void(std::shared_ptr<const RenderedView>)>;

    Views(EventLoop& loop, Capturer capture);
    ~Views();
    Views(const Views&) = delete;
    Views& operator=(const Views&) = delete;

    // `view` as of no more than its max age before `now`: `ready` is called
    // at once with the cached rendering, or later from the loop.
    void get(View view, const Stamp& now, Ready ready);
    // The configuration changed: no rendering from before is handed out.
    void invalidate();
    // Renderings started so far (for the tests: they are rate-limited).
    std::uint64_t renderings() const { return renderings_; }

private:
    struct Job {
        View view;
        StateCapture capture;
        std::uint64_t generation;
    };
    struct Done {
        View view;
        std::shared_ptr<const RenderedView> rendered;
        std::uint64_t generation;
    };
    struct Slot {
        explicit Slot(View view) : schedule(view_max_age_ns(view)) {}
        RenderSchedule schedule;
        std::shared_ptr<const RenderedView> last;
        std::vector<Ready> waiting;
        // Waiting since before invalidate(): answered by the rendering of
        // the old state they asked for.
        std::vector<Ready> waiting_before;
    };
    void start_thread();
    void work();
    void on_done();
    void hand_jobs_over();
    // Wake the loop (the done eventfd) for another look.
    void come_back();

    EventLoop& loop_;
    Capturer capture_;
    std::array<Slot, view_count> slots_{Slot(View::metrics), Slot(View::status_page),
                                        Slot(View::status), Slot(View::status_history)};
    std::uint64_t renderings_ = 0;
    // invalidate() bumps it: a rendering of the old state still answers
    // those who waited for it, but is neither cached nor handed to anyone
    // who asked later.
    std::uint64_t generation_ = 0;

    // Jobs the loop could not hand over yet (hand_jobs_over).
    std::deque<Job> pending_jobs_;

    // Shared with the renderer thread.
    std::mutex mutex_;
    std::condition_variable wake_renderer_;
    std::deque<Job> jobs_;
    std::deque<Done> done_;
    bool stopping_ = false;

    // The renderer's "done" to the loop: an eventfd.
    UniqueFd done_fd_;
    EventLoop::Registration done_watch_ = 0;
    std::thread thread_;
};

} // namespace shmrefclock
