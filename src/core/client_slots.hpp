// Which of a listener's connections to close (docs/design.md, "Clients of
// the event loop"): every connection has an absolute lifetime from its
// accept(), and when every slot is taken a new connection makes room by
// closing the one that has been idle the longest (no request being
// answered: a keep-alive connection between requests, or one whose request
// is still arriving, byte by byte), provided it has been idle for at least
// the grace period: a client held up between its connect and its request
// (a process preempted on a loaded machine) is not closed for the next
// newcomer of a reconnecting flood. While every idle connection is younger
// than that, the new one is admitted over the limit, up to `overflow` more;
// past that the one idle the longest goes whatever its age. Only when every
// connection is busy answering is the new one refused. Pure: the shell
// (daemon/http_server, daemon/control_socket) reports what happened with
// monotonic times and carries out the closes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace shmrefclock {

class ClientSlots {
public:
    using Id = std::uint64_t;

    // `limit` slots; up to `overflow` connections more while every idle one
    // is younger than `grace_ns`.
    ClientSlots(std::size_t limit, std::int64_t lifetime_ns, std::size_t overflow = 0,
                std::int64_t grace_ns = 0)
        : limit_(limit), overflow_(overflow), lifetime_ns_(lifetime_ns), grace_ns_(grace_ns) {}

    // A connection accepted at `now_ns`; idle until busy().
    void opened(Id id, std::int64_t now_ns);
    // Its request has arrived: it is being answered.
    void busy(Id id);
    // Its answer is complete (a keep-alive connection waits for the next).
    void idle(Id id, std::int64_t now_ns);
    // It is gone (whoever closed it).
    void closed(Id id);

    // A new connection arrives at `now_ns`. With a slot free: nothing to
    // close. At the limit: the connection idle the longest (ties: the older
    // one) if it has been idle for the grace period, which the shell closes;
    // it no longer holds a slot. Else, below limit + overflow: nothing to
    // close (admitted over the limit). At limit + overflow: the one idle the
    // longest, whatever its age. None idle: nullopt and `refuse` set: the
    // new connection is refused.
    struct Admission {
        std::optional<Id> evict;
        bool refuse = false;
    };
    Admission admit(std::int64_t now_ns);

    // The connections whose lifetime has ended at `now_ns` (not yet being
    // closed); each is then being closed. Oldest first.
    std::vector<Id> expire(std::int64_t now_ns);
    // When the next lifetime ends, if any connection is open and not being
    // closed.
    std::optional<std::int64_t> next_expiry() const;

    // Connections holding a slot (open and not being closed): at most
    // limit + overflow.
    std::size_t held() const { return held_; }
    // Connections not yet reported closed, those being closed included.
    std::size_t open() const { return clients_.size(); }
    std::size_t limit() const { return limit_; }
    std::size_t overflow() const { return overflow_; }
    std::int64_t lifetime_ns() const { return lifetime_ns_; }
    std::int64_t grace_ns() const { return grace_ns_; }
    bool closing(Id id) const;

private:
    struct Client {
        std::int64_t accepted_ns = 0;
        std::int64_t idle_since_ns = 0;
        bool busy = false;
        bool closing = false;
    };
    void close(Client& client);
    // The connection idle the longest (ties: the older), if it has been idle
    // since `idle_before_ns` or earlier.
    std::optional<Id> longest_idle(std::int64_t idle_before_ns) const;

    std::size_t limit_;
    std::size_t overflow_;
    std::int64_t lifetime_ns_;
    std::int64_t grace_ns_;
    std::map<Id, Client> clients_;
    std::size_t held_ = 0;
};

} // namespace shmrefclock
