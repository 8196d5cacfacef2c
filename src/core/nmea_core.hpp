// The nmea source's decisions, with no I/O (docs/design.md, "Source
// cores"): where a reporting cycle starts, how its first byte is stamped,
// when its time is published, when the source goes stale and when the
// device is reopened. One event per read (NmeaRead) goes in through
// handle(), Actions come out. The driver (nmea_driver.hpp) turns a wake-up
// into that event for the daemon's shell (sources/nmea.hpp), which reads a
// device, and for `decode` and the unit tests, which replay a byte schedule
// (nmea_replay.hpp): one driver, so decode is the daemon.
//
// The accuracy edge over gpsd: a sample's receive time is the arrival of the
// first byte of the reporting cycle, not the end of the sentence that
// carried the time. A cycle starts with the first byte after the line has
// been quiet; once it is stamped, the rest of the cycle is read in batches
// from a timer instead of waking for every byte.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/kernel_clock.hpp"
#include "core/leap_seconds.hpp"
#include "core/nmea_parser.hpp"
#include "core/running_stats.hpp"
#include "core/source_rules.hpp"
#include "core/timeline.hpp"
#include "core/ubx_configure.hpp"
#include "core/ubx_epoch.hpp"
#include "core/ubx_frame.hpp"
#include "core/warning_limit.hpp"
#include "core/witness.hpp"

namespace shmrefclock {

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
    // `step-probation`: how long a new timeline must hold before it is
    // believed without the kernel witness (core/timeline.hpp).
    std::int64_t step_probation_ns = default_step_probation_ns;
    // Look for u-blox UBX frames in the stream (core/ubx_frame.hpp) and
    // judge their epochs with the NMEA (core/ubx_epoch.hpp). Off: 0xB5 0x62
    // is garbage to the NMEA parser, as it was before UBX was read.
    bool read_ubx = true;
    // Read the NMEA sentences. Off: the bytes around the UBX frames are
    // only counted (ubx::FrameCounters::other_bytes).
    bool read_nmea = true;
    // `ubx-configure`: configure a u-blox receiver on each open, on these
    // ports (core/ubx_configure.hpp); none: never write to the receiver.
    std::optional<ubx::Ports> configure_ubx{};
};

// What became of one cycle: published, or why not. `decode` prints these.
struct CycleOutcome {
    enum class Kind {
        published,
        no_time,          // no time-bearing sentence decoded (noise between cycles)
        no_fix,           // the receiver reported no fix
        not_stamped,      // its first byte did not follow a quiet line
        time_late,        // its time-bearing sentence began long after its first byte
        disagreeing,      // its sentences name different seconds
        leap_second,      // 23:59:60: not representable in POSIX time
        unscheduled_leap, // 23:59:60 where a valid leap-second list has none
        jumped,           // off the timeline, and does not follow the previous cycle either
        walked,           // off the timeline, but follows the previous cycle (core/timeline.hpp)
        repeat,           // the same time as the previous cycle: a receiver sending it twice
        acquiring,        // fewer than min-fixes agreeing cycles so far
        same_second,      // a second cycle about a second already published
        witness,          // the synchronized kernel clock disagrees (core/witness.hpp)
        implausible_date, // its only dates cannot be today (nmea::DateProblem)
        probation,        // on a new timeline not believed yet (core/timeline.hpp)
        sub_second,       // a fraction of a second, not a second after the last cycle
        leap_unknown,     // the receiver does not know the leap-second count (UBX)
    };
    Kind kind = Kind::no_time;
    // The sentence whose time the cycle reports; for no_fix, the cycle's
    // first time-bearing sentence (its time is not valid).
    std::optional<nmea::Sentence> time;
    timespec receive_time{}; // the cycle's first-byte stamp
};

inline constexpr std::size_t cycle_outcome_count = 18;
std::string_view to_string(CycleOutcome::Kind kind);
// The identifier, e.g. "no_fix": a counter's key in the live state and a
// Prometheus label value (docs/design.md, "Live state").
std::string_view name(CycleOutcome::Kind kind);

