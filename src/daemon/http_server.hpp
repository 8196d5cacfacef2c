// The HTTP listener for /metrics and the status page: libmicrohttpd in its
// external epoll mode (MHD_USE_EPOLL without an internal thread), inside the
// daemon's one event loop. The loop watches MHD's epoll fd and calls
// MHD_run when it is readable; a one-shot Timer armed from MHD_get_timeout
// drives connection timeouts. With no connection open, MHD asks for no
// timeout and the timer stays disarmed: an idle listener wakes nobody.
#pragma once

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "io/event_loop.hpp"

struct MHD_Daemon;

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
    // Called for GET (and HEAD) with the request's path; the server answers
    // other methods with 405 itself.
    using Handler = std::function<HttpResponse(std::string_view path)>;

    // The limits, chosen for a scraper and a browser or two on a time
    // server, and to bound what a hostile client can make the daemon hold:
    // - connections: 32 at once (a Prometheus server keeps one keep-alive
    //   connection per scrape target; a browser opens up to 6). Past the
    //   limit MHD accepts and closes at once.
    // - per-connection memory: 16 KiB for the request line and headers
    //   (MHD answers larger with 431); Prometheus sends ~300 bytes,
    //   Chromium ~1 KB. 32 x 16 KiB = 512 KiB at most, allocated only while
    //   connections are open.
    // - idle timeout: 10 s without progress closes a connection, so a client
    //   that never reads its response, or idles, frees its slot (Prometheus's
    //   default scrape_timeout is 10 s too).
    static constexpr unsigned connection_limit = 32;
    static constexpr std::size_t connection_memory_limit = 16 * 1024;
    static constexpr unsigned connection_timeout_s = 10;

    // Binds and listens on `address` now; throws HttpError naming the
    // address (and errno's reason) if it cannot.
    HttpServer(EventLoop& loop, const ListenAddress& address, Handler handler);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    const ListenAddress& address() const { return address_; }

private:
    struct DaemonDeleter {
        void operator()(MHD_Daemon* daemon) const;
    };
    void run();

    EventLoop& loop_;
    ListenAddress address_;
    Handler handler_;
    Timer timer_;
    std::unique_ptr<MHD_Daemon, DaemonDeleter> daemon_;
    EventLoop::Registration epoll_watch_ = 0;
    EventLoop::Registration timer_watch_ = 0;

    friend struct HttpCallbacks;
};

} // namespace shmrefclock
