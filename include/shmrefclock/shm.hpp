// The NTP shared-memory refclock segment ("driver 28"): the exact layout the
// readers (ntpd, NTPsec, chrony, gpsd's ntpshmmon) map, an RAII writer and a
// read-only reader. This is the installed API of libshmrefclock (pkg-config
// `shmrefclock`, man page shmrefclock(3)); the daemon uses the same code.
// It needs C++17 or later and includes nothing but the standard library,
// <sys/types.h> and the other installed headers.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <stdexcept>
#include <string>

#include <sys/types.h>

#include "shmrefclock/export.hpp"
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

// The readers (ntpd, NTPsec, chrony, gpsd) are C programs built for the same
// platform with the same time_t, so the segment is whatever the C layout rules
// make of struct shmTime there. Each ABI Debian ships, worked out by hand from
// those rules (an int is 4 bytes, aligned to 4; time_t is 4 or 8 bytes and
// aligned to its size except on i386, where a 64-bit integer inside a struct is
// aligned to 4; the struct is padded to its largest alignment):
//   LP64 (amd64, arm64, ...): 96 bytes, the table in docs/design.md.
//   ILP32, 32-bit time_t (armhf on Debian 12, Raspberry Pi OS 32-bit): 80.
//   ILP32, 64-bit time_t, 8-byte aligned (armhf on Debian 13, or Debian 12
//     armhf built with -D_TIME_BITS=64): 96, the same offsets as LP64.
//   i386, 64-bit time_t: 88, the second time_t right after the int before it.
// A writer whose layout differs from its reader's feeds it garbage time, so
// the expected layout is stated here independently of the compiler's, and
// the build fails if any field moves.
struct ShmLayout {
    const char* abi;
    std::size_t size;
    std::size_t clockTimeStampSec, clockTimeStampUSec, receiveTimeStampSec, receiveTimeStampUSec,
        leap, precision, nsamples, valid, clockTimeStampNSec, receiveTimeStampNSec, dummy;
};
inline constexpr ShmLayout shm_layout_lp64{
    "64-bit time_t", 96, 8, 16, 24, 32, 36, 40, 44, 48, 52, 56, 60};
inline constexpr ShmLayout shm_layout_time32{
    "32-bit time_t", 80, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48};
inline constexpr ShmLayout shm_layout_i386_time64{
    "64-bit time_t, i386 alignment", 88, 8, 16, 20, 28, 32, 36, 40, 44, 48, 52, 56};

#if defined(__i386__)
inline constexpr bool shm_int64_aligned_to_4 = true;
#elif defined(__LP64__) || defined(__x86_64__) || defined(__arm__) || defined(__aarch64__)
inline constexpr bool shm_int64_aligned_to_4 = false;
#else
#error "the struct shmTime layout of this architecture has not been worked out (shm.hpp)"
#endif

inline constexpr const ShmLayout& shm_layout = sizeof(time_t) == 4      ? shm_layout_time32
                                               : shm_int64_aligned_to_4 ? shm_layout_i386_time64
                                                                        : shm_layout_lp64;

static_assert(sizeof(int) == 4 && sizeof(unsigned) == 4);
static_assert(sizeof(time_t) == 4 || sizeof(time_t) == 8);
static_assert(sizeof(ShmTime) == shm_layout.size, "struct shmTime size differs from the readers'");
static_assert(offsetof(ShmTime, mode) == 0);
static_assert(offsetof(ShmTime, count) == 4);
static_assert(offsetof(ShmTime, clockTimeStampSec) == shm_layout.clockTimeStampSec);
static_assert(offsetof(ShmTime, clockTimeStampUSec) == shm_layout.clockTimeStampUSec);
static_assert(offsetof(ShmTime, receiveTimeStampSec) == shm_layout.receiveTimeStampSec);
static_assert(offsetof(ShmTime, receiveTimeStampUSec) == shm_layout.receiveTimeStampUSec);
static_assert(offsetof(ShmTime, leap) == shm_layout.leap);
static_assert(offsetof(ShmTime, precision) == shm_layout.precision);
static_assert(offsetof(ShmTime, nsamples) == shm_layout.nsamples);
static_assert(offsetof(ShmTime, valid) == shm_layout.valid);
static_assert(offsetof(ShmTime, clockTimeStampNSec) == shm_layout.clockTimeStampNSec);
static_assert(offsetof(ShmTime, receiveTimeStampNSec) == shm_layout.receiveTimeStampNSec);
static_assert(offsetof(ShmTime, dummy) == shm_layout.dummy);

