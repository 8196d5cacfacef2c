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
};

} // namespace shmrefclock
