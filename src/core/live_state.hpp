// The daemon's live state as plain structs (docs/design.md, "Live state"):
// what the sources and refclocks fill in, what the control socket sends as
// JSON (io/live_state_json) and `status` reads back, and what /metrics and
// the status page are rendered from. Pure data with no I/O, here in core/
// so that the producers (sources/, daemon/) and `status` (tools/) share it.
//
// Each struct lists its fields once, with what a reader needs to know about
// them: the JSON key and, for a number that is a Prometheus gauge, the
// metric's name and help (`fields`); for a counter, its name (the JSON key
// in "counters", and shmrefclock_NAME_total), title for people, help and,
// for counts by reason, the label (`counters`). Every renderer walks these
// lists, so a new counter is a field and a line in its struct's list, and
// no renderer changes.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/history.hpp"

namespace shmrefclock {

// A scalar field: its JSON key, and for a gauge its metric (shmrefclock_...)
// and help; a field with no metric is in the JSON only.
struct FieldInfo {
    std::string_view key;
    std::string_view metric = {};
    std::string_view help = {};
};

// A counter: its name (the key in the JSON "counters" object; the metric is
// shmrefclock_NAME_total), its title for people (the status page), its
// help, and for counts by reason the label the reasons go into
// (docs/design.md, "Live state").
struct CounterInfo {
    std::string_view name;
    std::string_view title;
    std::string_view help;
    std::string_view label = {}; // empty: a single count
};

// One count of a counter by reason (a cycle outcome, a pulse verdict ...),
// in the order the core names them: the reason's identifier (the metric's
// label value, the JSON key) and its words for people, which only the
// daemon's own state has (not in the JSON; the status page falls back to
// the identifier).
struct ReasonCount {
    std::string reason;
    std::uint64_t count = 0;
    std::string words = {};
};
using ReasonCounts = std::vector<ReasonCount>;

// The visitor of a list whose values have different types: one lambda each.
template <typename... Ts> struct Overload : Ts... { using Ts::operator()...; };
template <typename... Ts> Overload(Ts...) -> Overload<Ts...>;

// A number read from another process that was missing or not a number.
inline constexpr double unknown_number = std::numeric_limits<double>::quiet_NaN();

inline constexpr CounterInfo device_opens_counter{.name = "device_opens",
                                                  .title = "Device opened",
                                                  .help =
                                                      "Successful opens of the refclock's device."};
inline constexpr CounterInfo device_failures_counter{
    .name = "device_failures",
    .title = "Device failures",
    .help = "Failed opens or reads of the refclock's device."};

struct LastSample {
    std::string reference; // RFC 3339, ns
    std::string receive;
    std::int64_t reference_ns = 0; // POSIX ns
    std::int64_t receive_ns = 0;
    double clock_minus_receive_s = 0;
    double age_s = 0;
    int leap = 0;

    template <typename Self, typename Visit> static void fields(Self& self, Visit&& visit) {
        visit(FieldInfo{"reference"}, self.reference);
        visit(FieldInfo{"receive"}, self.receive);
        visit(FieldInfo{"reference_ns"}, self.reference_ns);
        visit(FieldInfo{"receive_ns"}, self.receive_ns);
        visit(FieldInfo{"clock_minus_receive_s", "shmrefclock_last_sample_offset_seconds",
                        "The last sample's reference (clock) time minus its receive time."},
              self.clock_minus_receive_s);
        visit(FieldInfo{"age_s", "shmrefclock_last_sample_age_seconds",
                        "Age of the last sample: now minus its receive time."},
              self.age_s);
        visit(FieldInfo{"leap"}, self.leap);
    }
};

// nmea: each published cycle's first byte after the second it names, by the
// system clock (core/running_stats).
struct NmeaArrival {
    std::uint64_t cycles = 0;
    double median_s = 0;
    double spread_s = 0;
    // The histogram: `counts` bins of `bin_s` from `start_s`.
    double start_s = 0;
    double bin_s = 0;
    std::vector<std::uint64_t> counts;