// One wake-up of the shell, the core's one event per read: what woke the
// loop, when, and everything the reads then returned. The driver
// (nmea_driver.hpp) builds it, for the daemon and for `decode` alike.
struct NmeaRead {
    // The device became readable (between cycles, when it is watched), or
    // the batch timer fired (inside a cycle, when it is not).
    enum class Wake : std::uint8_t { device, batch };
    Wake wake = Wake::device;
    Stamp stamp{};          // the wake-up
    int queued = 0;         // device: the bytes queued at the wake-up (FIONREAD)
    std::string_view bytes; // what the reads returned, in order
    // The reads ended with the device failing (end of data, a read error):
    // what failed. The bytes before it are still the receiver's.
    std::optional<std::string> failure;
    // device: the kernel's clock state (ntp_adjtime modes 0) for the
    // witness, read once per wake-up by the device; a cycle is judged by
    // its first byte's. Unknown (a replay without one): the last one holds.
    std::optional<KernelClock> kernel;
    // The leap-second list the daemon holds (daemon/leap_list), as data: a
    // receiver's 23:59:60 is judged by what it schedules
    // (inserted_leap_second). Null: no list at all (`decode`, which
    // believes the capture). A missing, corrupt or expired list is a list.
    const LeapListLoad* leap_seconds = nullptr;
};

class NmeaCore {
public:
    // The quiet gap that ends a cycle, and the batch period while reading
    // one: a gap longer than two periods always starts a new cycle, one
    // shorter than a period never does. Receivers send a cycle's sentences
    // back to back; cycles are hundreds of ms apart even at 4800 baud.
    static constexpr std::int64_t batch_period_ns = 25'000'000;
    // A first byte is stamped only after the line was idle this long, as
    // far as the reads can tell: from the last read that returned bytes.
    // That read came up to a batch period after the last byte, so the true
    // idle time is 40 to 65 ms; cycles are hundreds of ms apart at 1 Hz and
    // over 50 ms apart at 10 Hz and 115200 baud.
    static constexpr std::int64_t quiet_gap_ns = 40'000'000;
    // An empty batch read ends a cycle only if the last read that returned
    // bytes was at least this long before it: at 4800 baud and above, a
    // line sending a cycle delivers a byte every 2 ms or sooner.
    static constexpr std::int64_t min_quiet_read_ns = batch_period_ns / 2;
    // A burst of sentences (checksums right: not noise) without a
    // time-bearing one this close before a cycle makes its first byte
    // ambiguous: the cycle is not stamped.
    static constexpr std::int64_t cycle_gap_ns = 200'000'000;
    // A cycle is published with its first byte's stamp only if its
    // time-bearing sentence began within this of it (the read that
    // delivered its '$' tells): a pulse numbered from the stamp is right
    // while the stamp is less than half a second off.
    static constexpr std::int64_t max_time_lead_ns = 500'000'000;
    // A cycle that never goes quiet is not a cycle we can stamp.
    static constexpr std::int64_t max_cycle_ns = 1'500'000'000;

    explicit NmeaCore(NmeaSettings settings);

    // The device is open. `line_rate`: its bytes arrive at the configured
    // baud rate (a UART), so queued bytes date the first one.
    Actions opened(std::int64_t monotonic_ns, bool line_rate, std::string_view description);
    // Opening failed, or reading did: close, withdraw, retry with back-off.
    Actions device_failed(const std::string& message);
    // A wake-up and what its reads returned (NmeaRead): between cycles the
    // device's wake-up stamps a new cycle's first byte, inside one the batch
    // timer's reads add to it until the line goes quiet.
    Actions handle(const NmeaRead& read);
    // Whether the driver asks a device wake-up's bytes queued (FIONREAD):
    // only a line-rate device's queue dates the first byte (woke()); on a
    // pty or TCP the answer would go unused (issue 22: a syscall a cycle).
    bool wants_queued() const { return line_rate_; }
    // The stale timer fired.
    Actions stale();
    // The answer timer fired: a UBX configuration request is unanswered.
    Actions answer_timeout();
    // The receiver configuration's progress, if it is configured.
    const std::optional<ubx::Configurator>& configurator() const { return configurator_; }
    // CLOCK_REALTIME was stepped (docs/design.md, "Clock steps"): every
    // realtime stamp taken before it is on the old scale.
    Actions clock_stepped();

