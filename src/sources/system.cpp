#include "sources/system.hpp"

#include <fmt/format.h>

namespace shmrefclock {

SystemSource::SystemSource(EventLoop& loop, SourceSink& sink, double interval, int precision)
    : loop_(loop), sink_(sink), interval_(interval), precision_(precision) {}

SystemSource::~SystemSource() {
    if (registration_ != 0) {
        loop_.unwatch(registration_);
    }
}

void SystemSource::start() {
    registration_ = loop_.watch(timer_.fd(), [this](const timespec& stamp) { on_timer(stamp); });
    const auto period = offset_to_ns(interval_);
    // A first sample right away: READY=1 and the first sample arrive together.
    timer_.arm(1, period);
}

void SystemSource::on_timer(const timespec& stamp) {
    if (timer_.expirations() == 0) {
        return;
    }
    Sample sample;
    sample.receive_time = stamp;
    sample.reference_time = stamp;
    sample.precision = precision_;
    sink_.publish(sample);
}

std::string SystemSource::health() const {
    return fmt::format("system clock every {} s", interval_);
}

} // namespace shmrefclock
