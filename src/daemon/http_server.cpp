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

namespace {

// What a request's per-request context (MHD's con_cls) points at once the
// request has been seen: its later calls only discard a body.
char request_seen;

const std::shared_ptr<const HttpResponse>& not_allowed() {
    static const auto response = std::make_shared<const HttpResponse>(
        HttpResponse{MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
                     "405 method not allowed: GET or HEAD only\n"});
    return response;
}

void release_response(void* cls) {
    delete static_cast<std::shared_ptr<const HttpResponse>*>(cls);
}

// Queues `response` without copying its body: MHD holds a reference to the
// shared rendering until it has sent it.
MHD_Result queue(MHD_Connection* connection, const std::shared_ptr<const HttpResponse>& response) {
    auto* keep = new std::shared_ptr<const HttpResponse>(response);
    MHD_Response* reply = MHD_create_response_from_buffer_with_free_callback_cls(
        response->body.size(), const_cast<char*>(response->body.data()), &release_response, keep);
    if (reply == nullptr) {
        delete keep;
        return MHD_NO; // out of memory: MHD closes the connection
    }
    MHD_add_response_header(reply, MHD_HTTP_HEADER_CONTENT_TYPE, response->content_type.c_str());
    MHD_add_response_header(reply, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(reply, "X-Content-Type-Options", "nosniff");
    // The page has no script and no external asset; say so, so that a
    // browser refuses anything else (and an injected tag could not load).
    MHD_add_response_header(reply, "Content-Security-Policy",
                            "default-src 'none'; style-src 'unsafe-inline'; img-src data:");
    if (response->status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        MHD_add_response_header(reply, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    }
    const MHD_Result queued = MHD_queue_response(connection, response->status, reply);
    MHD_destroy_response(reply);
    return queued;
}

} // namespace

struct HttpCallbacks {
    static HttpServer::Connection* find(MHD_Connection* connection) {
        const MHD_ConnectionInfo* info =
            MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        return info != nullptr ? static_cast<HttpServer::Connection*>(info->socket_context)
                               : nullptr;
    }

    // MHD's access handler: called when a request's headers have arrived,
    // again for each part of a body, once more when the request is complete
    // (upload_data_size 0), and again after a resume.
    static MHD_Result on_request(void* cls, MHD_Connection* connection, const char* url,
                                 const char* method, const char* /*version*/,
                                 const char* /*upload_data*/, std::size_t* upload_data_size,
                                 void** con_cls) {
        auto* server = static_cast<HttpServer*>(cls);
        HttpServer::Connection* conn = find(connection);
        if (conn == nullptr) {
            return MHD_NO;
        }
        const std::string_view verb = method != nullptr ? method : "";
        if (*con_cls == nullptr) {
            // The headers are in.
            *con_cls = &request_seen;
            conn->queued = false;
            conn->asked = false;
            conn->response.reset();
            // RFC 9110 9.1: a general-purpose server must support GET and
            // HEAD; MHD sends no body for HEAD itself. Anything else: 405
            // with Allow, at once (MHD then closes rather than read a body).
            if (verb != MHD_HTTP_METHOD_GET && verb != MHD_HTTP_METHOD_HEAD) {
                conn->response = not_allowed();
                conn->queued = true;
                return queue(connection, conn->response);
            }
            // Answered when the request is complete (the next call), so
            // that the connection can be kept alive for the next one.
            return MHD_YES;
        }
        if (*upload_data_size != 0) {
            *upload_data_size = 0; // a GET's body: not read
            return MHD_YES;
        }
        if (conn->queued || conn->suspended) {
            return MHD_YES;
        }
        if (!conn->asked) {
            conn->asked = true;
            server->slots_.busy(conn->id);
            const ClientSlots::Id id = conn->id;
            std::weak_ptr<HttpServer*> alive = server->alive_;
            try {
                server->handler_(url != nullptr ? url : "",
                                 [alive, id](std::shared_ptr<const HttpResponse> response) {
                                     if (auto live = alive.lock()) {
                                         (*live)->answer(id, std::move(response));
                                     }
                                 });
            } catch (const std::exception& e) {
                // Never through MHD's C frames.
                spdlog::error("http: answering {} failed: {}", url != nullptr ? url : "", e.what());
                conn->response = std::make_shared<const HttpResponse>(
                    HttpResponse{MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8",
                                 "500 internal error\n"});
            }
        }
        if (conn->response) {
            conn->queued = true;
            return queue(connection, conn->response);
        }
        // Rendered off the loop: parked until answer() resumes it.
        conn->suspended = true;
        MHD_suspend_connection(connection);
        return MHD_YES;
    }

    static void on_completed(void* cls, MHD_Connection* connection, void** /*con_cls*/,
                             MHD_RequestTerminationCode /*toe*/) {
        auto* server = static_cast<HttpServer*>(cls);
        if (HttpServer::Connection* conn = find(connection)) {
            conn->response.reset();
            conn->queued = false;
            server->slots_.idle(conn->id, stamp_now().monotonic_ns);
        }
    }

    static void on_connection(void* cls, MHD_Connection* connection, void** socket_context,
                              MHD_ConnectionNotificationCode code) {
        auto* server = static_cast<HttpServer*>(cls);
        if (code == MHD_CONNECTION_NOTIFY_STARTED) {
            const MHD_ConnectionInfo* info =
                MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
            auto conn = std::make_unique<HttpServer::Connection>();
            conn->id = server->next_id_++;
            conn->fd = info != nullptr ? info->connect_fd : -1;
            conn->mhd = connection;
            server->slots_.opened(conn->id, stamp_now().monotonic_ns);
            *socket_context = conn.get();
            server->connections_.emplace(conn->id, std::move(conn));
            return;
        }
        auto* conn = static_cast<HttpServer::Connection*>(*socket_context);
        if (conn == nullptr) {
            return;
        }
        *socket_context = nullptr;
        server->slots_.closed(conn->id);
        server->connections_.erase(conn->id);
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
    listener_ = listen_on(address_);
    // No listening socket for MHD: connections come through
    // MHD_add_connection (on_listener). Suspend and resume: a request waits,
    // off the loop's hands, for its rendering.
    const unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET |
                           MHD_ALLOW_SUSPEND_RESUME | (address_.ipv6 ? MHD_USE_IPv6 : 0);
    auto* const log = &HttpCallbacks::on_log;
    auto* const unescape = &HttpCallbacks::keep_escaped;
    auto* const completed = &HttpCallbacks::on_completed;
    auto* const notify = &HttpCallbacks::on_connection;
    // MHD's own limit leaves room for the connections being closed (evicted
    // or at the end of their lifetime, until MHD has seen it): the limit on
    // connections holding a slot is ClientSlots'.
    // The logger first: MHD logs with its own (stderr) until it has seen it.
    MHD_Daemon* daemon = MHD_start_daemon(
        flags, 0, nullptr, nullptr, &HttpCallbacks::on_request, this, MHD_OPTION_EXTERNAL_LOGGER,
        log, nullptr, MHD_OPTION_CONNECTION_LIMIT, mhd_connection_limit,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, connection_memory_limit, MHD_OPTION_CONNECTION_TIMEOUT,
        connection_timeout_s, MHD_OPTION_UNESCAPE_CALLBACK, unescape, nullptr,
        MHD_OPTION_NOTIFY_COMPLETED, completed, this, MHD_OPTION_NOTIFY_CONNECTION, notify, this,
        MHD_OPTION_END);
    if (daemon == nullptr) {
        throw HttpError(fmt::format("metrics: cannot listen on {}: libmicrohttpd refused to start",
                                    address_.text));
    }
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
    lifetime_watch_ =
        loop_.watch(lifetime_.fd(), [this](const Stamp& stamp) { on_lifetime(stamp); });
    listener_watch_ =
        loop_.watch(listener_.get(), [this](const Stamp& stamp) { on_listener(stamp); });
    spdlog::info("metrics: listening on http://{}/ (/metrics, status page at /)", address_.text);
}

HttpServer::~HttpServer() {
    loop_.unwatch(listener_watch_);
    loop_.unwatch(epoll_watch_);
    loop_.unwatch(timer_watch_);
    loop_.unwatch(lifetime_watch_);
    // MHD_stop_daemon refuses (aborts) while a connection is suspended:
    // resume them, to be closed with the rest. Then stop MHD while what its
    // callbacks use is still here.
    alive_.reset();
    for (auto& [id, conn] : connections_) {
        if (conn->suspended) {
            conn->suspended = false;
            MHD_resume_connection(conn->mhd);
        }
    }
    daemon_.reset();
}

void HttpServer::note(std::int64_t now_ns, const std::string& what) {
    if (auto line = refused_.admit(now_ns, what)) {
        spdlog::debug("http: {}", *line);
    }
}

void HttpServer::on_listener(const Stamp& stamp) {
    for (int i = 0; i < accepts_per_wakeup; ++i) {
        sockaddr_storage peer{};
        socklen_t length = sizeof peer;
        UniqueFd fd(::accept4(listener_.get(), reinterpret_cast<sockaddr*>(&peer), &length,
                              SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd.valid()) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED &&
                errno != EINTR) {
                // EMFILE and the like: the connection stays queued.
                note(stamp.monotonic_ns, fmt::format("accept: {}", std::strerror(errno)));
            }
            break;
        }
        // Those being closed still count for MHD until it has seen the end.
        const ClientSlots::Admission admission = slots_.open() >= mhd_connection_limit
                                                     ? ClientSlots::Admission{std::nullopt, true}
                                                     : slots_.admit(stamp.monotonic_ns);
        if (admission.refuse) {
            // Every slot is answering a request: told, not queued. A fresh
            // socket's send buffer takes the short reply; then closed.
            static constexpr std::string_view busy =
                "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
                "Content-Type: text/plain; charset=utf-8\r\nRetry-After: 1\r\n"
                "Content-Length: 35\r\n\r\n503 busy: every connection answers\n";
            [[maybe_unused]] const auto n =
                ::send(fd.get(), busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            note(stamp.monotonic_ns, fmt::format("{} connections are being answered: one more "
                                                 "refused with 503",
                                                 slots_.held()));
            continue;
        }
        if (admission.evict) {
            end(*admission.evict);
            note(stamp.monotonic_ns,
                 fmt::format("{} connections open: the one idle the longest closed for a new one",
                             slots_.held() + 1));
        }
        // MHD owns the socket from here, and closes it if it cannot take it.
        MHD_add_connection(daemon_.get(), fd.release(), reinterpret_cast<sockaddr*>(&peer), length);
    }
    run();
}

void HttpServer::on_lifetime(const Stamp& stamp) {
    if (lifetime_.expirations() == 0) {
        return;
    }
    const auto ended = slots_.expire(stamp.monotonic_ns);
    for (const ClientSlots::Id id : ended) {
        end(id);
    }
    if (!ended.empty()) {
        note(stamp.monotonic_ns, fmt::format("{} connection(s) closed at the end of their {} s "
                                             "lifetime",
                                             ended.size(), connection_lifetime_ns / 1'000'000'000));
    }
    run();
}

void HttpServer::end(ClientSlots::Id id) {
    auto it = connections_.find(id);
    if (it != connections_.end() && it->second->fd >= 0) {
        // MHD's epoll sees the end on this socket and closes it in its next
        // run; its "closed" notification then frees the slot's record.
        ::shutdown(it->second->fd, SHUT_RDWR);
    }
}

void HttpServer::answer(ClientSlots::Id id, std::shared_ptr<const HttpResponse> response) {
    auto it = connections_.find(id);
    if (it == connections_.end()) {
        return;
    }
    Connection& conn = *it->second;
    conn.response = std::move(response);
    if (conn.suspended) {
        // MHD's next run calls on_request again, which queues the response.
        // Without an internal thread MHD has no wake-up of its own for a
        // resume: the timer runs it on the loop's next turn.
        conn.suspended = false;
        MHD_resume_connection(conn.mhd);
        timer_.arm(1, 0);
    }
}

void HttpServer::arm_lifetime(std::int64_t now_ns) {
    if (const auto next = slots_.next_expiry()) {
        // At least 1 ns: 0 would disarm the timer.
        lifetime_.arm(std::max<std::int64_t>(*next - now_ns, 1), 0);
    } else {
        lifetime_.disarm();
    }
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
    arm_lifetime(stamp_now().monotonic_ns);
}

} // namespace shmrefclock