// Thrown when a segment cannot be created or attached, or is refused. Its
// what() is the message the daemon logs, naming the unit, its key and why.
struct SHMREFCLOCK_API ShmError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// One attached segment, written with the mode-1 protocol. Detaches on
// destruction after clearing `valid`; never removes the segment, because the
// NTP daemon stays attached to it.
class SHMREFCLOCK_API ShmWriter {
public:
    // Attach to unit's segment, creating it with `perm` if it does not exist.
    // An existing segment is refused (ShmError) if its size is not exactly
    // sizeof(ShmTime) (a reader or writer built with another time_t), owned
    // or created by a user other than us or root, or writable by group/other
    // beyond what `perm` asks for.
    ShmWriter(int unit, unsigned perm = 0600);
    ~ShmWriter();
    ShmWriter(const ShmWriter&) = delete;
    ShmWriter& operator=(const ShmWriter&) = delete;

    // Publish one sample with the mode-1 protocol: valid = 0, count++,
    // fence, every field (USec = NSec / 1000 truncated), fence, count++,
    // fence, valid = 1. Never blocks, never fails.
    void write(const Sample& sample);
    // The same, with both times in nanoseconds since the Unix epoch
    // (CLOCK_REALTIME's scale): reference = true time of the instant,
    // receive = the system clock at that instant.
    void write(std::int64_t reference_ns, std::int64_t receive_ns, Leap leap = Leap::none,
               int precision = -20);
    // Publish the time fields of `fields` exactly as given (Sec, USec, NSec,
    // leap, precision), with the same protocol; mode, count, valid, nsamples
    // and dummy are the protocol's. For writers that keep old-style
    // microsecond fields (the Python NtpdShm class).
    void write_fields(const ShmTime& fields);
    // Tell readers there is nothing to take (stale source, shutdown).
    void clear_valid();
    // The segment's count as it is now (bumped twice by every write).
    int count() const;

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
class SHMREFCLOCK_API ShmReader {
public:
    // Attach read-only; std::nullopt when the segment does not exist.
    static std::optional<ShmReader> open(int unit);
    ShmReader(ShmReader&& other) noexcept;
    ShmReader& operator=(ShmReader&& other) noexcept;
    ShmReader(const ShmReader&) = delete;
    ~ShmReader();

    // A copy taken while count did not change; std::nullopt when a write
    // was in progress (count changed) `attempts` times running. Take the
    // sample only when its `valid` is 1, as the NTP daemons do: while it is
    // 0 a write may be under way and the fields half written.
    std::optional<ShmSnapshot> read(int attempts = 3) const;
    // Wait for a valid sample other than the one there when called (a new
    // count or new times), polling every `poll`; std::nullopt after
    // `timeout`. A reader has no way to be woken by a SysV segment.
    std::optional<ShmSnapshot>
    wait_next(std::chrono::nanoseconds timeout,
              std::chrono::nanoseconds poll = std::chrono::milliseconds(1)) const;
    int unit() const { return unit_; }

private:
    ShmReader(int unit, const ShmTime* segment) : unit_(unit), segment_(segment) {}
    int unit_;
    const ShmTime* segment_;
};

// "SHM unit 3 (key 0x4e545033)" for messages.
SHMREFCLOCK_API std::string describe_unit(int unit);

} // namespace shmrefclock
