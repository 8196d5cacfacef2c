// The HTTP listener for /metrics and the status page: libmicrohttpd in its
// external epoll mode (MHD_USE_EPOLL without an internal thread), inside the
// daemon's one event loop. The loop watches MHD's epoll fd and calls
// MHD_run when it is readable; a one-shot Timer armed from MHD_get_timeout
// drives connection timeouts. With no connection open, MHD asks for no
// timeout and the timer stays disarmed: an idle listener wakes nobody.
//
// The listener accepts connections itself and hands them to MHD
// (MHD_add_connection), so that a connection past the limit makes room
// rather than being refused: the one idle the longest is closed
// (core/client_slots), and every connection is closed at the end of its
// lifetime, whatever it does (docs/design.md, "Clients of the event loop").
// A request is answered with a finished rendering handed over by the
// handler (daemon/views), at once or, while it is rendered off the loop,
// after the connection was suspended: no client makes the loop render.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "core/client_slots.hpp"
#include "core/warning_limit.hpp"
#include "io/event_loop.hpp"
#include "io/unique_fd.hpp"

struct MHD_Daemon;
struct MHD_Connection;

namespace shmrefclock {

struct HttpResponse {
    unsigned status = 200;
    std::string content_type;
    std::string body;
};

// A listener that cannot be set up; the message names the address.
struct HttpError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class HttpServer {
public:
    // Hands a request its response (never null); shared, so that one
    // rendering answers every client that asked for it.
    using Reply = std::function<void(std::shared_ptr<const HttpResponse>)>;
    // Called for GET (and HEAD) with the request's path; calls `reply` now,
    // or later from the loop. The server answers other methods with 405
    // itself.
    using Handler = std::function<void(std::string_view path, Reply reply)>;

    // The limits, chosen for a scraper and a browser or two on a time
    // server, and to bound what a hostile client can make the daemon hold:
    // - connections: 32 at once (a Prometheus server keeps one keep-alive
    //   connection per scrape target; a browser opens up to 6). One more
    //   closes the connection that has been idle the longest (between two
    //   requests, or still sending its request) if it has been idle for
    //   0.5 s: a client held up between its connect and its request is not
    //   closed for the next newcomer. While every idle one is younger, up to
    //   16 more are held; past 48, the one idle the longest goes whatever
    //   its age, and when all are being answered the new one gets 503.
    // - lifetime: 30 s from accept(), then the connection is closed whatever
    //   it is doing (a client reconnects; a slow one cannot keep a slot).
    // - per-connection memory: 16 KiB for the request line and headers
    //   (MHD answers larger with 431); Prometheus sends ~300 bytes,
    //   Chromium ~1 KB. 48 x 16 KiB = 768 KiB at most, allocated only while
    //   connections are open.
    // - idle timeout: 10 s without progress closes a connection, so a client
    //   that never reads its response, or idles, frees its slot (Prometheus's
    //   default scrape_timeout is 10 s too).
    static constexpr unsigned connection_limit = 32;
    static constexpr unsigned connection_overflow = 16;
    static constexpr std::int64_t connection_grace_ns = 500'000'000;
    // MHD's own limit: room for the connections being closed (until MHD has
    // seen the end) beside those holding a slot.
    static constexpr unsigned mhd_connection_limit = 2 * (connection_limit + connection_overflow);
    static constexpr std::int64_t connection_lifetime_ns = 30'000'000'000;
    static constexpr std::size_t connection_memory_limit = 16 * 1024;
    static constexpr unsigned connection_timeout_s = 10;
    // Connections accepted per wake-up of the loop: a burst of connects is
    // spread over several turns, with the sources' fds served between them.
    static constexpr int accepts_per_wakeup = 8;

    // Binds and listens on `address` now; throws HttpError naming the
    // address (and errno's reason) if it cannot.
    HttpServer(EventLoop& loop, const ListenAddress& address, Handler handler);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    const ListenAddress& address() const { return address_; }
    // Connections open (those being closed included), for the tests.
    std::size_t connections() const { return slots_.open(); }

private:
    struct DaemonDeleter {
        void operator()(MHD_Daemon* daemon) const;
    };
    // One accepted connection, from MHD's "started" to its "closed".
    struct Connection {
        ClientSlots::Id id = 0;
        int fd = -1; // MHD's; shutdown() only, never closed here
        MHD_Connection* mhd = nullptr;
        // Suspended until its response is rendered.
        bool suspended = false;
        // The current request's response, and whether MHD has it.
        std::shared_ptr<const HttpResponse> response;
        bool asked = false;
        bool queued = false;
    };
    void run();
    // The handler's reply for connection `id` (if it is still open).
    void answer(ClientSlots::Id id, std::shared_ptr<const HttpResponse> response);
    void on_listener(const Stamp& stamp);
    void on_lifetime(const Stamp& stamp);
    void arm_lifetime(std::int64_t now_ns);
    // Closes it by shutdown(): MHD sees the end on its next run and drops it.
    void end(ClientSlots::Id id);
    void note(std::int64_t now_ns, const std::string& what);

    EventLoop& loop_;
    ListenAddress address_;
    Handler handler_;
    UniqueFd listener_;
    Timer timer_;
    Timer lifetime_;
    std::unique_ptr<MHD_Daemon, DaemonDeleter> daemon_;
    EventLoop::Registration listener_watch_ = 0;
    EventLoop::Registration epoll_watch_ = 0;
    EventLoop::Registration timer_watch_ = 0;
    EventLoop::Registration lifetime_watch_ = 0;
    ClientSlots slots_{connection_limit, connection_lifetime_ns, connection_overflow,
                       connection_grace_ns};
    std::map<ClientSlots::Id, std::unique_ptr<Connection>> connections_;
    ClientSlots::Id next_id_ = 1;
    WarningLimit refused_;
    // Replies that arrive after this server is gone find it expired.
    std::shared_ptr<HttpServer*> alive_ = std::make_shared<HttpServer*>(this);

    friend struct HttpCallbacks;
};

} // namespace shmrefclock
