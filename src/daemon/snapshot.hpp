// The daemon's live state as one JSON document (docs/design.md, "Live
// state"): what the control socket answers, what `status` shows, what
// /metrics and the status page are rendered from. One producer, so that the
// three views cannot disagree.
#pragma once

#include <nlohmann/json.hpp>

namespace shmrefclock {

// Which parts of the state a view needs. The history (a point per second
// over the last hour, per refclock) is large; only the status page asks.
struct SnapshotOptions {
    bool history = false;
};

} // namespace shmrefclock
