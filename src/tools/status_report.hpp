// `shmrefclock status`, the pure middle: what the state it collected
// (StatusReport: the daemon's live state, the kernel, the leap-second list,
// the segments) says, worked out once for both renderers, the text
// (status_text.cpp) and the JSON (status_json.cpp).
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/kernel_clock.hpp"
#include "core/leap_seconds.hpp"
#include "core/witness.hpp"
#include "tools/status.hpp"

namespace shmrefclock {

// Offsets and jitter are in ns under STA_NANO, else in us: always ns here.
long long kernel_ns(const KernelTimex& k, long value);
// freq, ppsfreq, tolerance and stabil are ppm with a 16-bit binary fraction.
double kernel_ppm(long scaled);
timespec kernel_time(const KernelTimex& k);
// The names of the STA_ bits set in `status`, in bit order.
std::vector<std::string_view> set_bits(unsigned status);
// What each TIME_ state means (adjtimex(2)).
std::string_view state_meaning(int state);
std::string_view leap_name(Leap leap);
// "0x4e545030".
std::string key_text(int unit);
bool never_written(const ShmSnapshot& snap);
// The kernel's PPS calibration interval, 2^shift s.
std::string pps_interval(int shift);
std::string date_of(std::int64_t posix_seconds);
std::string describe_event(const LeapEvent& event);

// The leap-second list at `now`, and the kernel's armed leap next to it.
struct LeapView {
    LeapListState state;
    std::string described;
    Leap announcing;
    std::optional<LeapEvent> next;
    std::string disagreement; // empty: the kernel agrees
};

// The kernel as a witness now, from the kernel state `status` read, through
// the daemon's own kernel_clock_from() and witness_bound_ns().
struct WitnessView {
    KernelClock clock;
    std::int64_t bound_ns = 0;
    std::string why;                   // why it is active or not
    std::vector<std::string> disabled; // refclocks with witness = false
};

// The witness's verdict on a refclock: the daemon's own on the last cycle
// or pulse it judged, when the daemon answered; when it did not, judged by
// `status` with the daemon's rule on the segment's valid sample.
struct RefclockVerdict {
    std::optional<WitnessVerdict> verdict;
    bool from_daemon = false;
};

struct StatusAnalysis {
    LeapView leap;
    WitnessView witness;
    // One per StatusReport::refclocks, in its order.
    std::vector<RefclockVerdict> verdicts;
};

StatusAnalysis analyze(const StatusReport& report);

// The verdict in words; `witnessed`: the daemon applies the witness to this
// refclock's source (for a verdict `status` computed).
std::string describe_verdict(const RefclockVerdict& verdict, bool witnessed);

} // namespace shmrefclock
