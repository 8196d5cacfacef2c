#include "io/kernel_clock.hpp"

#include <cerrno>
#include <cstdint>
#include <optional>
#include <system_error>
#include <utility>

#include <sys/timex.h>

namespace shmrefclock {

namespace {

// The part of a timex the cores use, from the call's return and its fields.
KernelClock clock_from(int state, unsigned status, long maxerror_us) {
    KernelClock k;
    // adjtimex(2): TIME_ERROR while STA_UNSYNC or STA_CLOCKERR is set (or the
    // PPS signal is in error in a PPS mode); STA_UNSYNC alone is what ntpd and
    // chronyd clear once they have synchronized the clock.
    k.synchronized = state != TIME_ERROR && (status & STA_UNSYNC) == 0;
    // maxerror is in us whatever STA_NANO says (kernel/time/ntp.c keeps
    // time_maxerror in us and clamps it at NTP_PHASE_LIMIT, 16 s).
    k.maxerror_ns = maxerror_us < 0 ? 0 : static_cast<std::int64_t>(maxerror_us) * 1000;
    k.leap_insert = (status & STA_INS) != 0;
    k.leap_delete = (status & STA_DEL) != 0;
    return k;
}

} // namespace

KernelTimex read_kernel_timex() {
    KernelTimex k;
    ntptimeval ntv{};
    k.gettime_state = ntp_gettime(&ntv);
    if (k.gettime_state < 0) {
        throw std::system_error(errno, std::generic_category(), "ntp_gettime");
    }
    k.time_sec = ntv.time.tv_sec;
    k.time_frac = ntv.time.tv_usec;
    timex tx{};
    tx.modes = 0; // read only
    k.state = ntp_adjtime(&tx);
    if (k.state < 0) {
        throw std::system_error(errno, std::generic_category(), "ntp_adjtime");
    }
    k.status = static_cast<unsigned>(tx.status);
    k.offset = tx.offset;
    k.freq = tx.freq;
    k.maxerror = tx.maxerror;
    k.esterror = tx.esterror;
    k.constant = tx.constant;
    k.precision = tx.precision;
    k.tolerance = tx.tolerance;
    k.tick = tx.tick;
    k.ppsfreq = tx.ppsfreq;
    k.jitter = tx.jitter;
    k.shift = tx.shift;
    k.stabil = tx.stabil;
    k.jitcnt = tx.jitcnt;
    k.calcnt = tx.calcnt;
    k.errcnt = tx.errcnt;
    k.stbcnt = tx.stbcnt;
    k.tai = tx.tai;
    return k;
}

KernelClock kernel_clock_from(const KernelTimex& timex) {
    return clock_from(timex.state, timex.status, timex.maxerror);
}

KernelClock read_kernel_clock() noexcept {
    timex tx{};
    tx.modes = 0; // read only
    const int state = ntp_adjtime(&tx);
    if (state < 0) {
        return KernelClock{};
    }
    return clock_from(state, static_cast<unsigned>(tx.status), tx.maxerror);
}

KernelClock read_kernel_clock_at(std::int64_t monotonic_ns) noexcept {
    // Per thread: the loop's is the only one that reads it today.
    thread_local std::optional<std::pair<std::int64_t, KernelClock>> last;
    if (!last || last->first != monotonic_ns) {
        last.emplace(monotonic_ns, read_kernel_clock());
    }
    return last->second;
}

} // namespace shmrefclock
