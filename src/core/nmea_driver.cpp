#include "core/nmea_driver.hpp"

#include <array>
#include <cstring>
#include <string>

#include <fmt/format.h>

namespace shmrefclock {

Actions read_line(NmeaCore& core, NmeaLine& line, NmeaRead::Wake wake, const Stamp& stamp,
                  const LeapListLoad* leap_seconds) {
    NmeaRead read;
    read.wake = wake;
    read.stamp = stamp;
    read.leap_seconds = leap_seconds;
    if (wake == NmeaRead::Wake::device) {
        // Between cycles (inside one the batch timer reads): the kernel's
        // state once per cycle, for the witness, next to its first stamp;
        // the bytes queued where they date the first one.
        if (core.wants_queued()) {
            read.queued = line.queued();
        }
        read.kernel = line.kernel_clock(stamp);
    }
    std::string bytes;
    std::array<char, read_chunk> chunk{};
    for (int round = 0; round < max_reads; ++round) {
        const LineRead got = line.read(chunk);
        if (got.status == LineRead::Status::bytes) {
            bytes.append(chunk.data(), got.size);
            if (got.size < chunk.size()) {
                // The line held less than a chunk: it is drained for now.
                // Reading again to hear EAGAIN cost a syscall a wake-up
                // (issue 22: 16 receivers at 10 Hz made 445 of them a
                // second); what arrives meanwhile wakes the loop again
                // (level-triggered) or is read by the next batch, and an
                // end of data right behind the bytes by the next read.
                break;
            }
            continue;
        }
        if (got.status == LineRead::Status::interrupted) {
            continue;
        }
        if (got.status == LineRead::Status::ended) {
            read.failure = "end of data (device closed or disconnected)";
        } else if (got.status == LineRead::Status::failed) {
            read.failure = fmt::format("read: {}", std::strerror(got.error));
        }
        break;
    }
    read.bytes = bytes;
    return core.handle(read);
}

} // namespace shmrefclock
