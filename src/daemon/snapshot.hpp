// What a capture of the live state (core/live_state.hpp; docs/design.md,
// "Live state") includes: the daemon builds one state for every view, the
// control socket's reply, `status`, /metrics and the status page, so that
// the views cannot disagree.
#pragma once

namespace shmrefclock {

// Which parts of the state a view needs. The history (a point per second
// over the last hour, per refclock) is large; only the status page and
// `status history` ask.
struct SnapshotOptions {
    bool history = false;
};

} // namespace shmrefclock
