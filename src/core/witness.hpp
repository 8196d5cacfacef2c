// The kernel witness (docs/design.md, "Evidence for a receiver's time"):
// when an NTP daemon keeps the system clock synchronized, the kernel knows
// the clock to within maxerror (KernelClock), and a receiver whose time
// disagrees with the clock by more than that, plus a margin for the NMEA
// latency, is wrong -- it is not published. When the kernel is not
// synchronized there is no witness and the receiver is believed, as before.
//
// Pure: the shell reads the kernel (io/kernel_clock) once per cycle and
// hands it in; the cycle's first-byte stamp is the system clock's reading.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "core/kernel_clock.hpp"
#include "core/live_state.hpp"
#include "core/source_rules.hpp"

namespace shmrefclock {

struct WitnessSettings {
    // `witness = false` in the refclock's table turns the witness off.
    bool enabled = true;
    // The refclock's `offset`: the NMEA latency the user calibrated (the
    // first byte arrives this long after the second it names). The
    // receiver's time plus this is what the system clock should read at the
    // cycle's stamp.
    std::int64_t latency_ns = 0;
};

// Half a second: halfway between a right second and a wrong one. A
// receiver that names the wrong second is at least 1 s off; a right one,
// calibrated or not, is within its latency spread (tens of ms) of the
// calibrated latency, or within its whole latency (typically 0.05-0.3 s for
// the first byte of a cycle) when `offset` is 0. So with a clock known to
// within maxerror, |difference| > maxerror + 0.5 s can only be a wrong
// second, and every wrong second of a calibrated receiver is caught while
// maxerror is under 0.5 s.
inline constexpr std::int64_t witness_margin_ns = 500'000'000;

struct WitnessVerdict {
    enum class Kind {
        agree,      // within the bound
        disagree,   // outside: not published
        no_witness, // the kernel is not synchronized: believed as before
        off,        // witness = false
    };
    Kind kind = Kind::no_witness;
    // (receiver's time + latency) - the system clock at the stamp; positive:
    // the receiver is ahead. Saturated at +-INT64_MAX ns (292 years): a
    // hostile year 9999 must not overflow.
    std::int64_t difference_ns = 0;
    std::int64_t bound_ns = 0; // maxerror + witness_margin_ns
};

// "agree", "disagree", "no_witness", "off": the live state's and `status`'s
// name of a verdict.
std::string_view name(WitnessVerdict::Kind kind);

// The witness's bound for this kernel state: maxerror + witness_margin_ns
// (`status` shows it; judge_witness() uses it).
std::int64_t witness_bound_ns(const KernelClock& kernel);

// Pure: the verdict on one cycle that reports `reference`, stamped `receive`
// (CLOCK_REALTIME at its first byte). `status` asks the same of a published
// sample (its reference already includes `offset`, so latency_ns = 0).
WitnessVerdict judge_witness(const WitnessSettings& settings, const KernelClock& kernel,
                             timespec reference, timespec receive);

// a - b in ns, saturated instead of overflowing (timespec_diff_ns).
std::int64_t saturating_diff_ns(timespec a, timespec b);

// "1.000 s ahead of", "0.250 s behind" (ms), or "2.5 years ahead of" for
// differences that are not about seconds.
std::string describe_difference(std::int64_t difference_ns);

struct WitnessCounters {
    std::uint64_t agreed = 0;      // cycles the witness vouched for
    std::uint64_t refused = 0;     // cycles not published because it disagreed
    std::uint64_t unwitnessed = 0; // cycles judged without a witness
};

// The witness of one source: the kernel's last reading, the counters, and
// the rate-limited story in the log of a disagreement that lasts.
class Witness {
public:
    explicit Witness(WitnessSettings settings) : settings_(settings) {}

    // The kernel's state for the cycle being read (the shell reads it once
    // per cycle).
    void kernel_clock(const KernelClock& kernel) { kernel_ = kernel; }
    const KernelClock& kernel() const { return kernel_; }

    // Judge a cycle the source would publish. False: not to be published;
    // `actions` carries the log message (the first of a disagreement, then
    // one a minute while it lasts, with the count) and `health()` says why.
    // `now_ns` is CLOCK_MONOTONIC, for the rate limit.
    bool allows(Actions& actions, timespec reference, timespec receive, std::int64_t now_ns,
                std::string_view what);
    // Why the last cycle was refused (valid after allows() returned false).
    const std::string& health() const { return health_; }
    const WitnessCounters& counters() const { return counters_; }
    const WitnessVerdict& last() const { return last_; }
    // Its part of the live state: the kernel as last read, and the verdict
    // on the last cycle or pulse judged (none before the first).
    WitnessState state() const;

    // Rate limit of the log while a disagreement lasts.
    static constexpr std::int64_t log_every_ns = 60'000'000'000;

private:
    void end_run(Actions& actions, const WitnessVerdict& verdict);

    WitnessSettings settings_;
    KernelClock kernel_{};
    WitnessCounters counters_;
    WitnessVerdict last_;
    std::string health_;
    // The disagreement going on: cycles refused in a row, when last logged.
    std::uint64_t run_ = 0;
    std::int64_t run_logged_ns_ = 0;
};

} // namespace shmrefclock
