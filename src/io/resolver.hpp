// Name resolution that cannot block the event loop (issue 8, case 6): a
// tcp://NAME:PORT receiver behind a slow DNS server made getaddrinfo() hold
// the loop for up to 30 s (glibc's resolver: `timeout` 5 s x `attempts` 2 per
// server, resolv.conf(5)), so every other refclock went stale, SIGTERM was
// not answered and the watchdog (WatchdogSec=30) could fire.
//
// A numeric address (127.0.0.1, ::1) is taken at once. A name is looked up
// by getaddrinfo() on a thread of its own, which signals an eventfd that the
// loop watches. getaddrinfo() cannot be interrupted (nor can getaddrinfo_a()
// cancel a lookup that has started), so abandoning a lookup -- a reopen, a
// reload, shutdown -- does not wait for it: the thread finishes on its own
// and frees what it holds; nothing it touches is shared with the loop but
// its own State.
#pragma once

#include <memory>
#include <string>

#include <netdb.h>

namespace shmrefclock {

class Resolution {
public:
    // Start resolving `host`:`port` for a TCP stream.
    Resolution(const std::string& host, const std::string& port);
    // Abandons a lookup still running.
    ~Resolution();
    Resolution(const Resolution&) = delete;
    Resolution& operator=(const Resolution&) = delete;

    // Readable (an eventfd) once the lookup is done; -1 when it was done at
    // once (a numeric address, or the thread could not be started).
    int fd() const;
    bool done() const;
    // After done(): the addresses (nullptr on failure) and, on failure, why.
    const addrinfo* addresses() const;
    std::string error() const;

    struct State;

private:
    std::shared_ptr<State> state_;
};

} // namespace shmrefclock
