// How an NMEA wake-up becomes the core's one event (NmeaRead, nmea_core.hpp):
// which reads are made, how many, what ends them, and when the kernel's
// clock state is read. The daemon's shell (sources/nmea.cpp) drives its
// device through read_line(), and so does the replay behind `decode` and the
// unit tests (nmea_replay.hpp) with a byte schedule: what decode prints is
// what the daemon would publish by construction, not by imitation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "core/kernel_clock.hpp"
#include "core/leap_seconds.hpp"
#include "core/nmea_core.hpp"

namespace shmrefclock {

// What one read of the line returned: bytes, or why none.
struct LineRead {
    enum class Status : std::uint8_t {
        bytes,       // `size` bytes (> 0)
        drained,     // nothing more queued (EAGAIN)
        interrupted, // EINTR: read again
        ended,       // end of data: the TCP peer closed, the tty hung up
        failed,      // `error` (an errno): EIO when a pty's other side closed or a USB adapter went
    };
    Status status = Status::drained;
    std::size_t size = 0;
    int error = 0;
};

// The line as the driver reads it: a non-blocking device (the shell), or a
// schedule of byte arrivals at the replay's time (nmea_replay.cpp).
class NmeaLine {
public:
    virtual ~NmeaLine() = default;
    // The bytes queued now (FIONREAD).
    virtual int queued() = 0;
    // One read into `buffer`.
    virtual LineRead read(std::span<char> buffer) = 0;
    // The kernel's clock state at the wake-up stamped `stamp` (ntp_adjtime
    // modes 0); nothing if the line has no kernel (a replay without one).
    virtual std::optional<KernelClock> kernel_clock(const Stamp& stamp) = 0;
};

// Reads of a wake-up: at most max_reads of read_chunk bytes, so that a
// receiver flooding the line cannot keep the loop here (the next batch
// reads the rest); a read shorter than read_chunk ends them (the line is
// drained: no read just to hear EAGAIN).
inline constexpr std::size_t read_chunk = 4096;
inline constexpr int max_reads = 64;

// `wake` at `stamp`: on a device wake-up, the bytes queued (where the core
// uses them) and the kernel's state, then the reads, handed to `core` as
// one NmeaRead with the daemon's leap-second list (null: none, as
// `decode`). Returns the core's actions.
Actions read_line(NmeaCore& core, NmeaLine& line, NmeaRead::Wake wake, const Stamp& stamp,
                  const LeapListLoad* leap_seconds);

} // namespace shmrefclock
