// `shmrefclock status`'s side of the control socket (docs/design.md, "The
// control socket"): one request, one line of JSON back, within a deadline,
// so that a daemon that is gone, stuck or answering nonsense costs `status`
// at most about a second and one clear line.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/control_protocol.hpp"
#include "core/live_state.hpp"

namespace shmrefclock {

// What the daemon said, or why it said nothing.
struct DaemonReply {
    // The socket asked; empty when the control socket is off (control = "").
    std::string path;
    // The daemon's live state (docs/design.md, "Live state"), read
    // tolerantly from its JSON (io/live_state_json).
    std::optional<DaemonState> state;
    // Empty when `state` is set; else one line saying why not.
    std::string problem;
};

// The most `status` accepts: the live state with an hour of history for a
// handful of refclocks is a few hundred kB.
inline constexpr std::size_t control_reply_max = 8 * 1024 * 1024;

// Pure: the reply bytes received until the daemon closed -> the state, or
// a problem ("not JSON", "an error from the daemon", ...).
DaemonReply parse_control_reply(std::string_view bytes);

// Ask the daemon at `path`; never throws, never waits longer than `timeout`.
DaemonReply ask_daemon(const std::string& path, const ControlRequest& request,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(1000));

} // namespace shmrefclock
