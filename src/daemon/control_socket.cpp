#include "daemon/control_socket.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <iterator>
#include <string_view>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace shmrefclock {

namespace {

// Connections the kernel queues before accept(); beyond it a client's
// connect() fails with EAGAIN (a Unix socket does not drop, it refuses).
constexpr int listen_backlog = 64;

std::string parent_of(const std::string& path) {
    const auto slash = path.rfind('/');
    return slash == std::string::npos || slash == 0 ? std::string("/") : path.substr(0, slash);
}

bool fill_address(const std::string& path, sockaddr_un& address) {
    address = {};
    address.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(address.sun_path)) {
        return false;
    }
    std::memcpy(address.sun_path, path.data(), path.size());
    return true;
}

// Whether a daemon accepts connections at `path` now: a non-blocking
// connect() to a Unix stream socket succeeds at once when someone listens
// (or fails with EAGAIN when its queue is full: alive too), and fails with
// ECONNREFUSED when the file is left from a process that is gone.
enum class Probe { alive, stale, unknown };
Probe probe(const sockaddr_un& address, int& error) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) {
        error = errno;
        return Probe::unknown;
    }
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0 ||
        errno == EAGAIN) {
        return Probe::alive;
    }
    error = errno;
    return errno == ECONNREFUSED ? Probe::stale : Probe::unknown;
}

} // namespace

std::string control_error_reply(const std::string& message) {
    // replace: a message quoting a client's bytes must never make dump() throw
    // on invalid UTF-8 (core/control_protocol quotes them escaped already).
    return nlohmann::ordered_json{{"error", message}}.dump(
               -1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) +
           "\n";
}

ControlSocket::ControlSocket(EventLoop& loop, std::string path, Responder respond)
    : loop_(loop), path_(std::move(path)), respond_(std::move(respond)) {
    if (!bind_listener()) {
        listener_.reset();
        return;
    }
    listener_registration_ =
        loop_.watch(listener_.get(), [this](const Stamp& stamp) { on_listener(stamp); });
    deadline_registration_ =
        loop_.watch(deadline_.fd(), [this](const Stamp& stamp) { on_deadline(stamp); });
    spdlog::info("control socket: listening at {} (`shmrefclock status` asks here)", path_);
}

ControlSocket::~ControlSocket() {
    while (!clients_.empty()) {
        drop(clients_.begin()->first);
    }
    if (!listener_.valid()) {
        return;
    }
    loop_.unwatch(listener_registration_);
    loop_.unwatch(deadline_registration_);
    listener_.reset();
    // Only the file this daemon bound: if someone replaced it meanwhile, it
    // is theirs.
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == bound_dev_ && st.st_ino == bound_ino_) {
        ::unlink(path_.c_str());
    }
}

bool ControlSocket::bind_listener() {
    sockaddr_un address{};
    if (!fill_address(path_, address)) {
        spdlog::warn("control socket: path \"{}\" is too long for a Unix socket ({} bytes at "
                     "most): running without it",
                     path_, sizeof(address.sun_path) - 1);
        return false;
    }
    listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!listener_.valid()) {
        spdlog::warn("control socket: socket(AF_UNIX): {}: running without it",
                     std::strerror(errno));
        return false;
    }
    const auto* addr = reinterpret_cast<const sockaddr*>(&address);
    int rc = ::bind(listener_.get(), addr, sizeof address);
    if (rc != 0 && errno == EADDRINUSE) {
        struct stat st {};
        if (::lstat(path_.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode)) {
            spdlog::warn("control socket: {} exists and is not a socket; left alone, running "
                         "without a control socket",
                         path_);
            return false;
        }
        int error = 0;
        switch (probe(address, error)) {
        case Probe::alive:
            spdlog::warn("control socket: another daemon answers at {}; not taking it over, "
                         "running without a control socket (give each daemon its own "
                         "[daemon] control path)",
                         path_);
            return false;
        case Probe::unknown:
            spdlog::warn("control socket: {} exists and cannot be probed ({}); running without "
                         "a control socket",
                         path_, std::strerror(error));
            return false;
        case Probe::stale:
            // Left by a daemon that was killed: nobody accepts on it. (Two
            // daemons starting at the same instant could both get here; the
            // second bind then fails with EADDRINUSE below.)
            spdlog::info("control socket: replacing {}, left by a daemon that is gone", path_);
            ::unlink(path_.c_str());
            rc = ::bind(listener_.get(), addr, sizeof address);
            break;
        }
    }
    if (rc != 0) {
        const int error = errno;
        const bool directory = error == ENOENT || error == EACCES || error == EROFS;
        spdlog::warn("control socket: cannot bind {}: {}{}; the daemon runs on without it{}", path_,
                     std::strerror(error),
                     directory ? fmt::format(" (directory {})", parent_of(path_)) : std::string(),
                     directory ? " (under systemd, RuntimeDirectory=shmrefclock creates it; run by "
                                 "hand, create it writable, or set [daemon] control to another "
                                 "path, or \"\" for none)"
                               : "");
        return false;
    }
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0) {
        bound_dev_ = st.st_dev;
        bound_ino_ = st.st_ino;
    }
    // The socket file's mode decides who may connect (connect(2) needs write
    // permission on it); the unit's UMask=0077 would leave it to the owner.
    // Group members (shmrefclock under systemd, whose RuntimeDirectoryMode=
    // 0750 keeps everyone else out of the directory) may ask too.
    ::chmod(path_.c_str(), 0660);
    if (::listen(listener_.get(), listen_backlog) != 0) {
        spdlog::warn("control socket: listen on {}: {}; running without it", path_,
                     std::strerror(errno));
        ::unlink(path_.c_str());
        return false;
    }
    return true;
}

