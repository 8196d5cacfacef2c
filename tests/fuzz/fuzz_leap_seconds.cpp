// libFuzzer target for the leap-second list parser (src/core/leap_seconds):
// any bytes give either a list that keeps the format's invariants or a
// problem -- never an exception, a crash or a sanitizer report -- and no
// message carries a control character (they go into log lines). Built and
// run by tests/fuzz/run-fuzz-config.sh, next to the config parser's target:
// both are files the daemon reads at start and on SIGHUP.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>

#include "core/leap_seconds.hpp"
#include "fuzz_check.hpp"

namespace {

using namespace shmrefclock;

bool printable(const std::string& text) {
    for (const char c : text) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            return false;
        }
    }
    return true;
}

// June 30 or December 31, by gmtime_r rather than the code under test.
bool june_or_december_end(std::int64_t posix_seconds) {
    const time_t t = static_cast<time_t>(posix_seconds);
    tm civil{};
    if (gmtime_r(&t, &civil) == nullptr) {
        return false;
    }
    return (civil.tm_mon == 5 && civil.tm_mday == 30) ||
           (civil.tm_mon == 11 && civil.tm_mday == 31);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const LeapListLoad load = parse_leap_seconds_list(text);
    FUZZ_CHECK(load.list.has_value() == (load.problem == LeapListProblem::none));
    FUZZ_CHECK(printable(load.detail));
    FUZZ_CHECK(printable(describe(load, 0)));
    if (!load.list) {
        FUZZ_CHECK(leap_announcement(load, 0) == Leap::none);
        return 0;
    }
    const LeapSecondsList& list = *load.list;
    FUZZ_CHECK(!list.entries.empty());
    for (std::size_t i = 0; i < list.entries.size(); ++i) {
        FUZZ_CHECK(list.entries[i].start % seconds_per_day == 0);
        if (i > 0) {
            FUZZ_CHECK(list.entries[i].start > list.entries[i - 1].start);
            const int step = list.entries[i].tai_offset - list.entries[i - 1].tai_offset;
            FUZZ_CHECK(step == 1 || step == -1);
        }
        // Around each event: an announcement only on its last day, only on
        // June 30 / December 31, only before the expiry.
        const std::int64_t at = list.entries[i].start;
        for (const std::int64_t t : {at - seconds_per_day - 1, at - seconds_per_day,
                                     at - seconds_per_day / 2, at - 1, at, at + 1}) {
            const Leap leap = leap_announcement(load, t);
            if (leap != Leap::none) {
                FUZZ_CHECK(i > 0);
                FUZZ_CHECK(t >= at - seconds_per_day && t < at);
                FUZZ_CHECK(t < list.expires);
                FUZZ_CHECK(june_or_december_end(t));
                FUZZ_CHECK(leap == (list.entries[i].tai_offset > list.entries[i - 1].tai_offset
                                        ? Leap::insert
                                        : Leap::remove));
            }
            FUZZ_CHECK(printable(describe(load, t)));
        }
    }
    return 0;
}
