// What every source core shares (docs/design.md, "Source cores"): the
// actions a core returns to its shell, and the rules that are the same for
// every source -- staleness, reopening a failed device with back-off, and
// health. Pure: no fds, no clocks, no logging; time comes in with events.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/backoff.hpp"
#include "core/stamp.hpp"
#include "shmrefclock/sample.hpp"

namespace shmrefclock {

// The timers a shell keeps for its core, each a CLOCK_MONOTONIC timerfd.
enum class TimerId : std::uint8_t {
    sample, // system: the sampling period
    batch,  // nmea: read the rest of a cycle
    stale,  // withdraw the sample if nothing newer came
    reopen, // open the device again after a failure
    answer, // nmea: a UBX request's answer is overdue (core/ubx_configure.hpp)
};
inline constexpr std::size_t timer_count = 5;

struct TimerRequest {
    TimerId id;
    std::int64_t after_ns = 0;  // first expiry from now; 0 disarms
    std::int64_t period_ns = 0; // then every period_ns; 0: once
};

enum class MessageLevel : std::uint8_t { debug, info, warn, error };

// pps: a pulse numbered by the lock refclock's sample. The lock measures its
// NMEA latency from it (core/nmea_latency.hpp): the edge, the second it was
// numbered as, and the lock's sample (as LockSource::latest_sample gave it).
struct LockPulse {
    timespec edge{};
    timespec second{};
    Sample lock_sample;
};

struct Message {
    MessageLevel level;
    std::string text;
    // A failure that may repeat every few seconds (a device that keeps
    // failing, a lock that flaps): the shell logs the first occurrence and
    // then a summary, not every one.
    bool repeating = false;
};

// What a core tells its shell to do, in this order: tell the lock of a
// pulse, close the device, log, publish or withdraw, write to the device,
// set timers, start or stop watching the device, report health.
struct Actions {
    std::optional<LockPulse> lock_pulse; // pps
    bool close_device = false;
    std::vector<Message> messages;
    std::optional<Sample> publish; // reference time before the refclock's offset
    // The receiver's own estimate of its time's accuracy (u-blox tAcc), for
    // `publish`: the refclock writes no finer a precision than it
    // (precision_for_accuracy).
    std::optional<std::int64_t> publish_accuracy_ns;
    bool withdraw = false;
    std::vector<TimerRequest> timers;
    // nmea: true to wake per byte (between cycles), false to read by the
    // batch timer (inside a cycle).
    std::optional<bool> watch_device;
    // nmea: bytes to write to the device (UBX configuration requests),
    // after the log and before the timers.
    std::string device_write;
    bool health_changed = false;

    void log(MessageLevel level, std::string text, bool repeating = false) {
        messages.push_back({level, std::move(text), repeating});
    }
    void arm(TimerId id, std::int64_t after_ns, std::int64_t period_ns = 0) {
        timers.push_back({id, after_ns < 1 ? 1 : after_ns, period_ns});
    }
    void disarm(TimerId id) { timers.push_back({id, 0, 0}); }
    // `other`'s actions after these (its log after theirs, its timers
    // later, its device and health requests winning).
    void append(Actions other);
};

// The precision (log2 s, as the SHM segment's `precision`) of a time good to
// `accuracy_ns`: the smallest power of two seconds not below it, within the
// configurable range -30..0 and up to 3 (8 s: u-blox's tAcc tops out at
// 2^32 ns). A receiver that says its time is good to 2 ms (2^-9 s > 2 ms)
// gives -8, never -9.
int precision_for_accuracy(std::int64_t accuracy_ns) noexcept;

// The rules every source follows; each source's core owns one.
class SourceRules {
public:
    // A source that stops delivering goes stale: its sample is withdrawn
    // this long after it was received, unless a newer one replaced it
    // (docs/design.md, "Source cores"). NTPsec drops samples older than 5 s;
    // chrony polls every second.
    static constexpr std::int64_t stale_after_ns = 2 * ns_per_s;

    explicit SourceRules(std::string health) : health_(std::move(health)) {}

    // Publish `sample`, received `age_ns` ago, with the receiver's estimate
    // of its accuracy if it gave one; the stale timer is armed for the rest
    // of its life.
    void publish(Actions& actions, const Sample& sample, std::int64_t age_ns,
                 std::optional<std::int64_t> accuracy_ns = std::nullopt);
    // The stale timer fired: withdraw the sample if it is still out. Returns
    // whether it was.
    bool stale(Actions& actions);
    // Withdraw now (no device, no fix): readers must not take the last sample.
    void withdraw(Actions& actions);
    bool published() const { return published_; }

    // The device failed or could not be opened: close it, withdraw, and
    // open it again after the back-off delay. `message` names the device
    // and what failed; it becomes the health with the retry delay.
    void device_failed(Actions& actions, const std::string& message);
    // The device delivers: the next failure retries after the first delay.
    void device_works() { backoff_.reset(); }

    void set_health(Actions& actions, std::string health);
    const std::string& health() const { return health_; }

private:
    Backoff backoff_;
    bool published_ = false;
    std::string health_;
};

} // namespace shmrefclock
