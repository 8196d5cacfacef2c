// What the kernel says about the system clock (ntp_adjtime(2) with modes 0),
// as the pure cores see it: the shell (io/kernel_clock) reads it, tests
// build it. The kernel is the witness of docs/design.md, "Evidence for a
// receiver's time": when an NTP daemon keeps the clock synchronized, the
// clock is known to within `maxerror_ns`, and a receiver that disagrees by
// more than that (plus the NMEA latency margin) is wrong.
#pragma once

#include <cstdint>

namespace shmrefclock {

struct KernelClock {
    // The clock is synchronized: ntp_adjtime() did not return TIME_ERROR and
    // STA_UNSYNC is clear (adjtimex(2)). Nothing below bounds the clock
    // otherwise: a Raspberry Pi without an RTC boots with the time of its
    // last shutdown, and maxerror grows without anyone setting it.
    bool synchronized = false;
    // The bound on the clock's error the NTP daemon maintains (timex.maxerror,
    // in microseconds in the kernel; here in ns), growing by 500 ppm between
    // its updates.
    std::int64_t maxerror_ns = 0;
    // A leap second is armed for the end of this UTC day (STA_INS / STA_DEL).
    bool leap_insert = false;
    bool leap_delete = false;
};

} // namespace shmrefclock
