// clock_probe: what a program sees of the kernel clock, for the
// clock-emulator's own test (test_clock_emulator.py). Each read-only entry
// point prints one line "NAME result status maxerror esterror"; with
// --set it then tries to set the clock through each (modes != 0) and prints
// "set NAME result errno"; under the emulator every one must be refused.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <sys/timex.h>

namespace {

void print(const char* name, int result, const timex& tx) {
    std::printf("%s %d %#x %ld %ld\n", name, result, static_cast<unsigned>(tx.status), tx.maxerror,
                tx.esterror);
}

} // namespace

int main(int argc, char** argv) {
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
