// io/kernel_clock: the cores' view of a kernel reading. The rule is
// adjtimex(2)'s: TIME_ERROR or STA_UNSYNC means the clock is not
// synchronized; maxerror is in microseconds.
#include <catch2/catch.hpp>

#include <sys/timex.h>

#include "io/kernel_clock.hpp"

using namespace shmrefclock;

TEST_CASE("a synchronized reading: TIME_OK, STA_UNSYNC clear") {
    KernelTimex t;
    t.state = TIME_OK;
    t.status = STA_PLL | STA_NANO;
    t.maxerror = 12345; // us
    const KernelClock k = kernel_clock_from(t);
    CHECK(k.synchronized);
    CHECK(k.maxerror_ns == 12345000);
    CHECK_FALSE(k.leap_insert);
    CHECK_FALSE(k.leap_delete);
}

TEST_CASE("STA_UNSYNC or TIME_ERROR: not synchronized") {
    KernelTimex t;
    t.state = TIME_OK;
    t.status = STA_UNSYNC;
    CHECK_FALSE(kernel_clock_from(t).synchronized);
    t.status = 0;
    t.state = TIME_ERROR;
    CHECK_FALSE(kernel_clock_from(t).synchronized);
    // TIME_ERROR with STA_UNSYNC clear: STA_CLOCKERR, or PPS trouble in a PPS
    // mode; the kernel says its own clock is not to be trusted.
    t.status = STA_CLOCKERR;
    CHECK_FALSE(kernel_clock_from(t).synchronized);
}

TEST_CASE("a leap second armed: STA_INS, STA_DEL") {
    KernelTimex t;
    t.state = TIME_INS;
    t.status = STA_INS;
    KernelClock k = kernel_clock_from(t);
    CHECK(k.synchronized); // TIME_INS is not TIME_ERROR
    CHECK(k.leap_insert);
    CHECK_FALSE(k.leap_delete);
    t.state = TIME_DEL;
    t.status = STA_DEL;
    k = kernel_clock_from(t);
    CHECK(k.leap_delete);
    CHECK_FALSE(k.leap_insert);
}

TEST_CASE("maxerror: the kernel's 16 s ceiling converts; a negative value is 0") {
    KernelTimex t;
    t.maxerror = 16000000; // NTP_PHASE_LIMIT
    CHECK(kernel_clock_from(t).maxerror_ns == 16000000000LL);
    t.maxerror = -1;
    CHECK(kernel_clock_from(t).maxerror_ns == 0);
}

TEST_CASE("the kernel clock reads the same both ways, without privileges") {
    // Two calls a moment apart: the state and flags of a real machine do
    // not change between them (outside a leap second).
    const KernelTimex t = read_kernel_timex();
    const KernelClock k = read_kernel_clock();
    CHECK(k.synchronized == kernel_clock_from(t).synchronized);
    CHECK(k.leap_insert == kernel_clock_from(t).leap_insert);
}
