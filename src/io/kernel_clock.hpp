// Reading the kernel's clock discipline state: ntp_gettime(3) and
// ntp_adjtime(2) with modes 0, which is read-only and needs no capability
// (adjtimex(2): "If the modes field is zero, ... an unprivileged process").
// Nothing here ever sets the clock.
//
// Two views of the same call: KernelTimex, every field of struct timex in the
// kernel's own units, for `shmrefclock status`; and KernelClock
// (core/kernel_clock.hpp), what the pure cores decide with -- the witness and
// the leap-second rules.
#pragma once

#include <cstdint>
#include <ctime>

#include "core/kernel_clock.hpp"

namespace shmrefclock {

// struct timex as ntp_adjtime(2) returns it with modes 0, in the kernel's own
// units; `status` formats and converts.
struct KernelTimex {
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

// Both calls, every field. Throws std::system_error when either call fails.
KernelTimex read_kernel_timex();

// Pure: the cores' view of a reading. synchronized = the state is not
// TIME_ERROR and STA_UNSYNC is clear; maxerror from us to ns; STA_INS/STA_DEL.
KernelClock kernel_clock_from(const KernelTimex& timex);

// ntp_adjtime alone (one syscall: the NMEA shell reads it once per cycle).
// Never throws: a failed call (which modes 0 does not do on Linux) is an
// unsynchronized clock, i.e. no witness, which is what the daemon did before
// it had one.
KernelClock read_kernel_clock() noexcept;

// The same, read at most once per wake-up of the loop: the reading taken
// for the wake-up stamped `monotonic_ns`, if this thread took one, else a
// new one. Every receiver whose first byte the same wake-up found is judged
// by the same state, which is what one read at the wake-up would give
// (issue 22: 16 receivers at 10 Hz read it 160 times a second).
KernelClock read_kernel_clock_at(std::int64_t monotonic_ns) noexcept;

} // namespace shmrefclock