    template <typename Self, typename Visit> static void fields(Self& self, Visit&& visit) {
        visit(FieldInfo{"cycles", "shmrefclock_nmea_arrival_cycles",
                        "Cycles the NMEA arrival median is taken over."},
              self.cycles);
        visit(FieldInfo{"median_s", "shmrefclock_nmea_arrival_median_seconds",
                        "Median delay of a cycle's first byte after the second it names, "
                        "against the system clock."},
              self.median_s);
        visit(FieldInfo{"spread_s", "shmrefclock_nmea_arrival_spread_seconds",
                        "Median absolute deviation of the NMEA arrival delay."},
              self.spread_s);
    }
    // The histogram's scalars (JSON "histogram", beside its "counts").
    template <typename Self, typename Visit>
    static void histogram_fields(Self& self, Visit&& visit) {
        visit(FieldInfo{"start_s"}, self.start_s);
        visit(FieldInfo{"bin_s"}, self.bin_s);
    }
};

// nmea locked by a pps refclock: the NMEA latency measured with its pulses
// (core/nmea_latency). The metrics carry the pps refclock as a label.
struct PpsLatency {
    std::string pps_refclock;
    std::uint64_t pulses = 0;
    double median_s = 0;
    double spread_s = 0;
    double suggested_offset_s = 0;
    bool settled = false;

    template <typename Self, typename Visit> static void fields(Self& self, Visit&& visit) {
        visit(FieldInfo{"pps_refclock"}, self.pps_refclock);
        visit(FieldInfo{"pulses", "shmrefclock_nmea_latency_pulses",
                        "Pulses the PPS-measured NMEA latency is taken over."},
              self.pulses);
        visit(FieldInfo{"median_s", "shmrefclock_nmea_latency_median_seconds",
                        "Median delay of a cycle's first byte after the PPS edge of its second."},
              self.median_s);
        visit(FieldInfo{"spread_s", "shmrefclock_nmea_latency_spread_seconds",
                        "Median absolute deviation of the PPS-measured NMEA latency."},
              self.spread_s);
        visit(FieldInfo{"suggested_offset_s", "shmrefclock_nmea_latency_suggested_offset_seconds",
                        "The offset to configure for this NMEA refclock, measured against PPS."},
              self.suggested_offset_s);
        visit(FieldInfo{"settled", "shmrefclock_nmea_latency_settled",
                        "1 once the PPS-measured NMEA latency has settled."},
              self.settled);
    }
};

// The kernel witness as the daemon applies it to a source (core/witness):
// the kernel's state at its last reading, and its verdict on the last
// cycle or pulse it judged.
struct WitnessVerdictState {
    std::string kind; // agree, disagree, no_witness, off
    std::int64_t difference_ns = 0;
    std::int64_t bound_ns = 0;

    template <typename Self, typename Visit> static void fields(Self& self, Visit&& visit) {
        visit(FieldInfo{"kind"}, self.kind);
        visit(FieldInfo{"difference_ns"}, self.difference_ns);
        visit(FieldInfo{"bound_ns"}, self.bound_ns);
    }
};

struct WitnessState {
    bool enabled = true; // witness = false turns it off
    bool synchronized = false;
    std::int64_t maxerror_ns = 0;
    std::int64_t bound_ns = 0;
    // None before the first cycle or pulse was judged.
    std::optional<WitnessVerdictState> verdict;

    template <typename Self, typename Visit> static void fields(Self& self, Visit&& visit) {
        visit(FieldInfo{"enabled"}, self.enabled);
        visit(FieldInfo{"synchronized"}, self.synchronized);
        visit(FieldInfo{"maxerror_ns"}, self.maxerror_ns);
        visit(FieldInfo{"bound_ns"}, self.bound_ns);
    }
};

// A u-blox receiver's own word on its health, from the last UBX epoch with a
// timing message (core/ubx_epoch.hpp; issue 21, "The receiver's health in
// the sample").
struct UbxReceiver {
    // NAV-PVT's fix type: "no fix", "dead reckoning", "2D", "3D",
    // "GNSS + dead reckoning", "time only"; empty without NAV-PVT.
    std::string fix;
    // The same as a number, for /metrics: NAV-PVT's fixType (0 no fix, 1
    // dead reckoning, 2 2D, 3 3D, 4 GNSS + dead reckoning, 5 time only), 0
    // while gnssFixOK is clear; -1 without NAV-PVT.
    int fix_type = -1;
    // "not said", "not known", "known" (ubx::LeapCount): UTC is published
    // only while known.
    std::string leap_count;
    bool leap_count_known = false;
    // tAcc of NAV-TIMEUTC, NAV-TIMEGPS or NAV-PVT; NaN without any of them.
    double time_accuracy_s = std::numeric_limits<double>::quiet_NaN();
    // Whether the epoch had a TIM-TP; and what it said: the time pulse is
    // locked to GNSS (TpNotLocked clear), the receiver's (T)RAIM is active.
    bool tim_tp = false;
    bool pulse_locked = false;
    bool raim_active = false;

