// clock_probe: what a program sees of the kernel clock, for the
// clock-emulator's own test (test_clock_emulator.py). Each read-only entry
// point prints one line "NAME result status maxerror esterror"; with
// --set it then tries to set the clock through each (modes != 0) and prints
// "set NAME result errno"; under the emulator every one must be refused.
// With --step it watches for a step of CLOCK_REALTIME as the daemon does
// (step_probe below) while the test changes the emulated offset.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <poll.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/timex.h>
#include <unistd.h>

namespace {

std::int64_t ns(clockid_t clock) {
    timespec t{};
    clock_gettime(clock, &t);
    return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

// One line with CLOCK_REALTIME, CLOCK_MONOTONIC, gettimeofday and time.
void clocks(const char* label) {
    const std::int64_t realtime = ns(CLOCK_REALTIME);
    const std::int64_t monotonic = ns(CLOCK_MONOTONIC);
    timeval tv{};
    gettimeofday(&tv, nullptr);
    const std::int64_t tod = static_cast<std::int64_t>(tv.tv_sec) * 1'000'000 + tv.tv_usec;
    std::printf("%s %lld %lld %lld %lld\n", label, static_cast<long long>(realtime),
                static_cast<long long>(monotonic), static_cast<long long>(tod),
                static_cast<long long>(time(nullptr)));
    std::fflush(stdout);
}

void read_line(const char* label, int fd) {
    std::uint64_t count = 0;
    const ssize_t r = read(fd, &count, sizeof count);
    std::printf("%s %zd %d %llu\n", label, r, r < 0 ? errno : 0,
                static_cast<unsigned long long>(count));
    std::fflush(stdout);
}

int wait_readable(int fd, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    return poll(&p, 1, timeout_ms) == 1 ? p.revents : 0;
}

// The test writes a new offset after each "ready" line (stdin says when).
int step_probe() {
    // As the daemon's ClockStepWatch: absolute, cancel-on-set, far future.
    const int watch = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
    itimerspec far{};
    far.it_value.tv_sec = INT32_MAX;
    int r = timerfd_settime(watch, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &far, nullptr);
    // An absolute timer without the flag, 2 s ahead on the emulated clock.
    const int alarm = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
    const std::int64_t target = ns(CLOCK_REALTIME) + 2'000'000'000;
    itimerspec at{};
    at.it_value = {static_cast<time_t>(target / 1'000'000'000),
                   static_cast<long>(target % 1'000'000'000)};
    r |= timerfd_settime(alarm, TFD_TIMER_ABSTIME, &at, nullptr);
    std::printf("armed %d %lld\n", r, static_cast<long long>(target));
    read_line("before", watch); // nothing yet: EAGAIN
    clocks("clocks");
    std::printf("ready\n");
    std::fflush(stdout);
    // The step: readable, one ECANCELED, then nothing (EAGAIN).
    std::printf("poll %d\n", wait_readable(watch, 5000));
    read_line("read", watch);
    read_line("again", watch);
    clocks("clocks");
    // The absolute timer fires at its emulated time.
    wait_readable(alarm, 5000);
    std::printf("alarm %lld\n", static_cast<long long>(ns(CLOCK_REALTIME)));
    read_line("alarm-read", alarm);
    std::printf("ready\n");
    std::fflush(stdout);
    // A second step with no read before the re-arm: timerfd_settime says
    // ECANCELED (timerfd_create(2), NOTES) and re-arms.
    wait_readable(watch, 5000);
    r = timerfd_settime(watch, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &far, nullptr);
    std::printf("rearm %d %d\n", r, r < 0 ? errno : 0);
    read_line("after-rearm", watch);
    close(alarm);
    close(watch);
    return 0;
}

void print(const char* name, int result, const timex& tx) {
    std::printf("%s %d %#x %ld %ld\n", name, result, static_cast<unsigned>(tx.status), tx.maxerror,
                tx.esterror);
}

} // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::strcmp(argv[1], "--step") == 0) {
        return step_probe();
    }
    const bool set = argc > 1 && std::strcmp(argv[1], "--set") == 0;
    timex tx{};
    int r = ntp_adjtime(&tx);
    print("ntp_adjtime", r, tx);
    tx = timex{};
    r = adjtimex(&tx);
    print("adjtimex", r, tx);
    tx = timex{};
    r = clock_adjtime(CLOCK_REALTIME, &tx);
    print("clock_adjtime", r, tx);
    ntptimeval ntv{};
    r = ntp_gettime(&ntv);
    std::printf("ntp_gettime %d - %ld %ld %ld\n", r, ntv.maxerror, ntv.esterror,
                static_cast<long>(ntv.time.tv_sec));
    if (set) {
        // Harmless if it ever reached a kernel: maxerror only, and the test
        // runs without CAP_SYS_TIME. The emulator must refuse it first.
        tx = timex{};
        tx.modes = ADJ_MAXERROR;
        tx.maxerror = 1234;
        r = ntp_adjtime(&tx);
        std::printf("set ntp_adjtime %d %d\n", r, r < 0 ? errno : 0);
        tx = timex{};
        tx.modes = ADJ_MAXERROR;
        tx.maxerror = 1234;
        r = adjtimex(&tx);
        std::printf("set adjtimex %d %d\n", r, r < 0 ? errno : 0);
        tx = timex{};
        tx.modes = ADJ_MAXERROR;
        tx.maxerror = 1234;
        r = clock_adjtime(CLOCK_REALTIME, &tx);
        std::printf("set clock_adjtime %d %d\n", r, r < 0 ? errno : 0);
    }
    return 0;
}
