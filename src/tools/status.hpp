// `shmrefclock status`: the kernel's clock discipline state next to what each
// configured refclock publishes. Reading (ntp_adjtime, IPC_STAT, the
// segments) is kept apart from formatting, which is a pure function of a
// StatusReport so that every field and unit conversion is tested with
// hand-made values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

#include "config/config.hpp"
#include "core/leap_seconds.hpp"
#include "shmrefclock/shm.hpp"

namespace shmrefclock {

// struct timex as ntp_adjtime(2) returns it with modes 0 (read-only; no
// capability needed), in the kernel's own units; formatting converts.
struct KernelClock {
    int state = 0;         // ntp_adjtime's return: TIME_OK .. TIME_ERROR
    int gettime_state = 0; // ntp_gettime(3)'s return, read just before
    unsigned status = 0;   // STA_* bits
    long offset = 0;       // ns with STA_NANO, else us
    long freq = 0;         // ppm, 16-bit binary fraction (ppm * 65536)
    long maxerror = 0;     // us
    long esterror = 0;     // us
    long constant = 0;     // PLL time constant
    long precision = 0;    // us
    long tolerance = 0;    // ppm * 65536
    long tick = 0;         // us between clock ticks
    long ppsfreq = 0;      // ppm * 65536
    long jitter = 0;       // PPS jitter: ns with STA_NANO, else us
    int shift = 0;         // PPS calibration interval, log2 s
    long stabil = 0;       // PPS stability, ppm * 65536
    long jitcnt = 0;       // PPS: jitter limit exceeded
    long calcnt = 0;       // PPS: calibration intervals
    long errcnt = 0;       // PPS: calibration errors
    long stbcnt = 0;       // PPS: stability limit exceeded
    int tai = 0;           // TAI - UTC, s
    // ntp_gettime's time: tv_usec holds ns when STA_NANO is set (the kernel
    // fills timex.time that way and glibc copies it as it is).
    time_t time_sec = 0;
    long time_frac = 0;
};

// One STA_ bit and its name, in bit order.
struct StatusBit {
    unsigned mask;
    std::string_view name;
};
extern const StatusBit status_bits[16];

// "TIME_OK" .. "TIME_ERROR", or "TIME_#N" for a value the kernel does not define.
std::string clock_state_name(int state);

// IPC_STAT of a segment (or /proc/sysvipc/shm when IPC_STAT is not allowed).
struct SegmentInfo {
    int shmid = -1;
    uid_t uid = 0;  // owner
    uid_t cuid = 0; // creator
    unsigned mode = 0;
    std::size_t size = 0;
    unsigned long nattch = 0; // attachments, not counting `status` itself
};

struct UnitStatus {
    int unit = 0;
    // std::nullopt: no segment with the unit's key.
    std::optional<SegmentInfo> segment;
    // The segment's current contents; std::nullopt when it could not be read
    // (`problem` says why), e.g. a 0600 segment of another user.
    std::optional<ShmSnapshot> snapshot;
    std::string problem;
};

struct RefclockStatus {
    std::string name;
    std::string source;
    std::optional<UnitStatus> unit;
    std::string sock;
    // Empty when `sock` is a socket; else what is wrong with the path.
    std::string sock_problem;
};

// The leap-second list as the daemon would load it (the configuration's
// [daemon] leap-seconds, the default without one): `status` reads the file
// itself, as the daemon does, rather than asking the daemon.
struct LeapListStatus {
    std::string path; // empty: leap-seconds = ""
    LeapListLoad load;
};

struct StatusReport {
    KernelClock kernel;
    LeapListStatus leap_seconds;
    timespec now{};          // CLOCK_REALTIME when the segments were read: ages
    std::string config_path; // empty: no configuration was read
    std::vector<RefclockStatus> refclocks;
};

// Pure: the report as text for people, or as one JSON document.
std::string format_status(const StatusReport& report);
std::string format_status_json(const StatusReport& report);

// Reading. Throws std::system_error when ntp_adjtime itself fails.
KernelClock read_kernel_clock();
UnitStatus read_unit_status(int unit);
// `config` may be null: the kernel part only.
StatusReport collect_status(const Config* config);

// /proc/sysvipc/shm's line for `key` (pure, for tests); std::nullopt when absent.
std::optional<SegmentInfo> parse_sysvipc_shm(std::string_view text, key_t key);

} // namespace shmrefclock
