// The control socket (docs/design.md, "The control socket"): a Unix stream
// socket on which a client sends one request line (core/control_protocol)
// and gets the live state as one line of JSON, then the daemon closes.
// Read-only: no request changes anything.
//
// It lives in the daemon's event loop, whose job is time, so no client may
// stall it: every fd is non-blocking; a request is at most 64 bytes; each
// client has a deadline (one timerfd armed at the earliest) by which it must
// have sent its request and taken its reply, and what it has not taken by
// then is dropped with the connection; at most max_clients are connected at
// once: one more closes the client that has been idle the longest (its
// request not yet complete), or, when all are being answered, gets a
// one-line "busy" error and is closed at once (core/client_slots). The
// reply is rendered off the loop (daemon/views) and shared between clients.
// Misbehaving clients are logged at debug, rate-limited.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>

#include "core/client_slots.hpp"
#include "core/control_protocol.hpp"
#include "core/stamp.hpp"
#include "core/warning_limit.hpp"
#include "io/event_loop.hpp"
#include "io/unique_fd.hpp"

namespace shmrefclock {

class ControlSocket {
public:
    // Hands a request its reply: one line of JSON with its "\n" (never null).
    using Reply = std::function<void(std::shared_ptr<const std::string>)>;
    // Called for a valid request at `now`; calls `reply` at once or later
    // from the loop.
    using Responder =
        std::function<void(const ControlRequest& request, const Stamp& now, Reply reply)>;

    // Clients connected at once; one more makes room (the longest idle is
    // closed), or is told "busy" and closed when none is idle. A client that
    // has connected but not yet sent its request is not closed for another
    // before client_grace_ns: while every idle one is younger, up to
    // overflow_clients more are held (core/client_slots).
    static constexpr std::size_t max_clients = 16;
    static constexpr std::size_t overflow_clients = 16;
    static constexpr std::int64_t client_grace_ns = 500'000'000;
    // From accept() to the last byte of the reply taken.
    static constexpr std::int64_t client_deadline_ns = 2'000'000'000;
    // Connections accepted per wake-up of the loop, so that a burst of
    // connects is spread over several turns and a source's fd is stamped in
    // between (the loop is level-triggered: the rest are still pending).
    static constexpr int accepts_per_wakeup = 8;

    // Listen at `path`. Never throws for the path: on any problem (its
    // directory missing or not writable, a live daemon already answering
    // there, not a socket) it logs one warning and stays closed, and the
    // daemon runs on without it. A socket file left by a daemon that died
    // (nobody accepts on it) is replaced.
    ControlSocket(EventLoop& loop, std::string path, Responder respond);
    ~ControlSocket();
    ControlSocket(const ControlSocket&) = delete;
    ControlSocket& operator=(const ControlSocket&) = delete;

    bool listening() const { return listener_.valid(); }
    const std::string& path() const { return path_; }
    std::size_t clients() const { return clients_.size(); }

private:
    struct Client {
        UniqueFd fd;
        EventLoop::Registration registration = 0;
        std::string received;
        std::shared_ptr<const std::string> reply;
        std::size_t written = 0;
        // The request is complete: being answered (no longer read).
        bool replying = false;
    };

    bool bind_listener();
    void on_listener(const Stamp& stamp);
    void on_client(std::uint64_t id, const Stamp& stamp);
    // Start sending `text` (and close when it is all taken).
    void reply(std::uint64_t id, std::shared_ptr<const std::string> text);
    // Its request is complete: stop reading it, and it no longer idles.
    void answering(std::uint64_t id, Client& client);
    // Write what the socket takes; false when the client is done with.
    bool write_some(Client& client);
    void drop(std::uint64_t id);
    void on_deadline(const Stamp& stamp);
    void arm_deadline(std::int64_t now_ns);
    void note(std::int64_t now_ns, const std::string& what);

    EventLoop& loop_;
    std::string path_;
    Responder respond_;
    UniqueFd listener_;
    EventLoop::Registration listener_registration_ = 0;
    // The socket file this daemon bound, so that only that one is unlinked.
    dev_t bound_dev_ = 0;
    ino_t bound_ino_ = 0;
    Timer deadline_;
    EventLoop::Registration deadline_registration_ = 0;
    std::map<std::uint64_t, std::unique_ptr<Client>> clients_;
    ClientSlots slots_{max_clients, client_deadline_ns, overflow_clients, client_grace_ns};
    std::uint64_t next_id_ = 1;
    WarningLimit misbehaving_;
    // Replies that arrive after this socket is gone find it expired.
    std::shared_ptr<ControlSocket*> alive_ = std::make_shared<ControlSocket*>(this);
};

// "" off, else the error reply for `message`: {"error": "..."} and "\n".
std::string control_error_reply(const std::string& message);

} // namespace shmrefclock
