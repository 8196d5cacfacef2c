// The interface between a time source and its refclock (after chrony's
// refclock.h: a driver only reports samples; the refclock publishes them).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "core/leap_seconds.hpp"
#include "core/live_state.hpp"
#include "core/pps_numbering.hpp"
#include "core/stamp.hpp"
#include "shmrefclock/sample.hpp"

namespace shmrefclock {

class EventLoop;
struct RefclockConfig;

// What a source reports to.
class SourceSink {
public:
    virtual ~SourceSink() = default;
    // A new sample; its reference time is what the source measured, before
    // the refclock's `offset`. `accuracy_ns`: the receiver's own estimate
    // of its time's accuracy (u-blox tAcc), if it gave one.
    virtual void publish(const Sample& sample, std::optional<std::int64_t> accuracy_ns) = 0;
    // The source has no current time (silent, unplugged, no fix): readers
    // must not take the last sample any more.
    virtual void withdraw() = 0;
    // health() changed.
    virtual void health_changed() = 0;
    // The daemon's leap-second list as it is now (reloaded on SIGHUP and
    // when the file changes): nmea hands it to its core with every read, as
    // data, and the core refuses a receiver's 23:59:60 that a valid list
    // does not schedule (docs/design.md, "NMEA: from a byte to a segment").
    virtual const LeapListLoad& leap_seconds() const = 0;
};

class Source {
public:
    virtual ~Source() = default;
    // Open devices and register with the loop. Failures to open a device are
    // not fatal: the source retries and reports them through health().
    virtual void start() = 0;
    // A short state for STATUS= and logs, e.g. "3D fix" or "no device".
    virtual std::string health() const = 0;
    // The /dev/ppsN this source's device carries (nmea with pps = "dcd"),
    // while it is open.
    virtual std::optional<std::string> pps_device() const { return std::nullopt; }
    // The receiver's label of its next pulse (nmea: u-blox TIM-TP).
    virtual std::optional<PulseLabel> pulse_label() const { return std::nullopt; }
    // CLOCK_REALTIME was stepped; `at` is when the loop learnt of it
    // (docs/design.md, "Clock steps"). A source drops every realtime stamp
    // taken before it and withdraws what it published with one. One that
    // stamps each sample as it publishes it (system) has nothing to drop.
    virtual void clock_stepped(const Stamp& at) { (void)at; }
    // The configuration was reloaded and `old` is this refclock's source
    // before it (same name and kind): carry over what must outlive a reload
    // (nmea: the believed timeline, issue 18).
    virtual void carry_from(const Source& old) { (void)old; }
    // Add this source's part of the live state to its refclock's (docs/
    // design.md, "Live state"): `state.nmea` or `state.pps`, with its
    // counters, its witness and what it measures (the NMEA arrival).
    virtual void fill_state(RefclockState& state, const Stamp& now) const {
        (void)state;
        (void)now;
    }
};

// Another refclock as a pps source sees it when it numbers pulses by it
// (`lock`). Resolved once, when the refclocks are built (chrony resolves
// its lock the same way), and rebuilt with them on a reload.
class LockSource {
public:
    virtual ~LockSource() = default;
    // Its latest published sample (its `offset` applied), or nothing if it
    // has none or has withdrawn it (stale).
    virtual std::optional<Sample> latest_sample() const = 0;
    // The PPS device its source carries (pps = "dcd").
    virtual std::optional<std::string> pps_device() const = 0;
    // The receiver's label of its next pulse, sent before it (u-blox
    // TIM-TP), while its latest cycle was published; none from receivers
    // that do not label pulses.
    virtual std::optional<PulseLabel> pulse_label() const { return std::nullopt; }
    // The pps refclock `pps_refclock` numbered the pulse whose edge the
    // kernel stamped at `edge` as second `second`, by `lock_sample` (this
    // refclock's latest sample, as latest_sample() returned it): what the
    // lock measures its NMEA latency from (core/nmea_latency.hpp). The pps
    // core decides it (Actions::lock_pulse); its shell tells the lock. The
    // only change a pps refclock makes to its lock: its samples are not
    // its to change.
    virtual void pulse_numbered(const std::string& pps_refclock, timespec edge, timespec second,
                                const Sample& lock_sample) {
        (void)pps_refclock;
        (void)edge;
        (void)second;
        (void)lock_sample;
    }
};

// Chosen in one place: the source a refclock's config asks for.
// `lock`: the refclock a pps source's `lock` names, null otherwise.
std::unique_ptr<Source> make_source(const RefclockConfig& config, EventLoop& loop, SourceSink& sink,
                                    LockSource* lock);

} // namespace shmrefclock
