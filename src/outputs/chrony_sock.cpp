#include "outputs/chrony_sock.hpp"

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>

namespace shmrefclock {

SockSample make_sock_sample(const Sample& sample) {
    SockSample datagram{};
    // A timeval has only microseconds: truncate the receive time, but compute
    // the offset from the exact receive time. The clocks tick together, so
    // the offset at the truncated instant is the same; what chrony gets wrong
    // is only when, not how much.
    datagram.tv.tv_sec = sample.receive_time.tv_sec;
    datagram.tv.tv_usec = sample.receive_time.tv_nsec / 1000;
    const double reference_minus_receive =
        ns_to_seconds(timespec_diff_ns(sample.reference_time, sample.receive_time));
    // chrony 4.3 refclock_sock.c, read_sample():
    //   not a pulse: RCL_AddSample(sys_ts, ref_ts = sys_ts + offset, leap):
    //     offset is reference - receive (true minus system time);
    //   a pulse: RCL_AddPulse(sys_ts, offset), whose argument is the pulse's
    //     position past the second in system time (refclock_pps.c passes
    //     1e-9 * ts.tv_nsec) and which uses -argument as the sample's offset
    //     (RCL_AddCookedPulse: offset = -second + instance->offset).
    // So a pulse carries receive - reference. Measured with chronyd 4.3: a
    // pulse sent with +0.1 s logs raw offset -0.1 s in refclocks.log.
    datagram.offset = sample.pulse ? -reference_minus_receive : reference_minus_receive;
    datagram.pulse = sample.pulse ? 1 : 0;
    // Passed through: chrony ignores a sample whose leap is not 0, 1 or 2
    // ("refclock sample ignored bad leap"), as it ignores leap 3 in SHM.
    datagram.leap = static_cast<int>(sample.leap);
    datagram._pad = 0;
    datagram.magic = sock_magic;
    return datagram;
}

namespace {

// send() failures after which the connection is worth keeping: the datagram
// could not be queued now, but the same chronyd is still there.
bool transient(int err) {
    return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS || err == ENOMEM || err == EINTR;
}

} // namespace

ChronySockOutput::ChronySockOutput(std::string path) : path_(std::move(path)) {
    // chronyd may start after us; write() connects then. Logged by write(),
    // so that a failure is reported once, with the samples it costs.
    if (connect_socket() == 0) {
        spdlog::info("chrony SOCK {}: connected", path_);
    }
}

std::string ChronySockOutput::describe() const {
    return "chrony SOCK " + path_;
}

int ChronySockOutput::connect_socket() {
    socket_.reset();
    sockaddr_un address{};
    if (path_.size() >= sizeof(address.sun_path)) {
        return ENAMETOOLONG; // the config refuses this; kept safe anyway
    }
    // Non-blocking: send() must never stall the event loop when chronyd's
    // receive queue is full (EAGAIN instead; the sample is dropped).
    UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) {
        return errno;
    }
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path_.data(), path_.size());
    // connect() on a datagram socket only records the peer; for AF_UNIX it
    // fails at once (ENOENT: no socket file; ECONNREFUSED: nobody bound).
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
        return errno;
    }
    socket_ = std::move(fd);
    ++connections_;
    return 0;
}

int ChronySockOutput::send_sample(const SockSample& datagram) {
    // MSG_NOSIGNAL: never SIGPIPE the daemon, whatever the peer did.
    const ssize_t n =
        ::send(socket_.get(), &datagram, sizeof(datagram), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
        return errno;
    }
    // A datagram is sent whole or not at all.
    return n == static_cast<ssize_t>(sizeof(datagram)) ? 0 : EMSGSIZE;
}

ChronySockOutput::Attempt ChronySockOutput::deliver(const SockSample& datagram) {
    if (socket_.valid()) {
        const int err = send_sample(datagram);
        if (err == 0 || transient(err)) {
            return {err, "send", false};
        }
        // The peer is gone: a restarted chronyd has unlinked and re-bound the
        // path, and our socket still points at the old one (send() fails with
        // ECONNREFUSED, then ENOTCONN). Connecting again reaches the new one.
    }
    // At most one connect() per sample; for AF_UNIX it never blocks.
    if (const int err = connect_socket(); err != 0) {
        return {err, "connect", false};
    }
    return {send_sample(datagram), "send", true};
}

void ChronySockOutput::write(const Sample& sample) {
    const Attempt attempt = deliver(make_sock_sample(sample));
    if (attempt.error == 0) {
        ++sent_;
        if (failing_) {
            failures_.reset();
            spdlog::info("chrony SOCK {}: delivering samples again ({} dropped so far)", path_,
                         dropped_);
            failing_ = false;
        } else if (attempt.connected) {
            spdlog::info("chrony SOCK {}: connected", path_);
        }
        return;
    }
    ++dropped_;
    failing_ = true;
    if (transient(attempt.error)) {
        failures_.error(fmt::format("chrony SOCK {}: chronyd is not taking samples fast enough "
                                    "({}: {}); dropping them",
                                    path_, attempt.step, std::strerror(attempt.error)));
        return;
    }
    failures_.error(fmt::format("chrony SOCK {}: {}: {} (is chronyd running with "
                                "\"refclock SOCK {}\", and may we write to it?); dropping "
                                "samples until it is",
                                path_, attempt.step, std::strerror(attempt.error), path_));
}

std::unique_ptr<Output> make_chrony_sock_output(const std::string& path) {
    return std::make_unique<ChronySockOutput>(path);
}

} // namespace shmrefclock
