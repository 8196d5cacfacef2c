#include "core/nmea_replay.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <optional>

#include "core/nmea_driver.hpp"

namespace shmrefclock {

std::int64_t ByteSchedule::write(std::int64_t start_ns, std::string_view text,
                                 std::int64_t byte_ns) {
    std::int64_t t = start_ns;
    if (!arrival_ns.empty() && byte_ns > 0) {
        t = std::max(t, arrival_ns.back());
    }
    for (const char byte : text) {
        t += byte_ns;
        bytes.push_back(byte);
        arrival_ns.push_back(std::max(t, arrival_ns.empty() ? t : arrival_ns.back()));
    }
    return t;
}

namespace {

constexpr std::int64_t never = std::numeric_limits<std::int64_t>::max();

// The schedule is the line; the replay's time is the loop's.
class Replay final : public NmeaLine {
public:
    Replay(NmeaCore& core, const ByteSchedule& schedule, const ReplayOptions& options)
        : core_(core), schedule_(schedule), options_(options) {}

    std::vector<ReplayEvent> run() {
        now_ = options_.opened_ns;
        apply(core_.opened(now_, options_.line_rate, "replay"));
        const std::int64_t end =
            options_.end_ns != 0
                ? options_.end_ns
                : (schedule_.arrival_ns.empty() ? now_ : schedule_.arrival_ns.back()) +
                      3 * ns_per_s;
        while (true) {
            // The next thing the loop would wake for.
            std::int64_t device_at = never;
            if (watching_ && next_ < schedule_.bytes.size()) {
                const std::int64_t latency =
                    options_.wake_latency_ns ? options_.wake_latency_ns() : 0;
                device_at = std::max(schedule_.arrival_ns[next_], now_) + latency;
            }
            std::size_t timer = timer_count;
            std::int64_t timer_at = never;
            for (std::size_t i = 0; i < timer_count; ++i) {
                if (timers_[i].seen < timer_at) {
                    timer_at = timers_[i].seen;
                    timer = i;
                }
            }
            const std::int64_t step_at = next_step_ < options_.clock_steps.size()
                                             ? options_.clock_steps[next_step_].at_ns
                                             : never;
            const std::int64_t at = std::min({device_at, timer_at, step_at});
            if (at == never || at > end) {
                break;
            }
            now_ = at;
            if (step_at == at) {
                stepped_ns_ += options_.clock_steps[next_step_++].step_ns;
                apply(core_.clock_stepped());
                continue;
            }
            if (device_at <= timer_at) {
                apply(read_line(core_, *this, NmeaRead::Wake::device, stamp(),
                                options_.leap_seconds));
                continue;
            }
            Timer& fired = timers_[timer];
            if (fired.period != 0) {
                // The first expiry after this wake, as a timerfd counts them.
                fired.at += fired.period * ((now_ - fired.at) / fired.period + 1);
                fired.seen = fired.at + timer_latency();
            } else {
                fired.at = fired.seen = never;
            }
            switch (static_cast<TimerId>(timer)) {
            case TimerId::batch:
                apply(
                    read_line(core_, *this, NmeaRead::Wake::batch, stamp(), options_.leap_seconds));
                break;
            case TimerId::stale:
                apply(core_.stale());
                break;
            case TimerId::answer:
                apply(core_.answer_timeout());
                break;
            case TimerId::sample:
            case TimerId::reopen:
                break; // not used by a device that never fails
            }
        }
        return std::move(events_);
    }

private:
    struct Timer {
        std::int64_t at = never;   // when it expires
        std::int64_t seen = never; // when the loop sees it
        std::int64_t period = 0;
    };

    std::int64_t timer_latency() const {
        return options_.timer_latency_ns ? options_.timer_latency_ns() : 0;
    }

    Stamp stamp() const {
        return Stamp{timespec_add(options_.realtime_epoch, now_ + stepped_ns_), now_};
    }

    // Index one past the last byte readable now.
    std::size_t arrived() const {
        const auto& a = schedule_.arrival_ns;
        return static_cast<std::size_t>(
            std::upper_bound(a.begin() + static_cast<long>(next_), a.end(), now_) - a.begin());
    }

    int queued() override { return static_cast<int>(arrived() - next_); }

    LineRead read(std::span<char> buffer) override {
        const std::size_t count = std::min(arrived() - next_, buffer.size());
        if (count == 0) {
            return LineRead{};
        }
        std::memcpy(buffer.data(), schedule_.bytes.data() + next_, count);
        next_ += count;
        return LineRead{LineRead::Status::bytes, count, 0};
    }

    std::optional<KernelClock> kernel_clock(const Stamp&) override {
        if (!options_.kernel_clock) {
            return std::nullopt;
        }
        return options_.kernel_clock(now_);
    }

    void apply(const Actions& actions) {
        for (const Message& message : actions.messages) {
            events_.push_back({ReplayEvent::Kind::logged, Sample{}, now_, message});
        }
        if (actions.publish) {
            events_.push_back({ReplayEvent::Kind::published,
                               *actions.publish,
                               now_,
                               {},
                               actions.publish_accuracy_ns});
        }
        if (actions.withdraw) {
            events_.push_back({ReplayEvent::Kind::withdrawn, Sample{}, now_, {}});
        }
        for (const TimerRequest& request : actions.timers) {
            Timer& timer = timers_[static_cast<std::size_t>(request.id)];
            timer.at = request.after_ns == 0 ? never : now_ + request.after_ns;
            timer.seen = timer.at == never ? never : timer.at + timer_latency();
            timer.period = request.period_ns;
        }
        if (actions.watch_device) {
            watching_ = *actions.watch_device;
        }
    }

    NmeaCore& core_;
    const ByteSchedule& schedule_;
    const ReplayOptions& options_;
    std::int64_t now_ = 0;
    std::size_t next_ = 0;
    std::size_t next_step_ = 0;
    std::int64_t stepped_ns_ = 0; // the clock steps so far
    bool watching_ = false;
    std::array<Timer, timer_count> timers_{};
    std::vector<ReplayEvent> events_;
};

} // namespace

std::vector<ReplayEvent> replay(NmeaCore& core, const ByteSchedule& schedule,
                                const ReplayOptions& options) {
    return Replay(core, schedule, options).run();
}

} // namespace shmrefclock