    const std::string& health() const { return rules_.health(); }
    const nmea::Counters& counters() const { return parser_.counters(); }
    // UBX frames by result, and timing messages whose payload did not
    // decode (a length that no protocol version has).
    const ubx::FrameCounters& frame_counters() const { return framer_.counters(); }
    std::uint64_t ubx_malformed() const { return ubx_malformed_; }
    // What the receiver last said about the leap-second count (UBX).
    ubx::LeapCount leap_count() const { return stream_leap_; }
    // The receiver's health from its last UBX epoch with a timing message.
    const std::optional<UbxReceiver>& receiver() const { return receiver_; }
    // The receiver's label of its next pulse (u-blox TIM-TP), from the last
    // cycle, if that cycle was published: a pps refclock locked to this one
    // numbers the pulse by it (core/pps_numbering.hpp).
    const std::optional<PulseLabel>& pulse_label() const { return pulse_label_; }
    // Cycles refused because their sentences named different seconds.
    std::uint64_t disagreeing_cycles() const { return disagreeing_cycles_; }
    // Cycles refused because they reported 23:59:60 at the end of a day
    // that a valid, unexpired leap-second list gives no leap second.
    std::uint64_t unscheduled_leap_seconds() const { return unscheduled_leap_seconds_; }
    const Witness& witness() const { return witness_; }
    // The continuity check: on probation, the new timeline's step and time left.
    const Timeline& timeline() const { return check_; }
    // A reload: the same receiver's timeline goes on (Timeline::carry_from).
    void carry_timeline(const NmeaCore& old) { check_.carry_from(old.check_); }
    // What the core decided since it was built (docs/design.md, "Live
    // state"), counted where it decided.
    struct Activity {
        std::uint64_t device_opens = 0;
        std::uint64_t device_failures = 0; // could not open, or failed while read
        std::uint64_t bytes = 0;
        // Empty batch reads not taken for a quiet line (min_quiet_read_ns).
        std::uint64_t loop_held_up = 0;
        // Indexed by CycleOutcome::Kind.
        std::array<std::uint64_t, cycle_outcome_count> cycles{};
    };
    const Activity& activity() const { return activity_; }
    // Each published cycle's first-byte stamp minus the second it names
    // (CLOCK_REALTIME, before `offset`): the receiver's latency as far as
    // the system clock can tell. 600 cycles, ten minutes at 1 Hz: a median
    // that one slow cycle does not move, over a span in which an NTP daemon
    // has settled the clock it is measured by; 4.8 kB.
    static constexpr std::size_t arrival_window = 600;
    const Window& arrival() const { return arrival_; }
    // The arrival delay is logged once, after this many published cycles
    // (half a minute at 1 Hz, as many as settle a latency measured with PPS).
    static constexpr std::size_t arrival_log_cycles = 30;
    // Each finished cycle's outcome, for `decode` (optional).
    void on_cycle(std::function<void(const CycleOutcome&)> observer) {
        observer_ = std::move(observer);
    }

private:
    // The parts of handle(): the device woke the loop between cycles; the
    // reads' bytes; the reads of a device wake-up or of the batch timer.
    void woke(Actions& actions, const Stamp& stamp, int queued);
    void take(std::string_view bytes);
    // One item of the UBX framer: a frame for the epoch, other bytes for
    // the NMEA parser.
    void take_item(const ubx::Item& item);
    // What a sentence the parser framed is to the cycle being read.
    void classify(const nmea::Sentence& sentence);
    // The cycle's UBX epoch, at its end: its times into the cycle, what it
    // says about the leap-second count into the stream's word.
    void judge_epoch(Actions& actions);
    // The receiver now says `said` about the leap-second count, which it
    // did not before: one log line.
    static void log_leap_count(Actions& actions, const ubx::Epoch& epoch, ubx::LeapCount said);
    // The cycle is withheld because the receiver does not know the
    // leap-second count: `time` names what it would have published, or
    // the message that said so.
    void withhold_leap_unknown(Actions& actions, const nmea::Sentence& time);
    void read_done(Actions& actions, std::int64_t wake_ns, std::size_t total);
    void batch(Actions& actions, std::int64_t monotonic_ns, std::size_t total,
               const LeapListLoad* leap_seconds);
    void fail(Actions& actions, const std::string& message);
    void start_cycle();
    // How long after the cycle's first byte `time` began, at most.
    std::int64_t time_lead_ns(const nmea::Sentence& time) const;
    static std::string describe(const nmea::Sentence& sentence);
    // The cycle is complete (the line went quiet) or cut (it never did).
    void finish_cycle(Actions& actions, std::int64_t now_ns, const LeapListLoad* leap_seconds);
    void report(CycleOutcome::Kind kind, const nmea::Sentence* time);
    void publish(Actions& actions, const nmea::Sentence& time, std::int64_t now_ns);
    // The cycle's TIM-TP, if any, as the label of the next pulse.
    void take_pulse_label();
    // Once, after arrival_log_cycles published cycles: what the live state
    // shows as nmea_arrival, with what it is worth.
    void log_arrival_once(Actions& actions);
    // A warning the input can cause every cycle: rate-limited.
    void warn(Actions& actions, std::int64_t now_ns, std::string_view message);
    // The cycle's only dates were refused by the parser.
    void refuse_date(Actions& actions, const nmea::Sentence& sentence);

