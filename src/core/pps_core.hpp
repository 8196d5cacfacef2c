// The pps source's decisions, with no I/O (docs/design.md, "Source cores"):
// which fetch results are new pulses, how each is numbered (by the lock's
// sample, pps_numbering.hpp), why a pulse is dropped, when the sample goes
// stale and when the device is reopened. The shell (pps.hpp) owns the
// device and the fetch thread and carries the returned Actions out.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "core/kernel_clock.hpp"
#include "core/pps_numbering.hpp"
#include "core/source_rules.hpp"
#include "core/witness.hpp"

namespace shmrefclock {

// What one time_pps_fetch() returned, for the wanted edge.
struct PpsFetch {
    unsigned long sequence = 0;       // of the wanted edge
    unsigned long other_sequence = 0; // of the other edge
    timespec edge{};                  // kernel timestamp of the wanted edge
};

struct PpsSettings {
    std::string device; // for messages; empty until known (pps = "dcd")
    // The refclock whose samples number the pulses, or "system".
    std::string lock;
    PpsEdge edge = PpsEdge::assert_edge;
    // The kernel witness judges each numbered pulse as it judges an NMEA
    // sample (latency_ns: the refclock's `offset`).
    WitnessSettings witness{};
};

class PpsCore {
public:
    // No fetch result at all for this long: reopen the device. The kernel
    // does not fail PPS_FETCH on a device that was unregistered (a USB
    // adapter unplugged, pps-ldisc detached); its waits just time out, so
    // silence is the only sign. Reopening is harmless when the receiver
    // merely has no pulse output (many do not pulse without a fix).
    static constexpr std::int64_t reopen_after_silence_ns = 5 * ns_per_s;

    // What became of the pulses fetched since construction.
    struct Counters {
        std::uint64_t device_opens = 0;
        // Could not open, a fetch failed, or silence made us reopen it.
        std::uint64_t device_failures = 0;
        std::uint64_t repeated = 0; // sequence number seen before: no new pulse
        // Numbered pulses the receiver labelled itself (PulseLabel), and of
        // those the ones published with its qErr applied.
        std::uint64_t labelled = 0;
        std::uint64_t q_err_applied = 0;
        // Indexed by PulseVerdict: numbered (published) or why dropped.
        std::array<std::uint64_t, pulse_verdict_count> by_verdict{};
    };

    explicit PpsCore(PpsSettings settings);

    // The device `device` is open and its pulses are being fetched.
    Actions opened(const std::string& device);
    Actions device_failed(const std::string& message);
    // The fetch thread ended with `error` (an errno); ETIMEDOUT: silence.
    Actions fetch_failed(int error);
    // A fetch returned; `lock` is the lock refclock's latest sample (unused
    // for lock = "system"), `label` the lock's label of its next pulse
    // (u-blox TIM-TP; none from other receivers), `handled` when the loop
    // got the record, `kernel` the kernel's clock state then
    // (io/kernel_clock), for the witness.
    Actions fetched(const PpsFetch& fetch, const std::optional<Sample>& lock,
                    const std::optional<PulseLabel>& label, const Stamp& handled,
                    const KernelClock& kernel);
    Actions stale();
    // CLOCK_REALTIME was stepped; `at` is when the loop learnt of it
    // (docs/design.md, "Clock steps").
    Actions clock_stepped(const Stamp& at);

    const std::string& health() const { return rules_.health(); }
    const Counters& counters() const { return counters_; }
    const Witness& witness() const { return witness_; }
    bool numbered_by_system() const { return settings_.lock == "system"; }
    // The qErr of the last pulse published with one (ps).
    std::optional<std::int32_t> last_q_err_ps() const { return last_q_err_ps_; }

private:
    // A state the operator should see: health, and the log at most once a
    // minute per text.
    void state(Actions& actions, std::string text);
    std::string lock_description() const;
    void drop(Actions& actions, const PpsFetch& fetch, const PulseNumbering& numbering,
              const std::optional<Sample>& lock, const Stamp& handled);

    PpsSettings settings_;
    SourceRules rules_;
    std::optional<unsigned long> last_sequence_;
    unsigned long last_other_sequence_ = 0;
    // When the last clock step was seen (CLOCK_REALTIME, new scale).
    std::optional<timespec> stepped_at_;
    Counters counters_;
    Witness witness_;
    std::optional<std::int32_t> last_q_err_ps_;
};

} // namespace shmrefclock
