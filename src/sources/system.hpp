// source = "system": CLOCK_REALTIME every `interval` seconds. The reference
// time is the receive time; the refclock's `offset` makes the python-ntpdshm
// "off by one second" demonstration.
#pragma once

#include "sources/source_shell.hpp"

namespace shmrefclock {

// The whole core: the sample a tick of the sampling timer at `stamp` gives.
Sample system_sample(const Stamp& stamp);

class SystemSource : public SourceShell {
public:
    SystemSource(std::string name, EventLoop& loop, SourceSink& sink, double interval);
    void start() override;
    std::string health() const override;

private:
    void on_timer(TimerId id, const Stamp& stamp) override;

    double interval_;
    // A sample is withdrawn SourceRules::stale_after_ns after it was taken,
    // as every source's (docs/design.md, "Source cores": a source that stops
    // delivering goes stale within 2 s): with `interval` above 2 s there is
    // no valid sample between samples, rather than one up to `interval` old
    // that a reader would take as current.
    SourceRules rules_{"system clock"};
};

} // namespace shmrefclock