    NmeaSettings settings_;
    SourceRules rules_;
    nmea::Parser parser_;
    ubx::Framer framer_;
    // What the receiver last said about the leap-second count: NMEA cycles
    // of the same stream are gated by it.
    ubx::LeapCount stream_leap_ = ubx::LeapCount::unsaid;
    std::optional<ubx::ProtocolVersion> protocol_; // from the last MON-VER
    std::optional<UbxReceiver> receiver_;
    // GPS - UTC as the receiver last said it knows it (for TIM-TP in GPS time).
    std::optional<int> stream_leap_seconds_;
    std::optional<PulseLabel> pulse_label_;
    // The next leap second the receiver announced (NAV-TIMELS): the POSIX
    // second of the 00:00:00 after it, and +1 or -1.
    struct AnnouncedLeap {
        std::int64_t at = 0;
        int change = 0;
    };
    std::optional<AnnouncedLeap> announced_leap_;
    // NAV-PVT was refused for want of any message that says (logged once).
    bool leap_unsaid_logged_ = false;
    std::uint64_t ubx_malformed_ = 0;
    std::optional<ubx::Configurator> configurator_;
    // Answers to it (MON-VER, ACK) read since handle() began.
    std::vector<ubx::Item> answers_;
    // The cycle being read: every part of it, reset as a whole when the
    // next one starts (start_cycle) or the device is opened.
    struct CycleState {
        nmea::Cycle sentences;
        // It began after a quiet line, so its first byte's stamp is good.
        bool stamped = false;
        // Bytes without a time came just before it (why it is not stamped).
        bool after_timeless = false;
        // Its first time-bearing sentence, valid or not.
        std::optional<nmea::Sentence> first;
        timespec start{};                 // its first byte's stamp (CLOCK_REALTIME)
        std::int64_t start_monotonic = 0; // when the loop saw it
        std::int64_t first_byte_ns = 0;   // when it came (CLOCK_MONOTONIC)
        std::uint64_t begin_pos = 0;      // the stream position of its first byte
        std::uint64_t unsupported = 0;    // sentences we do not use (GSV...) before it
        // Each read of it: the stream position after it, and when.
        std::vector<std::pair<std::uint64_t, std::int64_t>> reads;
        // Its first sentence with a time, and the first that names another
        // second.
        std::optional<nmea::Sentence> named;
        std::optional<nmea::Sentence> disagreeing;
        // A time-bearing sentence that began before its first byte.
        std::optional<nmea::Sentence> foreign;
        // Its UBX frames (core/ubx_epoch.hpp), and whether one began
        // before its first byte (left out, like `foreign`).
        ubx::Epoch epoch;
        bool foreign_frame = false;
    };
    CycleState cycle_;
    Timeline check_;
    // Probation warnings have their own limit: jumps must not hide them.
    WarningLimit probation_warnings_;
    WarningLimit warnings_;
    Witness witness_;
    bool line_rate_ = false;
    bool in_cycle_ = false;
    std::int64_t opened_monotonic_ = 0;
    // Monotonic time of the last read that returned bytes.
    std::int64_t last_data_ns_ = 0;
    // The last cycle bore no time and its bytes ended then.
    std::optional<std::int64_t> timeless_end_ns_;
    // The last cycle whose time reached the timeline. A cycle naming a
    // fraction of a second is published only about a second after such a
    // cycle: a 1 Hz receiver whose times are not whole (SiRF's .809, the
    // GP-320FW's .02) publishes every second, a 2-10 Hz receiver only its
    // whole seconds (issue 23).
    struct NamedCycle {
        timespec reference;
        std::int64_t first_byte_ns;
    };
    std::optional<NamedCycle> last_named_;
    bool one_second_after(const std::optional<NamedCycle>& previous,
                          const timespec& reference) const;
    // Bytes fed to the parser so far (its stream positions).
    std::uint64_t stream_pos_ = 0;
    std::uint64_t disagreeing_cycles_ = 0;
    std::uint64_t unscheduled_leap_seconds_ = 0;
    nmea::Counters reported_{};
    Activity activity_;
    Window arrival_{arrival_window};
    bool arrival_logged_ = false;
    std::function<void(const CycleOutcome&)> observer_;
};

// 8N1: a start bit, 8 data bits and a stop bit per byte.
constexpr std::int64_t byte_time_ns(int baud) {
    return 10 * ns_per_s / baud;
}

} // namespace shmrefclock
