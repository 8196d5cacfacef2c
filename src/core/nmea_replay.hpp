// Drives an NmeaCore from a schedule of byte arrivals: a simulated event
// loop (the device wakes it per byte between cycles, a 25 ms batch timer
// inside one, the stale timer withdraws) around the same driver as the
// daemon's shell (nmea_driver.hpp), whose line here is the schedule.
// Pure and deterministic: `decode` replays captures through it, and the unit
// tests generate thousands of line timings with it.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include "core/kernel_clock.hpp"
#include "core/leap_seconds.hpp"
#include "core/nmea_core.hpp"

namespace shmrefclock {

// Bytes as a line delivers them: byte i of `bytes` is complete (readable)
// at arrival_ns[i], on the monotonic clock.
struct ByteSchedule {
    std::string bytes;
    std::vector<std::int64_t> arrival_ns;

    // `text` written from `start_ns`: on a line-rate device one byte per
    // `byte_ns` (each readable once its stop bit is in), else all at once.
    // A write that would begin before the previous one ended queues behind
    // it, as a UART's transmitter does. Returns when its last byte is in.
    std::int64_t write(std::int64_t start_ns, std::string_view text, std::int64_t byte_ns);
};

// What the readers would have seen.
struct ReplayEvent {
    enum class Kind { published, withdrawn, logged } kind;
    Sample sample;      // for published
    std::int64_t at_ns; // monotonic time of the action
    Message message{};  // for logged
    // For published: the receiver's accuracy that went with it (u-blox tAcc).
    std::optional<std::int64_t> accuracy_ns{};
};

struct ReplayOptions {
    bool line_rate = true;
    // CLOCK_REALTIME at monotonic 0: the receive stamps the core sees.
    timespec realtime_epoch{};
    // How long after a byte is readable the loop sees it (scheduling
    // latency); called for each wake-up by the device.
    std::function<std::int64_t()> wake_latency_ns;
    // How long after a timer expires the loop sees it (a loop held up);
    // called for each expiry. A periodic timer keeps its schedule, as a
    // timerfd does: its next expiry is the first one after the late wake.
    std::function<std::int64_t()> timer_latency_ns;
    // The device is opened at this monotonic time.
    std::int64_t opened_ns = 0;
    // Run the timers until this time (0: until the last byte + 3 s).
    std::int64_t end_ns = 0;
    // CLOCK_REALTIME stepped by `step_ns` at monotonic `at_ns` (in order):
    // the stamps the core sees move with it, and the core is told at once,
    // as the daemon's ClockStepWatch tells it.
    struct ClockStep {
        std::int64_t at_ns;
        std::int64_t step_ns;
    };
    std::vector<ClockStep> clock_steps;
    // What the kernel says about the system clock, for the witness
    // (core/witness.hpp): read by the driver at each wake-up by the device,
    // at monotonic `monotonic_ns`, as the shell reads it (io/kernel_clock).
    // Empty: never known, the core keeps its unsynchronized default (no
    // witness).
    std::function<KernelClock(std::int64_t monotonic_ns)> kernel_clock;
    // The leap-second list a daemon would hold (core/leap_seconds.hpp), as
    // every read hands it to the core. Null: no list (`decode`, which
    // believes the capture's 23:59:60).
    const LeapListLoad* leap_seconds = nullptr;
};

// Runs `core` over `schedule`; returns what it published and withdrew.
std::vector<ReplayEvent> replay(NmeaCore& core, const ByteSchedule& schedule,
                                const ReplayOptions& options);

} // namespace shmrefclock
