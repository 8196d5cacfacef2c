#include "daemon/http_server.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <fmt/format.h>
#include <microhttpd.h>
#include <spdlog/spdlog.h>

#include "io/unique_fd.hpp"

namespace shmrefclock {

struct HttpCallbacks {
    // MHD's access handler: called once per request (we answer on the first
    // call; a request body, if any, is not read).
    static MHD_Result on_request(void* cls, MHD_Connection* connection, const char* url,
                                 const char* method, const char* /*version*/,
                                 const char* /*upload_data*/, std::size_t* /*upload_data_size*/,
                                 void** /*con_cls*/) {
        auto* server = static_cast<HttpServer*>(cls);
        HttpResponse response;
        const std::string_view verb = method != nullptr ? method : "";
        // RFC 9110 9.1: a general-purpose server must support GET and HEAD;
        // MHD sends no body for HEAD itself. Anything else: 405 with Allow.
        const bool allowed = verb == MHD_HTTP_METHOD_GET || verb == MHD_HTTP_METHOD_HEAD;
        if (!allowed) {
            response = {MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
                        "405 method not allowed: GET or HEAD only\n"};
        } else {
            try {
                response = server->handler_(url != nullptr ? url : "");
            } catch (const std::exception& e) {
                spdlog::error("http: rendering {} failed: {}", url != nullptr ? url : "", e.what());
                response = {MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8",
                            "500 internal error\n"};
            }
        }
        MHD_Response* reply = MHD_create_response_from_buffer(
            response.body.size(), response.body.data(), MHD_RESPMEM_MUST_COPY);
        if (reply == nullptr) {
            return MHD_NO; // out of memory: MHD closes the connection
        }
        MHD_add_response_header(reply, MHD_HTTP_HEADER_CONTENT_TYPE, response.content_type.c_str());
        MHD_add_response_header(reply, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        MHD_add_response_header(reply, "X-Content-Type-Options", "nosniff");
        // The page has no script and no external asset; say so, so that a
        // browser refuses anything else (and an injected tag could not load).
        MHD_add_response_header(reply, "Content-Security-Policy",
                                "default-src 'none'; style-src 'unsafe-inline'; img-src data:");
        if (!allowed) {
            MHD_add_response_header(reply, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        }
        const MHD_Result queued = MHD_queue_response(connection, response.status, reply);
        MHD_destroy_response(reply);
        return queued;
    }

    // No percent-decoding: the two paths served need none, and MHD's
    // decoding turns "/%00" into "/" followed by a NUL, which the C string
    // it hands the access handler would end at (a request for "/%00junk"
    // answered as "/"). Undecoded, anything but "/" and "/metrics" is 404.
    static std::size_t keep_escaped(void* /*cls*/, MHD_Connection* /*connection*/, char* text) {
        return std::strlen(text);
    }

    // MHD's own messages (a refused connection, a malformed request): debug,
    // since any client can cause them and the log must not be theirs to fill.
    static void on_log(void* /*cls*/, const char* format, va_list args) {
        char line[512];
        std::vsnprintf(line, sizeof line, format, args);
        std::string_view text = line;
        while (!text.empty() && text.back() == '\n') {
            text.remove_suffix(1);
        }
        spdlog::debug("http: {}", text);
    }
};

void HttpServer::DaemonDeleter::operator()(MHD_Daemon* daemon) const {
    MHD_stop_daemon(daemon);
}

namespace {

// The listening socket, bound here rather than by MHD, so that a failure
// says why (MHD_start_daemon only returns NULL).
UniqueFd listen_on(const ListenAddress& address) {
    sockaddr_storage storage{};
    socklen_t length = 0;
    if (address.ipv6) {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(address.port);
        if (inet_pton(AF_INET6, address.host.c_str(), &in6->sin6_addr) != 1) {
            throw HttpError(fmt::format("metrics: {} is not an IPv6 address", address.text));
        }
        length = sizeof *in6;
    } else {
        auto* in4 = reinterpret_cast<sockaddr_in*>(&storage);
        in4->sin_family = AF_INET;
        in4->sin_port = htons(address.port);
        if (inet_pton(AF_INET, address.host.c_str(), &in4->sin_addr) != 1) {
            throw HttpError(fmt::format("metrics: {} is not an IPv4 address", address.text));
        }
        length = sizeof *in4;
    }
    const auto fail = [&](std::string_view what) {
        return HttpError(fmt::format("metrics: cannot listen on {}: {}: {}", address.text, what,
                                     std::strerror(errno)));
    };
    UniqueFd fd(::socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) {
        throw fail("socket");
    }
    const int one = 1;
    // A restart must not wait out TIME_WAIT of the last scrape's connection.
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (address.ipv6) {
        // [::]:PORT means IPv6 only; an IPv4 listener is configured as such.
        ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&storage), length) != 0) {
        throw fail("bind");
    }
    if (::listen(fd.get(), 16) != 0) {
        throw fail("listen");
    }
    return fd;
}

} // namespace

HttpServer::HttpServer(EventLoop& loop, const ListenAddress& address, Handler handler)
    : loop_(loop), address_(address), handler_(std::move(handler)) {
    UniqueFd socket = listen_on(address_);
    const unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | (address_.ipv6 ? MHD_USE_IPv6 : 0);
    auto* const log = &HttpCallbacks::on_log;
    auto* const unescape = &HttpCallbacks::keep_escaped;
    // The logger first: MHD logs with its own (stderr) until it has seen it.
    MHD_Daemon* daemon = MHD_start_daemon(
        flags, 0, nullptr, nullptr, &HttpCallbacks::on_request, this, MHD_OPTION_EXTERNAL_LOGGER,
        log, nullptr, MHD_OPTION_LISTEN_SOCKET, socket.get(), MHD_OPTION_CONNECTION_LIMIT,
        connection_limit, MHD_OPTION_CONNECTION_MEMORY_LIMIT, connection_memory_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, connection_timeout_s, MHD_OPTION_UNESCAPE_CALLBACK, unescape,
        nullptr, MHD_OPTION_END);
    if (daemon == nullptr) {
        throw HttpError(fmt::format("metrics: cannot listen on {}: libmicrohttpd refused to start",
                                    address_.text));
    }
    // MHD_stop_daemon closes the listening socket from now on.
    socket.release();
    daemon_.reset(daemon);
    const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (info == nullptr) {
        throw HttpError(fmt::format("metrics: cannot listen on {}: no epoll fd", address_.text));
    }
    epoll_watch_ = loop_.watch(info->epoll_fd, [this](const Stamp&) { run(); });
    timer_watch_ = loop_.watch(timer_.fd(), [this](const Stamp&) {
        if (timer_.expirations() > 0) {
            run();
        }
    });
    spdlog::info("metrics: listening on http://{}/ (/metrics, status page at /)", address_.text);
}

HttpServer::~HttpServer() {
    loop_.unwatch(epoll_watch_);
    loop_.unwatch(timer_watch_);
}

void HttpServer::run() {
    MHD_run(daemon_.get());
    // The next connection timeout, if a connection is open; 0 when MHD has
    // work left that no fd will announce (its own ready list), so run
    // again from the loop at once.
    MHD_UNSIGNED_LONG_LONG timeout_ms = 0;
    if (MHD_get_timeout(daemon_.get(), &timeout_ms) == MHD_YES) {
        const auto ns = static_cast<std::int64_t>(timeout_ms) * 1'000'000;
        timer_.arm(std::max<std::int64_t>(ns, 1), 0);
    } else {
        timer_.disarm();
    }
}

} // namespace shmrefclock
