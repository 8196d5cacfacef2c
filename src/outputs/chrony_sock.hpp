// chrony's SOCK refclock (`refclock SOCK /path` in chrony.conf): chronyd
// binds a Unix datagram socket and takes each datagram as one sample
// (chrony refclock_sock.c, read_sample()). We are the client: connect(),
// then one non-blocking send() per sample.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <sys/time.h>

#include "io/log.hpp"
#include "io/unique_fd.hpp"
#include "outputs/output.hpp"

namespace shmrefclock {

// struct sock_sample, field for field as chrony's refclock_sock.c declares
// it; chrony drops a datagram of any other length or magic.
struct SockSample {
    timeval tv;    // system (receive) time of the measurement
    double offset; // see make_sock_sample() for the sign, which depends on pulse
    int pulse;     // non-zero: chrony numbers the second itself (RCL_AddPulse)
    int leap;      // 0 normal, 1 insert, 2 delete
    int _pad;      // ignored by chrony; sent as zero
    int magic;     // sock_magic
};

inline constexpr int sock_magic = 0x534f434b; // "SOCK"

// chrony is compiled from C for the same platform, with the same struct
// timeval: 16 bytes with a 64-bit time_t (LP64, and armhf or i386 with
// _TIME_BITS=64, where glibc widens tv_usec too), 8 with a 32-bit one
// (Debian 12 armhf). The double that follows starts right after it on every
// ABI (8 is aligned for it everywhere). A datagram of another size is
// silently dropped ("Unexpected length of SOCK sample"): 40 or 32 bytes.
inline constexpr std::size_t sock_timeval_size = sizeof(time_t) == 8 ? 16 : 8;
static_assert(sizeof(time_t) == 4 || sizeof(time_t) == 8);
static_assert(sizeof(timeval) == sock_timeval_size);
static_assert(sizeof(SockSample) == sock_timeval_size + 24);
static_assert(offsetof(SockSample, tv) == 0);
static_assert(offsetof(SockSample, offset) == sock_timeval_size);
static_assert(offsetof(SockSample, pulse) == sock_timeval_size + 8);
static_assert(offsetof(SockSample, leap) == sock_timeval_size + 12);
static_assert(offsetof(SockSample, _pad) == sock_timeval_size + 16);
static_assert(offsetof(SockSample, magic) == sock_timeval_size + 20);

// The datagram for one sample (pure).
SockSample make_sock_sample(const Sample& sample);

class ChronySockOutput : public Output {
public:
    // Tries to connect now; chronyd not running yet is not an error (it is
    // retried with every sample). `path` must fit sun_path (the config checks).
    explicit ChronySockOutput(std::string path);

    void write(const Sample& sample) override;
    // Nothing to withdraw: chrony's SOCK driver has no "current sample" slot
    // like SHM's `valid`; it takes each datagram once, as it arrives, and
    // stops using the source on its own when datagrams stop coming (the
    // reachability register empties). Not sending is all a stale source needs.
    void withdraw() override {}
    std::string describe() const override;

    // For tests and diagnostics.
    std::uint64_t sent() const { return sent_; }
    // Samples not delivered: chronyd absent, restarting, or too slow.
    std::uint64_t dropped() const { return dropped_; }
    bool connected() const { return socket_.valid(); }
    // Successful connect() calls: 1, plus one per chronyd restart seen.
    std::uint64_t connections() const { return connections_; }

private:
    struct Attempt {
        int error;        // errno, 0 when the datagram was queued
        const char* step; // "connect" or "send", for messages
        bool connected;   // a connection was made for this sample
    };
    Attempt deliver(const SockSample& datagram);
    // errno of a failed connect(), or 0.
    int connect_socket();
    // errno of a failed send(), or 0.
    int send_sample(const SockSample& datagram);

    std::string path_;
    UniqueFd socket_;
    std::uint64_t sent_ = 0;
    std::uint64_t dropped_ = 0;
    std::uint64_t connections_ = 0;
    bool failing_ = false; // the last sample was dropped
    RateLimitedLog failures_;
};

} // namespace shmrefclock
