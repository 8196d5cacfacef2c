#include "sources/system.hpp"

#include <fmt/format.h>

namespace shmrefclock {

Sample system_sample(const Stamp& stamp) {
    Sample sample;
    sample.receive_time = stamp.realtime;
    sample.reference_time = stamp.realtime;
    return sample;
}

SystemSource::SystemSource(std::string name, EventLoop& loop, SourceSink& sink, double interval)
    : SourceShell(std::move(name), loop, sink), interval_(interval) {}

void SystemSource::start() {
    // A first sample right away: READY=1 and the first sample arrive together.
    Actions actions;
    actions.arm(TimerId::sample, 1, offset_to_ns(interval_));
    apply(actions);
}

void SystemSource::on_timer(TimerId id, const Stamp& stamp) {
    Actions actions;
    if (id == TimerId::stale) {
        // Expected between samples when `interval` is above 2 s: no warning.
        rules_.stale(actions);
    } else {
        rules_.publish(actions, system_sample(stamp), 0);
    }
    apply(actions);
}

std::string SystemSource::health() const {
    return fmt::format("system clock every {} s", interval_);
}

} // namespace shmrefclock
