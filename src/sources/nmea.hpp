// source = "nmea": the shell around NmeaCore (nmea_core.hpp). It owns the
// device (a serial port or a TCP receiver, nmea_device.hpp) and, with
// pps = "dcd", the PPS line discipline on it; it reads what the core asks
// for and carries out what the core returns. Every decision about time is
// the core's; the shell's own are about the connection: a TCP receiver is
// "opened" only once connected, and one silent for tcp_silence_s is closed
// and opened again through the core's back-off.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "core/device_address.hpp"
#include "core/nmea_core.hpp"
#include "io/resolver.hpp"
#include "sources/nmea_device.hpp"
#include "sources/source_shell.hpp"

namespace shmrefclock {

class NmeaSource : public SourceShell {
public:
    NmeaSource(EventLoop& loop, SourceSink& sink, const RefclockConfig& config,
               std::chrono::year_month_day floor);
    ~NmeaSource() override;
    void start() override;
    std::string health() const override { return core_.health(); }
    std::optional<std::string> pps_device() const override { return pps_device_; }
    std::optional<PulseLabel> pulse_label() const override { return core_.pulse_label(); }
    void clock_stepped(const Stamp&) override { apply(core_.clock_stepped()); }
    void carry_from(const Source& old) override;
    void fill_state(RefclockState& state, const Stamp& now) const override;

private:
    void open_device();
    // A serial port opened, or a TCP connection established: tell the core.
    void device_opened();
    // tcp://: resolve (io/resolver.hpp), then connect, each step on a wake-up
    // of its own so that neither blocks the loop (issue 8, case 6).
    void start_resolving();
    void on_resolved();
    void on_connected();
    // tcp://: no byte (or no connection) for tcp_silence_s (issue 8, case 7).
    void on_silence();
    void unwatch(EventLoop::Registration& registration);
    // pps = "dcd": attach the PPS line discipline and find its /dev/ppsN.
    void attach_pps();
    // The device woke the loop, or the batch timer fired: read through the
    // driver (core/nmea_driver.hpp), as `decode` does, and carry out what
    // the core returns.
    void read_device(NmeaRead::Wake wake, const Stamp& stamp);

    void on_timer(TimerId id, const Stamp& stamp) override;
    void close_device() override;
    void watch_device(bool watch) override;
    void unwatch_device();
    // A UBX configuration request (core/ubx_configure.hpp): one
    // non-blocking write; what the device does not take now is dropped, and
    // the request is sent again when its answer does not come.
    void write_device(const std::string& bytes) override;

    RefclockConfig config_;
    NmeaCore core_;
    NmeaDevice device_;
    EventLoop::Registration device_watch_ = 0;
    // What the core last asked for (Actions::watch_device).
    bool device_wanted_ = false;
    // tcp:// only.
    std::optional<TcpAddress> tcp_;
    std::unique_ptr<Resolution> resolution_;
    EventLoop::Registration resolve_watch_ = 0;
    EventLoop::Registration connect_watch_ = 0; // while connect() is under way
    // An alarm (re-armed by every read: no syscall while the peer talks).
    std::optional<EventLoop::Alarm> silence_;
    std::optional<std::string> pps_device_;
};

} // namespace shmrefclock
