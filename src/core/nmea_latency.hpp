// The receiver's NMEA latency measured by PPS (docs/design.md, "Live
// state": "The NMEA latency measured with PPS"). Pure: the pulses' kernel
// edges and the lock samples that numbered them in, the `offset` to write
// for the nmea refclock out.
//
// A pps refclock numbers the pulse whose edge the kernel stamped at E
// (CLOCK_REALTIME) as second N by an nmea refclock's sample: its first byte
// arrived at R (CLOCK_REALTIME) and its cycle named second S (the sample's
// reference time minus the nmea refclock's configured offset). By the system
// clock, the cycle's first byte came R - S after the second it names, and
// the pulse E - N after its second; the pulse marks the true second, so the
// receiver's latency is
//
//     latency = (R - E) - (S - N)
//
// and the system clock's offset cancels. With N == S it is exact; with a
// lock sample from another second (any sample under 2 s old numbers a
// pulse) the system clock's rate error over R - E enters, under 1 us at
// 500 ppm.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>

#include "core/running_stats.hpp"

namespace shmrefclock {

class NmeaLatency {
public:
    // Two minutes of pulses: long enough that the median of a receiver
    // whose NMEA jitters by milliseconds is known to well under a
    // millisecond, short enough to follow a receiver reconfigured (another
    // baud rate, more sentences) within minutes. 120 values: 960 bytes.
    static constexpr std::size_t window = 120;
    // Settled: at least this many pulses, and the median's standard error
    // at most max_standard_error_ns. The standard error of a median is
    // sqrt(pi/2) sigma / sqrt(n), and sigma = 1.4826 MAD for normally
    // distributed values: 1.858 MAD / sqrt(n). 1 ms is what an NMEA
    // `offset` needs (NMEA alone is good to milliseconds; a pps refclock
    // needs it only to number pulses, within 0.4 s): a receiver with a
    // spread under 2.9 ms settles after 30 pulses, one under 5.9 ms after
    // the full window, and one that jitters more never does -- its
    // suggested offset is still reported, marked unsettled. 30 pulses also
    // keep a short run of consistent outliers from settling a wrong value.
    static constexpr std::size_t min_pulses = 30;
    static constexpr std::int64_t max_standard_error_ns = 1'000'000;
    // A settled value is logged again only if the median moves by more
    // than this from the value last logged: 5 standard errors of a
    // settled median, so noise does not repeat the line, while a change
    // that matters to the offset (a new baud rate, other sentences) does.
    static constexpr std::int64_t relog_change_ns = 5'000'000;

    NmeaLatency() : window_(window) {}

    // (R - E) - (S - N), saturated. `edge` E and `receive` R are
    // CLOCK_REALTIME; `pulse_second` N and `named_second` S the seconds.
    static std::int64_t latency_ns(timespec edge, timespec pulse_second, timespec receive,
                                   timespec named_second);

    struct Report {
        Summary summary;
    };
    // Count one pulse. Returns a report when it should be logged: the
    // window has just settled for the first time, or settled again on a
    // median more than relog_change_ns from the last one logged.
    std::optional<Report> add(timespec edge, timespec pulse_second, timespec receive,
                              timespec named_second);

    std::optional<Summary> summary() const { return window_.summary(); }
    bool settled() const;
    static bool settled(const Summary& summary);
    // Pulses counted since construction.
    std::uint64_t pulses() const { return pulses_; }

private:
    Window window_;
    std::uint64_t pulses_ = 0;
    std::optional<std::int64_t> logged_ns_;
};

} // namespace shmrefclock
