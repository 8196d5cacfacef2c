#include "io/resolver.hpp"

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <system_error>
#include <thread>

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/unique_fd.hpp"

namespace shmrefclock {

// Shared by the Resolution and its thread; the last of the two to let go
// frees the addresses and closes the eventfd, so the thread never writes to
// an fd number that the loop has closed and reused.
struct Resolution::State {
    std::string host, port;
    UniqueFd event;
    addrinfo* found = nullptr;
    int rc = 0;
    int system_errno = 0;
    std::string failure; // set when no lookup could be started
    std::atomic<bool> done{false};

    ~State() {
        if (found != nullptr) {
            freeaddrinfo(found);
        }
    }

    void lookup(int flags) {
        addrinfo hints{};
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_ADDRCONFIG | flags;
        rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
        system_errno = errno;
    }
};

Resolution::Resolution(const std::string& host, const std::string& port)
    : state_(std::make_shared<State>()) {
    state_->host = host;
    state_->port = port;
    // A numeric address needs no DNS: AI_NUMERICHOST never blocks.
    state_->lookup(AI_NUMERICHOST);
    if (state_->rc != EAI_NONAME) {
        state_->done = true;
        return;
    }
    state_->event.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!state_->event.valid()) {
        state_->failure = std::string("eventfd: ") + std::strerror(errno);
        state_->done = true;
        return;
    }
    try {
        // The thread inherits the loop thread's blocked signals (the daemon
        // takes them by signalfd), so no signal is delivered to it.
        std::thread([state = state_] {
            state->lookup(0);
            state->done = true;
            const std::uint64_t one = 1;
            // Cannot fail but for a counter overflow; the loop reads done.
            [[maybe_unused]] const ssize_t n = ::write(state->event.get(), &one, sizeof one);
        }).detach();
    } catch (const std::system_error& e) {
        state_->failure = std::string("cannot start the resolver thread: ") + e.what();
        state_->event.reset();
        state_->done = true;
    }
}

Resolution::~Resolution() = default;

int Resolution::fd() const {
    return state_->event.get();
}

bool Resolution::done() const {
    return state_->done;
}

const addrinfo* Resolution::addresses() const {
    return done() && state_->rc == 0 ? state_->found : nullptr;
}

std::string Resolution::error() const {
    if (!done()) {
        return "still resolving";
    }
    if (!state_->failure.empty()) {
        return state_->failure;
    }
    if (state_->rc == 0) {
        return "";
    }
    if (state_->rc == EAI_SYSTEM) {
        return std::strerror(state_->system_errno);
    }
    return gai_strerror(state_->rc);
}

} // namespace shmrefclock
