// source = "system": CLOCK_REALTIME every `interval` seconds. The reference
// time is the receive time; the refclock's `offset` makes the python-ntpdshm
// "off by one second" demonstration.
#pragma once

#include "event_loop.hpp"
#include "sources/source.hpp"

namespace shmrefclock {

class SystemSource : public Source {
public:
    SystemSource(EventLoop& loop, SourceSink& sink, double interval, int precision);
    ~SystemSource() override;
    void start() override;
    std::string health() const override;

private:
    void on_timer(const timespec& stamp);

    EventLoop& loop_;
    SourceSink& sink_;
    double interval_;
    int precision_;
    Timer timer_;
    EventLoop::Registration registration_ = 0;
};

} // namespace shmrefclock
