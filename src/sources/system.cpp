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

void SystemSource::on_timer(TimerId, const Stamp& stamp) {
    Actions actions;
    actions.publish = system_sample(stamp);
    apply(actions);
}

std::string SystemSource::health() const {
    return fmt::format("system clock every {} s", interval_);
}

} // namespace shmrefclock
