// The nmea source's decisions, with no I/O (docs/design.md, "Source
// cores"): where a reporting cycle starts, how its first byte is stamped,
// when its time is published, when the source goes stale and when the
// device is reopened. The shell (nmea.hpp) reads the device and carries the
// returned Actions out; `decode` and the unit tests drive the same core
// from a byte schedule (nmea_replay.hpp).
//
// The accuracy edge over gpsd: a sample's receive time is the arrival of the
// first byte of the reporting cycle, not the end of the sentence that
// carried the time. A cycle starts with the first byte after the line has
// been quiet; once it is stamped, the rest of the cycle is read in batches
// from a timer instead of waking for every byte.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/nmea_parser.hpp"
#include "core/source_rules.hpp"
#include "core/witness.hpp"

namespace shmrefclock {

// What decides whether a cycle's time is published.
struct CycleCheck {
    // Consecutive cycles whose times agree with the time elapsed between
    // them; a jump (a receiver glitch, a time going backwards) restarts the
    // count, so it takes `min_fixes` agreeing cycles before a new timeline is
    // believed.
    int consecutive = 0;
    std::optional<timespec> last_reference;
    std::optional<timespec> last_receive;

    // Two cycles agree if their times differ by the time between their
    // stamps within this much; cycle stamps jitter by milliseconds, a wrong
    // second by 1 s.
    static constexpr std::int64_t agreement_ns = 250'000'000;

    enum class Verdict { publish, acquiring, jumped, same_second };
    // Record a valid cycle reporting `reference` stamped `receive`.
    Verdict add(timespec reference, timespec receive, int min_fixes);
    void reset() { *this = CycleCheck{}; }
};

struct NmeaSettings {
    std::string device; // for messages
    int baud = 9600;
    int min_fixes = 3;
    // The parser's floor: the earliest date a receiver can truly report.
    std::chrono::year_month_day floor;
    // The kernel witness (core/witness.hpp).
    WitnessSettings witness{};
    // The system clock the parser takes as evidence for repairing a date
    // (nmea::Parser::set_system_clock): each cycle's first-byte stamp (the
    // daemon), or with `stamps_are_evidence` false, `system_clock` (decode's
    // --now; std::nullopt: no evidence).
    bool stamps_are_evidence = true;
    std::optional<time_t> system_clock{};
};

// What became of one cycle: published, or why not. `decode` prints these.
struct CycleOutcome {
    enum class Kind {
        published,
        no_time,          // no time-bearing sentence decoded (noise between cycles)
        no_fix,           // the receiver reported no fix
        not_stamped,      // its first byte did not follow a quiet line
        leap_second,      // 23:59:60: not representable in POSIX time
        jumped,           // does not follow the previous cycle's time
        acquiring,        // fewer than min-fixes agreeing cycles so far
        same_second,      // a second cycle about a second already published
        witness,          // the synchronized kernel clock disagrees (core/witness.hpp)
        implausible_date, // its only dates cannot be today (nmea::DateProblem)
    };
    Kind kind = Kind::no_time;
    // The sentence whose time the cycle reports; for no_fix, the cycle's
    // first time-bearing sentence (its time is not valid).
    std::optional<nmea::Sentence> time;
    timespec receive_time{}; // the cycle's first-byte stamp
};

std::string_view to_string(CycleOutcome::Kind kind);

class NmeaCore {
public:
    // The quiet gap that ends a cycle, and the batch period while reading
    // one: a gap longer than two periods always starts a new cycle, one
    // shorter than a period never does. Receivers send a cycle's sentences
    // back to back; cycles are hundreds of ms apart even at 4800 baud.
    static constexpr std::int64_t batch_period_ns = 25'000'000;
    // A cycle that never goes quiet is not a cycle we can stamp.
    static constexpr std::int64_t max_cycle_ns = 1'500'000'000;

    explicit NmeaCore(NmeaSettings settings);

    // The device is open. `line_rate`: its bytes arrive at the configured
    // baud rate (a UART), so queued bytes date the first one.
    Actions opened(std::int64_t monotonic_ns, bool line_rate, std::string_view description);
    // Opening failed, or reading did: close, withdraw, retry with back-off.
    Actions device_failed(const std::string& message);
    // The device woke the loop (`stamp` is the wake-up) with `queued` bytes
    // waiting. The shell then reads: each chunk goes to received(), and
    // read_done() follows with the total.
    Actions readable(const Stamp& stamp, int queued);
    void received(std::string_view bytes);
    Actions read_done(std::size_t total);
    // The batch timer fired at `monotonic_ns`; the shell has passed what it
    // read to received(), `total` bytes in all.
    Actions batch(std::int64_t monotonic_ns, std::size_t total);
    // The stale timer fired.
    Actions stale();

    const std::string& health() const { return rules_.health(); }
    const nmea::Counters& counters() const { return parser_.counters(); }
    // The kernel's clock state for the cycle about to be read; the shell
    // reads it once per cycle (io/kernel_clock). Without it: no witness.
    void kernel_clock(const KernelClock& kernel) { witness_.kernel_clock(kernel); }
    const Witness& witness() const { return witness_; }
    // Each finished cycle's outcome, for `decode` (optional).
    void on_cycle(std::function<void(const CycleOutcome&)> observer) {
        observer_ = std::move(observer);
    }

private:
    void feed(std::string_view bytes);
    // The cycle is complete (the line went quiet) or cut (it never did).
    void finish_cycle(Actions& actions, std::int64_t now_ns);
    void report(CycleOutcome::Kind kind, const nmea::Sentence* time);
    // The cycle's only dates were refused by the parser.
    void refuse_date(Actions& actions, const nmea::Sentence& sentence);

    NmeaSettings settings_;
    SourceRules rules_;
    nmea::Parser parser_;
    nmea::Cycle cycle_;
    CycleCheck check_;
    Witness witness_;
    bool line_rate_ = false;
    bool in_cycle_ = false;
    // The cycle began after a quiet line, so its first byte's stamp is good.
    bool cycle_stamped_ = false;
    // The cycle's first time-bearing sentence, valid or not.
    std::optional<nmea::Sentence> cycle_first_;
    timespec cycle_start_{};
    std::int64_t cycle_start_monotonic_ = 0;
    std::int64_t opened_monotonic_ = 0;
    nmea::Counters reported_{};
    std::function<void(const CycleOutcome&)> observer_;
};

// 8N1: a start bit, 8 data bits and a stop bit per byte.
constexpr std::int64_t byte_time_ns(int baud) {
    return 10 * ns_per_s / baud;
}

} // namespace shmrefclock
