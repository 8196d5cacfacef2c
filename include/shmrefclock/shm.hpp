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
//   LP64 (amd64, arm64, ...): 96 bytes, the table in DESIGN.md.
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

constexpr int shm_unit_max = 255;
constexpr key_t shm_key_base = 0x4e545030; // "NTP0"
constexpr key_t shm_key(int unit) {
    return shm_key_base + unit;
}

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
    // An existing segment is refused (ShmError) if its size is not exactly
    // sizeof(ShmTime) (a reader or writer built with another time_t), owned or created by a user
    // other than us or root, or writable by group/other beyond what `perm` asks for.
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
