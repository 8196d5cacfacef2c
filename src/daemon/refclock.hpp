// One [[refclock]]: a source, its calibration (offset, precision) and its
// outputs. Sources report here; outputs see only finished samples.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/history.hpp"
#include "core/live_state.hpp"
#include "core/nmea_latency.hpp"
#include "daemon/leap_list.hpp"
#include "daemon/snapshot.hpp"
#include "outputs/output.hpp"
#include "sources/source.hpp"

namespace shmrefclock {

class EventLoop;

class Refclock : public SourceSink, public LockSource {
public:
    // Attaches the outputs (throws ShmError if a segment is refused); the
    // source does nothing until start().
    // `lock`: the refclock this one's `lock` names (pps), already built.
    // `leap_list`: the leap indicator for a reference time, and whether a
    // receiver's 23:59:60 is scheduled (daemon/leap_list); outlives this.
    Refclock(const RefclockConfig& config, EventLoop& loop, LockSource* lock,
             std::function<void()> on_health_changed, LeapList& leap_list);
    ~Refclock() override;

    void start();
    const RefclockConfig& config() const { return config_; }
    // "name: health" for STATUS=.
    std::string status() const;
    // "SHM unit 0 (key 0x4e545030)" and/or "chrony SOCK /run/chrony.sock".
    std::string describe_outputs() const;
    // The latest published sample (offset applied), while the source is current.
    std::optional<Sample> latest_sample() const override { return latest_; }
    std::optional<std::string> pps_device() const override { return source_->pps_device(); }
    std::optional<PulseLabel> pulse_label() const override { return source_->pulse_label(); }

    // CLOCK_REALTIME was stepped: the source withdraws what it stamped
    // before (and with it this refclock's latest sample, a pps lock's time).
    void clock_stepped(const Stamp& at) { source_->clock_stepped(at); }
    // A reload built this refclock to replace `old`: carry over what must
    // outlive it when `old` is the same receiver (same name, source and
    // device).
    void carry_from(const Refclock& old);

    // This refclock's part of the live state (docs/design.md, "Live state")
    // at `now`.
    RefclockState snapshot(const Stamp& now, const SnapshotOptions& options) const;
    // The history's points up to `now`, copied (the renderer joins them to
    // the state off the loop: daemon/views).
    std::vector<SecondHistory::Point> history_points(const Stamp& now) const {
        return history_.points(now.realtime.tv_sec);
    }

    void publish(const Sample& sample, std::optional<std::int64_t> accuracy_ns) override;
    void withdraw() override;
    void health_changed() override { on_health_changed_(); }
    const LeapListLoad& leap_seconds() const override { return leap_list_.list(); }
    void pulse_numbered(const std::string& pps_refclock, timespec edge, timespec second,
                        const Sample& lock_sample) override;

private:
    RefclockConfig config_;
    std::function<void()> on_health_changed_;
    LeapList& leap_list_;
    std::vector<std::unique_ptr<Output>> outputs_;
    std::optional<Sample> latest_;
    // Counted since this refclock was built (start-up or the last reload).
    std::uint64_t samples_published_ = 0;
    std::uint64_t withdrawals_ = 0;
    // One point per second over the last hour, for the status page.
    SecondHistory history_;
    // nmea: its latency measured by the pps refclock that locks to it
    // (pulse_numbered).
    struct MeasuredLatency {
        std::string pps_refclock;
        NmeaLatency latency;
    };
    std::unique_ptr<MeasuredLatency> pps_latency_;
    std::unique_ptr<Source> source_;
};

} // namespace shmrefclock
