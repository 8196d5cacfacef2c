#include "sources/nmea.hpp"

#include <cerrno>
#include <cstring>
#include <system_error>

#include <sys/ioctl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "io/kernel_clock.hpp"
#include "sources/pps_dcd.hpp"

namespace shmrefclock {

NmeaSource::NmeaSource(EventLoop& loop, SourceSink& sink, const RefclockConfig& config,
                       std::chrono::year_month_day floor)
    : SourceShell(config.name, loop, sink), config_(config),
      core_(NmeaSettings{
          config.device, config.baud, config.min_fixes, floor,
          WitnessSettings{config.witness, static_cast<std::int64_t>(config.offset * 1e9)}}) {}

NmeaSource::~NmeaSource() {
    watch_device(false);
}

void NmeaSource::start() {
    open_device();
}

void NmeaSource::on_timer(TimerId id, const Stamp& stamp) {
    switch (id) {
    case TimerId::batch: {
        if (const auto total = read_available()) {
            apply(core_.batch(stamp.monotonic_ns, *total));
        }
        break;
    }
    case TimerId::stale:
        apply(core_.stale());
        break;
    case TimerId::reopen:
        open_device();
        break;
    case TimerId::sample:
        break;
    }
}

void NmeaSource::watch_device(bool watch) {
    if (watch && device_watch_ == 0 && device_.fd.valid()) {
        device_watch_ =
            loop().watch(device_.fd.get(), [this](const Stamp& stamp) { on_readable(stamp); });
    } else if (!watch && device_watch_ != 0) {
        loop().unwatch(device_watch_);
        device_watch_ = 0;
    }
}

void NmeaSource::close_device() {
    watch_device(false);
    pps_device_.reset();
    device_.fd.reset();
}

void NmeaSource::open_device() {
    try {
        device_ = open_nmea_device(config_.device, config_.baud);
    } catch (const DeviceError& e) {
        apply(core_.device_failed(e.what()));
        return;
    }
    device_log_reset();
    if (config_.pps_dcd) {
        attach_pps();
    }
    apply(core_.opened(stamp_now().monotonic_ns, device_.line_rate, device_.description));
}

void NmeaSource::attach_pps() {
    // The line discipline lives on this fd: its /dev/ppsN goes away when the
    // fd is closed, and a reopened port registers a new one.
    pps_device_.reset();
    Actions actions;
    if (!device_.is_tty) {
        actions.log(MessageLevel::error,
                    fmt::format("pps = \"dcd\" needs a serial port, not {}", config_.device));
        apply(actions);
        return;
    }
    try {
        attach_pps_line_discipline(device_.fd.get());
    } catch (const std::system_error& e) {
        actions.log(MessageLevel::error, fmt::format("PPS on DCD: {}", e.what()), true);
        apply(actions);
        return;
    }
    const char* tty = ttyname(device_.fd.get());
    if (tty == nullptr) {
        actions.log(MessageLevel::error,
                    fmt::format("PPS on DCD: ttyname: {}", std::strerror(errno)), true);
        apply(actions);
        return;
    }
    pps_device_ = find_pps_device_for_tty("/sys", tty);
    if (pps_device_) {
        actions.log(
            MessageLevel::info,
            fmt::format("PPS line discipline attached to {}: pulses on {}", tty, *pps_device_));
    } else {
        actions.log(MessageLevel::error,
                    fmt::format("PPS line discipline attached to {}, but no "
                                "/sys/class/pps/*/path names it",
                                tty),
                    true);
    }
    apply(actions);
}

void NmeaSource::on_readable(const Stamp& stamp) {
    int queued = 0;
    if (ioctl(device_.fd.get(), FIONREAD, &queued) != 0) {
        queued = 0;
    }
    // Between cycles (inside one the batch timer reads): the kernel's state
    // once per cycle, for the witness, next to the cycle's first stamp.
    core_.kernel_clock(read_kernel_clock());
    apply(core_.readable(stamp, queued));
    if (const auto total = read_available()) {
        apply(core_.read_done(*total));
    }
}

std::optional<std::size_t> NmeaSource::read_available() {
    std::size_t got = 0;
    // Bounded: a receiver flooding the line cannot keep the loop here.
    for (int round = 0; round < 64; ++round) {
        const ssize_t n = ::read(device_.fd.get(), buffer_.data(), buffer_.size());
        if (n > 0) {
            got += static_cast<std::size_t>(n);
            core_.received(std::string_view(buffer_.data(), static_cast<std::size_t>(n)));
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            break;
        }
        // 0: the TCP peer closed, or the tty hung up. EIO: a pty's other
        // side closed, or a USB adapter was unplugged.
        apply(core_.device_failed(n == 0 ? "end of data (device closed or disconnected)"
                                         : fmt::format("read: {}", std::strerror(errno))));
        return std::nullopt;
    }
    return got;
}

} // namespace shmrefclock
