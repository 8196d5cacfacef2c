// Where a refclock's samples go: an SHM segment, and later chrony's SOCK
// socket. One small interface, after linuxptp's ntpshm / refclock_sock.
#pragma once

#include <memory>
#include <string>

#include "shmrefclock/sample.hpp"

namespace shmrefclock {

class Output {
public:
    virtual ~Output() = default;
    virtual void write(const Sample& sample) = 0;
    // Readers must stop taking samples (stale source, shutdown).
    virtual void withdraw() = 0;
    virtual std::string describe() const = 0;
};

// The SHM unit output; throws ShmError when the segment is refused.
std::unique_ptr<Output> make_shm_output(int unit, unsigned perm);
// chrony's SOCK refclock socket at `path`; never throws for an absent chronyd
// (it connects when chronyd appears).
std::unique_ptr<Output> make_chrony_sock_output(const std::string& path);

} // namespace shmrefclock
