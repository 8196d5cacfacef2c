// source = "nmea": a GNSS receiver's NMEA on a serial port or over TCP.
//
// The accuracy edge over gpsd (DESIGN.md, "Behaviour"): a sample's receive
// time is the arrival of the first byte of the reporting cycle, not the end
// of the sentence that carried the time. A cycle starts with the first byte
// after the line has been quiet; once it is stamped, the rest of the cycle is
// read in batches from a timer instead of waking for every byte.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "config.hpp"
#include "event_loop.hpp"
#include "log.hpp"
#include "sources/nmea_device.hpp"
#include "sources/nmea_parser.hpp"
#include "sources/source.hpp"

namespace shmrefclock {

// What decides whether a cycle's time is published (pure, unit-tested).
struct CycleCheck {
    // Consecutive cycles whose times agree with the time elapsed between
    // them; a jump (a receiver glitch, a time going backwards) restarts the
    // count, so it takes `min_fixes` agreeing cycles before a new timeline is
    // believed.
    int consecutive = 0;
    std::optional<timespec> last_reference;
    std::optional<timespec> last_receive;

    enum class Verdict { publish, acquiring, jumped, same_second };
    // Record a valid cycle reporting `reference` stamped `receive`.
    Verdict add(timespec reference, timespec receive, int min_fixes);
    void reset() { *this = CycleCheck{}; }
};

class NmeaSource : public Source {
public:
    NmeaSource(EventLoop& loop, SourceSink& sink, const RefclockConfig& config,
               std::chrono::year_month_day floor);
    ~NmeaSource() override;
    void start() override;
    std::string health() const override;
    std::optional<std::string> pps_device() const override { return pps_device_; }

    // The quiet gap that ends a cycle, and the batch period while reading
    // one: a gap longer than two periods always starts a new cycle, one
    // shorter than a period never does. Receivers send a cycle's sentences
    // back to back; cycles are hundreds of ms apart even at 4800 baud.
    static constexpr std::int64_t batch_period_ns = 25'000'000;
    // No valid time for this long: withdraw the sample (DESIGN.md).
    static constexpr std::int64_t stale_after_ns = 2'000'000'000;
    // A cycle that never goes quiet is not a cycle we can stamp.
    static constexpr std::int64_t max_cycle_ns = 1'500'000'000;

private:
    void open_device();
    // pps = "dcd": attach the PPS line discipline and find its /dev/ppsN.
    void attach_pps();
    void device_failed(const std::string& message);
    void on_first_byte(const timespec& stamp);
    void on_batch();
    // Read what is queued; false when the device failed (it is then closed).
    bool read_available(std::size_t& got);
    void finish_cycle();
    void on_stale();
    void set_health(std::string health);
    void watch_device();
    void unwatch_device();

    EventLoop& loop_;
    SourceSink& sink_;
    RefclockConfig config_;

    NmeaDevice device_;
    EventLoop::Registration device_watch_ = 0;
    Timer batch_timer_, stale_timer_, reopen_timer_;
    EventLoop::Registration batch_watch_ = 0, stale_watch_ = 0, reopen_watch_ = 0;
    int reopen_delay_s_ = 1;
    RateLimitedLog device_errors_;

    nmea::Parser parser_;
    nmea::Cycle cycle_;
    bool in_cycle_ = false;
    // The cycle began after a quiet line, so its first byte's stamp is good.
    bool cycle_stamped_ = false;
    // Time-bearing sentences (valid or not) decoded in the cycle.
    int cycle_sentences_ = 0;
    timespec cycle_start_{};
    timespec cycle_start_monotonic_{};
    timespec opened_monotonic_{};
    CycleCheck check_;
    bool published_ = false;
    nmea::Counters reported_{};
    std::string health_ = "starting";
    std::optional<std::string> pps_device_;
};

} // namespace shmrefclock
