// The control socket's request (docs/design.md, "The control socket"): one
// line, `status` or `status history`, then "\n", at most 64 bytes; one reply
// line of JSON, then the daemon closes. Pure, so that the daemon's reading
// and `shmrefclock status`'s writing agree and are tested without sockets.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace shmrefclock {

// The largest request, its "\n" included: a request is a word or two, and
// a limit this small means a client can never make the daemon buffer much.
inline constexpr std::size_t control_request_max = 64;

// Where `shmrefclock status` asks, and the daemon listens, by default
// (systemd's RuntimeDirectory=shmrefclock).
inline constexpr std::string_view default_control_path = "/run/shmrefclock/control";

struct ControlRequest {
    // `status history`: the snapshot with each refclock's history
    // (SnapshotOptions::history).
    bool history = false;
};

// What the bytes received so far say.
struct ControlParse {
    enum class Kind {
        incomplete, // no "\n" yet and still within the limit: read on
        request,    // a valid request line
        error,      // a bad request: `error` says why, reply with it and close
    };
    Kind kind = Kind::incomplete;
    ControlRequest request;
    std::string error;
};

// The request in `received` (all bytes read from the client so far; only
// the first line counts, whatever follows it is never read). `eof`: the
// client shut down its side, so no "\n" is coming. A trailing "\r" before
// the "\n" is accepted (a client such as telnet sends CRLF).
ControlParse parse_control_request(std::string_view received, bool eof);

// The request line a client sends, "\n" included.
std::string control_request_line(const ControlRequest& request);

} // namespace shmrefclock
