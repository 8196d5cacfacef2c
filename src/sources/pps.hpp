// source = "pps": kernel PPS through the RFC 2783 API (<sys/timepps.h>,
// pps-tools), each pulse numbered by the `lock` refclock or the system clock
// (pps_numbering.hpp).
//
// One thread per open device does nothing but block in time_pps_fetch() (1 s
// timeout) and forward what it returns through a pipe to the event loop
// (DESIGN.md, "Architecture": "a PPS wait that must block may own one
// thread"). The pulse's time is the kernel's timestamp of the edge, so
// neither the thread's nor the loop's wake-up latency enters the sample.
//
// The device is never fatal: a missing, refused or vanished /dev/ppsN is
// retried with back-off (1 s doubling to 30 s) and reported by health().
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "config.hpp"
#include "event_loop.hpp"
#include "log.hpp"
#include "sources/pps_numbering.hpp"
#include "sources/source.hpp"

namespace shmrefclock {

class PpsSource : public Source {
public:
    PpsSource(const RefclockConfig& config, EventLoop& loop, SourceSink& sink,
              const RefclockDirectory& directory);
    // Joins the fetch thread: up to its 1 s fetch timeout.
    ~PpsSource() override;
    PpsSource(const PpsSource&) = delete;
    PpsSource& operator=(const PpsSource&) = delete;

    void start() override;
    std::string health() const override { return health_; }

    // No pulse published for this long: withdraw (DESIGN.md: a source that
    // stops delivering goes stale within 2 s).
    static constexpr std::int64_t stale_after_ns = 2'000'000'000;
    // No fetch result at all for this long: reopen the device. The kernel
    // does not fail PPS_FETCH on a device that was unregistered (a USB
    // adapter unplugged, pps-ldisc detached); its waits just time out, so
    // silence is the only sign. Reopening is harmless when the receiver
    // merely has no pulse output (many do not pulse without a fix).
    static constexpr std::int64_t reopen_after_silence_ns = 5'000'000'000;

    // What became of the pulses fetched since start().
    struct Counters {
        std::uint64_t repeated = 0; // sequence number seen before: no new pulse
        // Indexed by PulseVerdict: numbered (published) or why dropped.
        std::array<std::uint64_t, pulse_verdict_count> by_verdict{};
    };

    const Counters& counters() const { return counters_; }

    // What the fetch thread sends for each time_pps_fetch() return (public
    // for the thread's function in pps.cpp).
    struct FetchRecord;

private:
    struct Capture;

    void open_device();
    void fail(const std::string& message);
    void close_device();
    void on_records(const timespec& stamp);
    void on_record(const FetchRecord& record, const timespec& stamp);
    void on_stale_timer();
    // `log`: false for failures, which device_log_ reports.
    void set_health(std::string health, bool log = true);
    // State changes are logged at info, each distinct text at most every
    // 60 s: a lock that flaps every other second, or a silent device reopened
    // every 5 s, must not flood the journal.
    void log_info(const std::string& message);
    std::string lock_description() const;

    std::string name_;
    std::string device_;
    // `device` left out: the PPS device of the lock's DCD line (pps = "dcd").
    bool dcd_ = false;
    std::string lock_;
    PpsEdge edge_;
    EventLoop& loop_;
    SourceSink& sink_;
    const RefclockDirectory& directory_;

    // When to retry opening the device.
    Timer device_timer_;
    // stale_after_ns after the latest published sample.
    Timer stale_timer_;
    EventLoop::Registration device_timer_watch_ = 0;
    EventLoop::Registration stale_timer_watch_ = 0;
    EventLoop::Registration records_watch_ = 0;
    std::unique_ptr<Capture> capture_;

    std::int64_t retry_delay_s_ = 1;
    std::optional<unsigned long> last_sequence_;
    unsigned long last_other_sequence_ = 0;
    bool valid_ = false;    // a sample is published and not withdrawn
    bool starting_ = false; // inside start()
    Counters counters_;

    std::string health_;
    std::map<std::string, std::chrono::steady_clock::time_point> info_logged_;
    RateLimitedLog device_log_;
};

} // namespace shmrefclock