void ControlSocket::note(std::int64_t now_ns, const std::string& what) {
    if (auto line = misbehaving_.admit(now_ns, what)) {
        spdlog::debug("control socket: {}", *line);
    }
}

void ControlSocket::on_listener(const Stamp& stamp) {
    for (int i = 0; i < accepts_per_wakeup; ++i) {
        UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd.valid()) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED &&
                errno != EINTR) {
                // EMFILE and the like: the connection stays queued; say so
                // (rate-limited) rather than spin silently.
                note(stamp.monotonic_ns, fmt::format("accept: {}", std::strerror(errno)));
            }
            break;
        }
        const ClientSlots::Admission admission = slots_.admit(stamp.monotonic_ns);
        if (admission.refuse) {
            // Told, not queued: a fresh socket's send buffer takes one short
            // line, so this write never blocks; then closed at once.
            const std::string busy = control_error_reply(fmt::format(
                "busy: {} clients are being answered, the most the daemon serves at once; "
                "try again",
                slots_.held()));
            [[maybe_unused]] const auto n =
                ::send(fd.get(), busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            note(stamp.monotonic_ns,
                 fmt::format("{} clients being answered already: one more told busy",
                             slots_.held()));
            continue;
        }
        if (admission.evict) {
            // Told why, as far as its socket takes it (it has sent no
            // request, so it has read nothing either), then closed.
            if (auto victim = clients_.find(*admission.evict); victim != clients_.end()) {
                const std::string closed = control_error_reply(
                    fmt::format("closed: {} clients connected and this one had sent no request",
                                slots_.held() + 1));
                [[maybe_unused]] const auto n = ::send(victim->second->fd.get(), closed.data(),
                                                       closed.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            }
            drop(*admission.evict);
            note(stamp.monotonic_ns,
                 fmt::format("{} clients connected: the one idle the longest (no request yet) "
                             "closed for a new one",
                             slots_.held() + 1));
        }
        const std::uint64_t id = next_id_++;
        auto client = std::make_unique<Client>();
        client->registration =
            loop_.watch(fd.get(), [this, id](const Stamp& at) { on_client(id, at); });
        client->fd = std::move(fd);
        clients_.emplace(id, std::move(client));
        slots_.opened(id, stamp.monotonic_ns);
        // Its request now, if it came with the connection (a real client
        // sends it at once): then it is being answered, and no flood of
        // newer connections can take its slot before the loop reads it.
        on_client(id, stamp);
    }
    arm_deadline(stamp.monotonic_ns);
}

