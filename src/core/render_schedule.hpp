// When a view of the live state (the status page, /metrics, `status`,
// `status history`) is rendered (docs/design.md, "Rendering off the loop"):
// at most one rendering at a time and at most one per `max_age`, whatever
// the number of clients. A request is answered by the last rendering if its
// state was captured no more than `max_age` before the request arrived;
// else by the rendering in progress, if there is one; else a new rendering
// starts and the request waits for it. Pure: times are CLOCK_MONOTONIC ns.
#pragma once

#include <cstdint>
#include <optional>

namespace shmrefclock {

class RenderSchedule {
public:
    explicit RenderSchedule(std::int64_t max_age_ns) : max_age_ns_(max_age_ns) {}

    enum class Answer {
        cached, // hand over the last rendering
        wait,   // wait for the rendering in progress
        render, // capture now, start rendering, and wait for it
    };
    // A request at `now_ns`. `render` means the caller captures the state
    // at `now_ns` and starts rendering it (started(now_ns) is implied).
    Answer ask(std::int64_t now_ns);
    // The rendering in progress is done (or failed: it is still the answer
    // to the requests that waited, and fresh for as long).
    void finished();
    // Forget the last rendering (the state changed wholesale: a reload).
    void invalidate() { rendered_.reset(); }

    bool rendering() const { return in_progress_.has_value(); }
    std::int64_t max_age_ns() const { return max_age_ns_; }

private:
    std::int64_t max_age_ns_;
    // When the state of the last rendering, and of the one in progress,
    // was captured.
    std::optional<std::int64_t> rendered_;
    std::optional<std::int64_t> in_progress_;
};

} // namespace shmrefclock
