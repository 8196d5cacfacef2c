#include "tools/control_client.hpp"

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/printable.hpp"
#include "io/live_state_json.hpp"
#include "io/unique_fd.hpp"

namespace shmrefclock {

namespace {

std::int64_t monotonic_ms() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<std::int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1'000'000;
}

// Why connect() failed, in the words an operator needs.
std::string connect_problem(const std::string& path, int error) {
    switch (error) {
    case ENOENT:
        // A daemon started by hand, outside the unit's RuntimeDirectory=, runs
        // without the socket (its log says so): "not running" would be wrong.
        return fmt::format("no daemon answers at {} (it does not exist: the daemon is not "
                           "running, or runs without a control socket)",
                           path);
    case ECONNREFUSED:
        return fmt::format("the daemon is not running ({}: connection refused; the socket was "
                           "left by a daemon that stopped)",
                           path);
    case EACCES:
    case EPERM:
        return fmt::format("not allowed to ask the daemon at {} ({}): run as root or as a "
                           "member of the daemon's group (shmrefclock)",
                           path, std::strerror(error));
    case EAGAIN:
        return fmt::format("the daemon at {} is not accepting connections (its queue is full)",
                           path);
    case ENOTSOCK:
    case ENOTDIR:
        return fmt::format("{} is not the daemon's control socket ({})", path,
                           std::strerror(error));
    default:
        return fmt::format("cannot connect to {}: {}", path, std::strerror(error));
    }
}

} // namespace

DaemonReply parse_control_reply(std::string_view bytes) {
    DaemonReply reply;
    if (bytes.empty()) {
        reply.problem = "the daemon closed the connection without a reply";
        return reply;
    }
    if (bytes.size() > control_reply_max) {
        reply.problem = fmt::format("the reply is longer than {} bytes", control_reply_max);
        return reply;
    }
    if (bytes.back() != '\n') {
        reply.problem = fmt::format("the reply ({} bytes) is not one complete line", bytes.size());
        return reply;
    }
    bytes.remove_suffix(1);
    if (bytes.find('\n') != std::string_view::npos) {
        reply.problem = "the reply is more than one line";
        return reply;
    }
    auto doc = nlohmann::ordered_json::parse(bytes, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
        reply.problem = fmt::format("the reply is not a JSON object: \"{}{}\"",
                                    printable(bytes.substr(0, 40)), bytes.size() > 40 ? "..." : "");
        return reply;
    }
    if (doc.contains("error")) {
        const auto& error = doc["error"];
        reply.problem = fmt::format("the daemon refused the request: {}",
                                    error.is_string() ? printable(error.get<std::string>())
                                                      : printable(error.dump()));
        return reply;
    }
    reply.state = daemon_state_from_json(doc);
    return reply;
}

DaemonReply ask_daemon(const std::string& path, const ControlRequest& request,
                       std::chrono::milliseconds timeout) {
    DaemonReply reply;
    reply.path = path;
    if (path.empty()) {
        reply.problem = "the control socket is off (control = \"\")";
        return reply;
    }
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof(address.sun_path)) {
        reply.problem = fmt::format("{}: path too long for a Unix socket", path);
        return reply;
    }
    std::memcpy(address.sun_path, path.data(), path.size());
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) {
        reply.problem = fmt::format("socket(AF_UNIX): {}", std::strerror(errno));
        return reply;
    }
    // A Unix stream connect() does not wait: it succeeds at once, or fails
    // (EAGAIN when the daemon's queue is full).
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        reply.problem = connect_problem(path, errno);
        return reply;
    }
    const std::string line = control_request_line(request);
    if (::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(line.size())) {
        reply.problem =
            fmt::format("cannot send the request to {}: {}", path, std::strerror(errno));
        return reply;
    }
    const std::int64_t deadline = monotonic_ms() + timeout.count();
    std::string bytes;
    char buffer[65536];
    for (;;) {
        const std::int64_t left = deadline - monotonic_ms();
        if (left <= 0) {
            reply.problem =
                fmt::format("the daemon at {} did not answer within {:.1f} s ({} bytes received)",
                            path, static_cast<double>(timeout.count()) / 1000.0, bytes.size());
            return reply;
        }
        pollfd pfd{fd.get(), POLLIN, 0};
        const int ready = ::poll(&pfd, 1, static_cast<int>(left));
        if (ready < 0 && errno != EINTR) {
            reply.problem = fmt::format("poll: {}", std::strerror(errno));
            return reply;
        }
        if (ready <= 0) {
            continue;
        }
        const ssize_t n = ::recv(fd.get(), buffer, sizeof buffer, 0);
        if (n == 0) {
            break;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                continue;
            }
            // ECONNRESET after a whole line: the daemon closed with our
            // bytes unread; the reply is complete.
            if (errno == ECONNRESET && !bytes.empty() && bytes.back() == '\n') {
                break;
            }
            reply.problem =
                fmt::format("reading the reply from {}: {}", path, std::strerror(errno));
            return reply;
        }
        bytes.append(buffer, static_cast<std::size_t>(n));
        if (bytes.size() > control_reply_max) {
            reply.problem =
                fmt::format("the reply from {} is longer than {} bytes", path, control_reply_max);
            return reply;
        }
    }
    DaemonReply parsed = parse_control_reply(bytes);
    parsed.path = path;
    return parsed;
}

} // namespace shmrefclock