    template <typename Self, typename Visit> static void fields(Self& self, Visit&& visit) {
        visit(FieldInfo{"fix"}, self.fix);
        visit(FieldInfo{"fix_type", "shmrefclock_ubx_fix_type",
                        "The receiver's last NAV-PVT fix type (0 no fix, 1 dead reckoning, 2 "
                        "2D, 3 3D, 4 GNSS + dead reckoning, 5 time only; 0 while gnssFixOK is "
                        "clear), -1 without NAV-PVT. No fix or dead reckoning alone withholds "
                        "the epoch."},
              self.fix_type);
        visit(FieldInfo{"leap_count"}, self.leap_count);
        visit(FieldInfo{"leap_count_known", "shmrefclock_ubx_leap_count_known",
                        "1 if the receiver's last epoch said it knows the leap-second count "
                        "(NAV-TIMEUTC validUTC, NAV-TIMEGPS leapS valid or NAV-TIMELS from a "
                        "satellite): UTC is published only then."},
              self.leap_count_known);
        visit(FieldInfo{"time_accuracy_s", "shmrefclock_ubx_time_accuracy_seconds",
                        "The receiver's estimate of its time's accuracy (u-blox tAcc) in its "
                        "last epoch: the published precision is no finer."},
              self.time_accuracy_s);
        visit(FieldInfo{"tim_tp", "shmrefclock_ubx_tim_tp",
                        "1 if the receiver's last epoch had a TIM-TP (the two gauges after "
                        "this one are what it said, 0 without one)."},
              self.tim_tp);
        visit(FieldInfo{"pulse_locked", "shmrefclock_ubx_pulse_locked",
                        "1 if the receiver's last TIM-TP says its time pulse is locked to GNSS; "
                        "pulses are not published while it is not."},
              self.pulse_locked);
        visit(FieldInfo{"raim_active", "shmrefclock_ubx_raim_active",
                        "1 if the receiver's last TIM-TP says its (T)RAIM is active."},
              self.raim_active);
    }
};

// source = "nmea": the shell's and the core's counts (docs/design.md, "Live
// state": where each is counted).
struct NmeaState {
    std::uint64_t device_opens = 0;
    std::uint64_t device_failures = 0;
    std::uint64_t bytes = 0; // every byte read and handed to the core
    std::uint64_t loop_held_up = 0;
    ReasonCounts sentences;  // the parser's nmea::Counters
    ReasonCounts ubx_frames; // the UBX framer's ubx::FrameCounters, and malformed
    ReasonCounts cycles;     // by CycleOutcome::Kind
    std::optional<NmeaArrival> arrival;
    std::optional<PpsLatency> pps_latency;
    std::optional<WitnessState> witness;
    std::optional<UbxReceiver> receiver; // a u-blox that sent UBX timing messages

    template <typename Self, typename Visit> static void counters(Self& self, Visit&& visit) {
        visit(device_opens_counter, self.device_opens);
        visit(device_failures_counter, self.device_failures);
        visit(CounterInfo{.name = "bytes",
                          .title = "Bytes read",
                          .help = "Bytes read from the receiver."},
              self.bytes);
        visit(CounterInfo{.name = "loop_held_up",
                          .title = "Loop held up",
                          .help = "Reads of a cycle that came milliseconds after the previous "
                                  "one: the daemon was held up past its batch timer (a "
                                  "loaded machine)."},
              self.loop_held_up);
        visit(CounterInfo{.name = "sentences",
                          .title = "NMEA sentences",
                          .help = "NMEA sentences read, by parse result.",
                          .label = "result"},
              self.sentences);
        visit(CounterInfo{.name = "ubx_frames",
                          .title = "UBX frames",
                          .help = "u-blox UBX frames read, by result.",
                          .label = "result"},
              self.ubx_frames);
        visit(CounterInfo{.name = "cycles",
                          .title = "NMEA cycles",
                          .help = "Reporting cycles (NMEA, UBX or both) ended, by outcome "
                                  "(published, or why not).",
                          .label = "outcome"},
              self.cycles);
    }
};

// The quantization error of the last pulse published with the receiver's
// qErr (u-blox TIM-TP, core/pps_numbering.hpp).
struct PpsQuantization {
    double q_err_s = 0;