void ControlSocket::on_client(std::uint64_t id, const Stamp& stamp) {
    auto it = clients_.find(id);
    if (it == clients_.end()) {
        return;
    }
    Client& client = *it->second;
    if (client.replying) {
        if (!write_some(client)) {
            drop(id);
        }
        return;
    }
    // At most what completes the longest request: a flood is read 64 bytes
    // at a time per client and never buffered.
    char buffer[control_request_max];
    const std::size_t room = control_request_max - client.received.size();
    const ssize_t n = ::recv(client.fd.get(), buffer, room, MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            return;
        }
        note(stamp.monotonic_ns,
             fmt::format("client gone before its request: {}", std::strerror(errno)));
        drop(id);
        return;
    }
    client.received.append(buffer, static_cast<std::size_t>(n));
    const ControlParse parse = parse_control_request(client.received, n == 0);
    switch (parse.kind) {
    case ControlParse::Kind::incomplete:
        if (n == 0) { // unreachable: eof always decides; kept for safety
            drop(id);
        }
        return;
    case ControlParse::Kind::error:
        note(stamp.monotonic_ns, "bad request: " + parse.error);
        answering(id, client);
        reply(id, std::make_shared<const std::string>(control_error_reply(parse.error)));
        return;
    case ControlParse::Kind::request: {
        answering(id, client);
        std::weak_ptr<ControlSocket*> alive = alive_;
        try {
            respond_(parse.request, stamp, [alive, id](std::shared_ptr<const std::string> text) {
                if (auto socket = alive.lock()) {
                    (*socket)->reply(id, std::move(text));
                }
            });
        } catch (const std::exception& e) {
            // A bug in building the state must not take the daemon down.
            spdlog::warn("control socket: cannot build the reply: {}", e.what());
            reply(id, std::make_shared<const std::string>(control_error_reply(
                          "internal error: the daemon could not build its state")));
        }
        return;
    }
    }
}

void ControlSocket::answering(std::uint64_t id, Client& client) {
    client.replying = true;
    slots_.busy(id);
    // No more reading: the request is the first line, anything after it is
    // never looked at.
    loop_.unwatch(client.registration);
    client.registration = 0;
}

void ControlSocket::reply(std::uint64_t id, std::shared_ptr<const std::string> text) {
    auto it = clients_.find(id);
    if (it == clients_.end() || it->second->reply) {
        return; // gone (its deadline), or answered already
    }
    Client& client = *it->second;
    client.reply = std::move(text);
    if (!write_some(client)) {
        drop(id);
        return;
    }
    // The socket did not take it all (a large history, a client that does
    // not read): the rest when there is room, until the deadline.
    client.registration = loop_.watch(
        client.fd.get(), [this, id](const Stamp& at) { on_client(id, at); },
        EventLoop::Ready::output);
}

bool ControlSocket::write_some(Client& client) {
    const std::string& reply = *client.reply;
    while (client.written < reply.size()) {
        const ssize_t n = ::send(client.fd.get(), reply.data() + client.written,
                                 reply.size() - client.written, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            // EAGAIN: full, wait for room; anything else (EPIPE: the
            // client left) ends it.
            return errno == EAGAIN || errno == EWOULDBLOCK;
        }
        client.written += static_cast<std::size_t>(n);
    }
    return false; // all taken: close
}

void ControlSocket::drop(std::uint64_t id) {
    auto it = clients_.find(id);
    if (it == clients_.end()) {
        return;
    }
    if (it->second->registration != 0) {
        loop_.unwatch(it->second->registration);
    }
    clients_.erase(it); // closes the fd
    slots_.closed(id);
}

void ControlSocket::on_deadline(const Stamp& stamp) {
    if (deadline_.expirations() == 0) {
        return;
    }
    const auto late = slots_.expire(stamp.monotonic_ns);
    for (const std::uint64_t id : late) {
        drop(id);
    }
    if (!late.empty()) {
        note(stamp.monotonic_ns,
             fmt::format("{} client(s) dropped at their {} s deadline (request not sent, or "
                         "reply not read)",
                         late.size(), client_deadline_ns / 1'000'000'000));
    }
    arm_deadline(stamp.monotonic_ns);
}

void ControlSocket::arm_deadline(std::int64_t now_ns) {
    if (const auto next = slots_.next_expiry()) {
        // At least 1 ns: 0 would disarm the timer.
        deadline_.arm(std::max<std::int64_t>(*next - now_ns, 1), 0);
    } else {
        deadline_.disarm();
    }
}

} // namespace shmrefclock
