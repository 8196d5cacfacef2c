// source = "pps": the shell around PpsCore (pps_core.hpp). It opens the
// device through the RFC 2783 API (<sys/timepps.h>, pps-tools) and runs the
// one thread that blocks in time_pps_fetch() (1 s timeout) and forwards
// what it returns through a pipe to the event loop (docs/design.md, "The
// event loop": a PPS wait that must block may own one thread). The pulse's
// time is the kernel's timestamp of the edge, so neither the thread's nor
// the loop's wake-up latency enters the sample.
//
// The device is never fatal: a missing, refused or vanished /dev/ppsN is
// retried with the shared back-off and reported by health().
#pragma once

#include <memory>
#include <string>

#include "config/config.hpp"
#include "core/pps_core.hpp"
#include "sources/source_shell.hpp"

namespace shmrefclock {

class PpsSource : public SourceShell {
public:
    // `lock`: the refclock that numbers the pulses, resolved when the
    // refclocks are built; null for lock = "system".
    PpsSource(const RefclockConfig& config, EventLoop& loop, SourceSink& sink, LockSource* lock);
    // Joins the fetch thread: up to its 1 s fetch timeout.
    ~PpsSource() override;

    void start() override;
    std::string health() const override { return core_.health(); }
    void clock_stepped(const Stamp& at) override { apply(core_.clock_stepped(at)); }
    const PpsCore::Counters& counters() const { return core_.counters(); }
    void fill_state(RefclockState& state, const Stamp& now) const override;

    // What the fetch thread sends for each time_pps_fetch() return (public
    // for the thread's function in pps.cpp).
    struct FetchRecord;

private:
    struct Capture;

    void open_device();
    void fail(const std::string& message);
    void on_records(const Stamp& stamp);

    void on_timer(TimerId id, const Stamp& stamp) override;
    void lock_pulse(const LockPulse& pulse) override;
    void close_device() override;

    RefclockConfig config_;
    // The device to open: `device`, or the lock's DCD line's (pps = "dcd").
    std::string device_;
    LockSource* lock_;
    PpsCore core_;
    EventLoop::Registration records_watch_ = 0;
    std::unique_ptr<Capture> capture_;
};

} // namespace shmrefclock