    template <typename Self, typename Visit> static void fields(Self& self, Visit&& visit) {
        visit(FieldInfo{"q_err_s", "shmrefclock_pps_qerr_seconds",
                        "The receiver's quantization error (u-blox TIM-TP qErr) of the last "
                        "pulse published with one: its edge came this long before the true "
                        "second, and the sample is corrected by it."},
              self.q_err_s);
    }
};

// source = "pps".
struct PpsState {
    std::uint64_t device_opens = 0;
    std::uint64_t device_failures = 0;
    ReasonCounts pulses; // by PulseVerdict, then "repeated"
    std::uint64_t labelled = 0;
    std::uint64_t q_err_applied = 0;
    std::optional<PpsQuantization> quantization;
    std::optional<WitnessState> witness;

    template <typename Self, typename Visit> static void counters(Self& self, Visit&& visit) {
        visit(device_opens_counter, self.device_opens);
        visit(device_failures_counter, self.device_failures);
        visit(CounterInfo{.name = "pulses",
                          .title = "PPS pulses",
                          .help = "PPS pulses, by verdict (numbered, or why dropped).",
                          .label = "verdict"},
              self.pulses);
        visit(CounterInfo{.name = "pulses_labelled",
                          .title = "Pulses labelled by the receiver",
                          .help = "Pulses numbered by the receiver's own label sent before "
                                  "them (u-blox TIM-TP), its fix agreeing."},
              self.labelled);
        visit(CounterInfo{.name = "pulses_q_err_applied",
                          .title = "Pulses corrected by qErr",
                          .help = "Pulses published corrected by the receiver's quantization "
                                  "error (u-blox TIM-TP qErr)."},
              self.q_err_applied);
    }
};

struct RefclockState {
    std::string name;
    std::string source; // nmea, pps, system
    std::string outputs;
    double offset_s = 0;
    std::string health;
    std::optional<LastSample> last_sample;
    // Counted since the refclock was built (start-up or the last reload).
    std::uint64_t samples_published = 0;
    std::uint64_t withdrawals = 0;
    // The source's own part (Source::fill_state): one of them, or neither
    // (system).
    std::optional<NmeaState> nmea;
    std::optional<PpsState> pps;
    // Only when asked (SnapshotOptions::history): a point per second.
    std::optional<std::vector<SecondHistory::Point>> history;

    template <typename Self, typename Visit> static void fields(Self& self, Visit&& visit) {
        visit(FieldInfo{"name"}, self.name);
        visit(FieldInfo{"source"}, self.source);
        visit(FieldInfo{"outputs"}, self.outputs);
        visit(FieldInfo{"offset_s", "shmrefclock_configured_offset_seconds",
                        "The refclock's configured offset."},
              self.offset_s);
        visit(FieldInfo{"health"}, self.health);
    }
    // Every counter of the refclock, its source's included, in the order
    // the JSON "counters" object has them.
    template <typename Self, typename Visit> static void counters(Self& self, Visit&& visit) {
        visit(CounterInfo{.name = "samples_published",
                          .title = "Samples published",
                          .help = "Samples published to the refclock's outputs."},
              self.samples_published);
        visit(CounterInfo{.name = "withdrawals",
                          .title = "Samples withdrawn",
                          .help = "Times a published sample was withdrawn (valid cleared)."},
              self.withdrawals);
        if (self.nmea) {
            NmeaState::counters(*self.nmea, visit);
        }
        if (self.pps) {
            PpsState::counters(*self.pps, visit);
        }
    }
    // The witness of a source that has one (nmea, pps).
    const std::optional<WitnessState>& witness() const {
        static const std::optional<WitnessState> none;
        return nmea ? nmea->witness : pps ? pps->witness : none;
    }
};

struct DaemonState {
    std::string version;
    std::int64_t pid = 0;
    std::string config;
    std::string now; // RFC 3339
    std::string started;
    double uptime_s = 0;
    std::string status; // STATUS= as last sent
    std::vector<RefclockState> refclocks;

    template <typename Self, typename Visit> static void fields(Self& self, Visit&& visit) {
        visit(FieldInfo{"version"}, self.version);
        visit(FieldInfo{"pid"}, self.pid);
        visit(FieldInfo{"config"}, self.config);
        visit(FieldInfo{"now"}, self.now);
        visit(FieldInfo{"started"}, self.started);
        visit(FieldInfo{"uptime_s", "shmrefclock_uptime_seconds",
                        "Seconds since the daemon started."},
              self.uptime_s);
        visit(FieldInfo{"status"}, self.status);
    }
};

} // namespace shmrefclock
