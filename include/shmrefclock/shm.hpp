// The NTP shared-memory refclock segment ("driver 28"): the exact layout the
// readers (ntpd, NTPsec, chrony, gpsd's ntpshmmon) map, and an RAII writer.
#pragma once

#include <cstddef>
#include <ctime>
#include <optional>
#include <stdexcept>
#include <string>

#include <sys/types.h>

#include "shmrefclock/sample.hpp"
#include "shmrefclock/unit.hpp"

namespace shmrefclock {

// Layout of struct shmTime from ntpd's refclock_shm.c, field for field. The
// names are the readers' names so that the layout can be checked against them.
struct ShmTime {
    int mode;  // 1: the count protocol
    int count; // bumped before and after each write
    time_t clockTimeStampSec;
    int clockTimeStampUSec;
    time_t receiveTimeStampSec;
    int receiveTimeStampUSec;
    int leap;
    int precision;
    int nsamples;
    int valid;
    unsigned clockTimeStampNSec;
    unsigned receiveTimeStampNSec;
    int dummy[8];
};

// The readers were compiled from C on LP64 Linux: any difference here would
// make them read garbage, so check every offset at compile time.
static_assert(sizeof(time_t) == 8, "shmTime layout assumes 64-bit time_t");
static_assert(sizeof(ShmTime) == 96);
static_assert(offsetof(ShmTime, mode) == 0);
static_assert(offsetof(ShmTime, count) == 4);
static_assert(offsetof(ShmTime, clockTimeStampSec) == 8);
static_assert(offsetof(ShmTime, clockTimeStampUSec) == 16);
static_assert(offsetof(ShmTime, receiveTimeStampSec) == 24);
static_assert(offsetof(ShmTime, receiveTimeStampUSec) == 32);
static_assert(offsetof(ShmTime, leap) == 36);
static_assert(offsetof(ShmTime, precision) == 40);
static_assert(offsetof(ShmTime, nsamples) == 44);
static_assert(offsetof(ShmTime, valid) == 48);
static_assert(offsetof(ShmTime, clockTimeStampNSec) == 52);
static_assert(offsetof(ShmTime, receiveTimeStampNSec) == 56);
static_assert(offsetof(ShmTime, dummy) == 60);

// Thrown when a segment cannot be created or attached, or is refused.
struct ShmError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// One attached segment, written with the mode-1 protocol. Detaches on
// destruction after clearing `valid`; never removes the segment, because the
// NTP daemon stays attached to it.
class ShmWriter {
public:
    // Attach to unit's segment, creating it with `perm` if it does not exist.
    // An existing segment is refused (ShmError) if it is smaller than
    // ShmTime, owned or created by a user other than us or root, or writable
    // by group/other beyond what `perm` asks for.
    ShmWriter(int unit, unsigned perm);
    ~ShmWriter();
    ShmWriter(const ShmWriter&) = delete;
    ShmWriter& operator=(const ShmWriter&) = delete;

    void write(const Sample& sample);
    // Tell readers there is nothing to take (stale source, shutdown).
    void clear_valid();

    int unit() const { return unit_; }

private:
    int unit_;
    ShmTime* segment_;
};

// A consistent copy of a segment taken with the mode-1 protocol.
struct ShmSnapshot {
    int mode;
    int count;
    int valid;
    Sample sample;
    int nsamples;
    // The microsecond fields as found, for checking writers.
    int clock_usec;
    int receive_usec;
};

// Read-only view of a segment written by anyone (this daemon, gpsd, ...).
// Never writes, so it never clears `valid`.
class ShmReader {
public:
    // Attach read-only; std::nullopt when the segment does not exist.
    static std::optional<ShmReader> open(int unit);
    ShmReader(ShmReader&& other) noexcept;
    ShmReader& operator=(ShmReader&& other) noexcept;
    ShmReader(const ShmReader&) = delete;
    ~ShmReader();

    // std::nullopt when a write was in progress (count changed) after
    // `attempts` tries.
    std::optional<ShmSnapshot> read(int attempts = 3) const;
    int unit() const { return unit_; }

private:
    ShmReader(int unit, const ShmTime* segment) : unit_(unit), segment_(segment) {}
    int unit_;
    const ShmTime* segment_;
};

// "unit 3" for messages.
std::string describe_unit(int unit);

} // namespace shmrefclock
