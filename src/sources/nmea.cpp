#include "sources/nmea.hpp"

#include <cerrno>
#include <cstring>
#include <system_error>
#include <variant>

#include <netdb.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/nmea_driver.hpp"
#include "io/kernel_clock.hpp"
#include "sources/pps_dcd.hpp"

namespace shmrefclock {

namespace {

NmeaSettings nmea_settings(const RefclockConfig& config, std::chrono::year_month_day floor) {
    NmeaSettings settings{
        config.device, config.baud, config.min_fixes, floor,
        WitnessSettings{config.witness, static_cast<std::int64_t>(config.offset * 1e9)}};
    settings.step_probation_ns = static_cast<std::int64_t>(config.step_probation * 1e9);
    settings.read_ubx = config.protocol != ReceiverProtocol::nmea;
    settings.read_nmea = config.protocol != ReceiverProtocol::ubx;
    if (config.ubx_configure) {
        settings.configure_ubx = ubx::ports_for(config.device);
    }
    return settings;
}

// The device as the driver (core/nmea_driver.hpp) reads it: non-blocking
// read(2)s, FIONREAD, and the kernel's clock state.
class DeviceLine final : public NmeaLine {
public:
    explicit DeviceLine(int fd) : fd_(fd) {}

    int queued() override {
        int queued = 0;
        if (ioctl(fd_, FIONREAD, &queued) != 0) {
            queued = 0;
        }
        return queued;
    }

    LineRead read(std::span<char> buffer) override {
        const ssize_t n = ::read(fd_, buffer.data(), buffer.size());
        if (n > 0) {
            bytes_ += static_cast<std::size_t>(n);
            return LineRead{LineRead::Status::bytes, static_cast<std::size_t>(n), 0};
        }
        if (n == 0) {
            return LineRead{LineRead::Status::ended, 0, 0};
        }
        if (errno == EINTR) {
            return LineRead{LineRead::Status::interrupted, 0, 0};
        }
        if (errno == EAGAIN) {
            return LineRead{LineRead::Status::drained, 0, 0};
        }
        return LineRead{LineRead::Status::failed, 0, errno};
    }

    std::optional<KernelClock> kernel_clock(const Stamp& stamp) override {
        return read_kernel_clock_at(stamp.monotonic_ns);
    }

    // The bytes read so far.
    std::size_t bytes() const { return bytes_; }

private:
    int fd_;
    std::size_t bytes_ = 0;
};

} // namespace

NmeaSource::NmeaSource(EventLoop& loop, SourceSink& sink, const RefclockConfig& config,
                       std::chrono::year_month_day floor)
    : SourceShell(config.name, loop, sink), config_(config), core_(nmea_settings(config, floor)) {
    const auto parsed = parse_device_address(config.device);
    if (const auto* address = std::get_if<DeviceAddress>(&parsed)) {
        if (const auto* tcp = std::get_if<TcpAddress>(address)) {
            tcp_ = *tcp;
            silence_ = loop.add_alarm([this](const Stamp&) { on_silence(); });
        }
    }
}

NmeaSource::~NmeaSource() {
    unwatch_device();
    unwatch(resolve_watch_);
    unwatch(connect_watch_);
    if (silence_) {
        loop().remove_alarm(*silence_);
    }
}

void NmeaSource::unwatch(EventLoop::Registration& registration) {
    if (registration != 0) {
        loop().unwatch(registration);
        registration = 0;
    }
}

void NmeaSource::carry_from(const Source& old) {
    if (const auto* nmea = dynamic_cast<const NmeaSource*>(&old)) {
        core_.carry_timeline(nmea->core_);
    }
}

void NmeaSource::start() {
    open_device();
}

void NmeaSource::on_timer(TimerId id, const Stamp& stamp) {
    switch (id) {
    case TimerId::batch:
        read_device(NmeaRead::Wake::batch, stamp);
        break;
    case TimerId::stale:
        apply(core_.stale());
        break;
    case TimerId::reopen:
        open_device();
        break;
    case TimerId::answer:
        apply(core_.answer_timeout());
        break;
    case TimerId::sample:
        break;
    }
}

void NmeaSource::watch_device(bool watch) {
    device_wanted_ = watch;
    if (watch && device_watch_ == 0 && device_.fd.valid()) {
        // Paused by each wake-up it is served in (EventLoop::
        // watch_receiver_once); what the core then asks for decides whether
        // it resumes: a first byte hands the line to the batch alarm.
        device_watch_ = loop().watch_receiver_once(device_.fd.get(), [this](const Stamp& stamp) {
            read_device(NmeaRead::Wake::device, stamp);
            if (device_wanted_ && device_watch_ != 0) {
                loop().resume(device_watch_);
            }
        });
    } else if (watch && device_watch_ != 0) {
        loop().resume(device_watch_);
    } else if (!watch && device_watch_ != 0 && !loop().paused(device_watch_)) {
        // Not right after its wake-up (which paused it): stop it for real.
        unwatch_device();
    }
}

void NmeaSource::unwatch_device() {
    device_wanted_ = false;
    unwatch(device_watch_);
}

void NmeaSource::write_device(const std::string& bytes) {
    if (!device_.fd.valid()) {
        return;
    }
    ssize_t written = -1;
    do {
        written = ::write(device_.fd.get(), bytes.data(), bytes.size());
    } while (written < 0 && errno == EINTR);
    if (written == static_cast<ssize_t>(bytes.size())) {
        return;
    }
    Actions note;
    note.log(MessageLevel::debug,
             written < 0 ? fmt::format("writing a UBX request: {}", std::strerror(errno))
                         : fmt::format("the device took {} of a UBX request's {} bytes", written,
                                       bytes.size()));
    apply(note);
}

void NmeaSource::close_device() {
    // Unwatched whether paused or not: the fd goes, and its number may come
    // back with the next device.
    unwatch_device();
    unwatch(resolve_watch_);
    unwatch(connect_watch_);
    // A lookup still running is abandoned, not waited for.
    resolution_.reset();
    if (silence_) {
        loop().disarm_alarm(*silence_);
    }
    pps_device_.reset();
    device_.fd.reset();
}

void NmeaSource::open_device() {
    if (tcp_) {
        start_resolving();
        return;
    }
    try {
        device_ = open_serial_device(config_.device, config_.baud);
    } catch (const DeviceError& e) {
        apply(core_.device_failed(e.what()));
        return;
    }
    device_opened();
}

void NmeaSource::start_resolving() {
    resolution_ = std::make_unique<Resolution>(tcp_->host, tcp_->port);
    if (resolution_->done()) {
        on_resolved(); // a numeric address
        return;
    }
    resolve_watch_ = loop().watch(resolution_->fd(), [this](const Stamp&) {
        if (resolution_ && resolution_->done()) {
            on_resolved();
        }
    });
}

void NmeaSource::on_resolved() {
    unwatch(resolve_watch_);
    const std::unique_ptr<Resolution> resolution = std::move(resolution_);
    const addrinfo* found = resolution->addresses();
    if (found == nullptr) {
        apply(core_.device_failed(
            fmt::format("{}: cannot resolve: {}", config_.device, resolution->error())));
        return;
    }
    // The address connected to, numeric: getnameinfo never blocks so.
    std::array<char, NI_MAXHOST> numeric{};
    std::string description = fmt::format("tcp {}:{}", tcp_->host, tcp_->port);
    if (getnameinfo(found->ai_addr, found->ai_addrlen, numeric.data(), numeric.size(), nullptr, 0,
                    NI_NUMERICHOST) == 0 &&
        tcp_->host != numeric.data()) {
        description += fmt::format(" ({})", numeric.data());
    }
    try {
        device_ = start_tcp_connect(config_.device, *found, description);
    } catch (const DeviceError& e) {
        apply(core_.device_failed(e.what()));
        return;
    }
    // A connect() that neither completes nor fails (a peer that drops SYNs)
    // ends like a silent connection.
    loop().arm_alarm(*silence_, tcp_silence_s * ns_per_s, 0);
    connect_watch_ = loop().watch(
        device_.fd.get(), [this](const Stamp&) { on_connected(); }, EventLoop::Ready::output);
}

void NmeaSource::on_connected() {
    unwatch(connect_watch_);
    if (const std::string problem = tcp_connect_result(device_.fd.get()); !problem.empty()) {
        apply(core_.device_failed(fmt::format("{}: {}", config_.device, problem)));
        return;
    }
    loop().arm_alarm(*silence_, tcp_silence_s * ns_per_s, 0);
    device_opened();
}

void NmeaSource::on_silence() {
    const bool connecting = connect_watch_ != 0;
    if (!device_.fd.valid()) {
        return; // closed meanwhile
    }
    apply(core_.device_failed(
        connecting
            ? fmt::format("{}: connect: no answer within {} s", config_.device, tcp_silence_s)
            : fmt::format("{}: no data for {} s (connection open but silent); "
                          "reconnecting",
                          config_.device, tcp_silence_s)));
}

void NmeaSource::device_opened() {
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

void NmeaSource::read_device(NmeaRead::Wake wake, const Stamp& stamp) {
    DeviceLine line(device_.fd.get());
    const Actions actions = read_line(core_, line, wake, stamp, &sink().leap_seconds());
    if (line.bytes() > 0 && tcp_) {
        // Re-armed by every read that brings bytes; a read that then failed
        // closes the device, and the timer with it.
        loop().arm_alarm(*silence_, tcp_silence_s * ns_per_s, 0);
    }
    apply(actions);
}

void NmeaSource::fill_state(RefclockState& state, const Stamp&) const {
    const NmeaCore::Activity& activity = core_.activity();
    const nmea::Counters& parsed = core_.counters();
    NmeaState& out = state.nmea.emplace();
    out.device_opens = activity.device_opens;
    out.device_failures = activity.device_failures;
    out.bytes = activity.bytes;
    out.loop_held_up = activity.loop_held_up;
    // "time_bearing": RMC/ZDA/GGA/GLL/GNS with a right checksum and fields
    // that parse, with a fix or not.
    out.sentences = {
        {"time_bearing", parsed.sentences, "time-bearing (RMC, ZDA, GGA, GLL, GNS)"},
        {"bad_checksum", parsed.bad_checksum, "checksum wrong or missing"},
        {"malformed", parsed.malformed, "a field out of range or not a number"},
        {"garbage", parsed.garbage, "bytes that are not a sentence"},
        {"over_long", parsed.over_long, "line too long, dropped"},
        {"unsupported", parsed.unsupported, "not used (vendor and other sentences)"},
        {"implausible_date", parsed.implausible_date, "date that cannot be today"},
    };
    out.receiver = core_.receiver();
    const ubx::FrameCounters& framed = core_.frame_counters();
    out.ubx_frames = {
        {"timing", framed.good, "timing messages (NAV-PVT, NAV-TIME*, TIM-TP, MON-VER, ACK)"},
        {"other", framed.unknown, "other messages, not used"},
        {"bad_checksum", framed.bad_checksum, "checksum wrong"},
        {"over_long", framed.over_long, "length over 2048 bytes, refused"},
        {"truncated", framed.truncated, "cut short"},
        {"malformed", core_.ubx_malformed(),
         "a timing message too short, or not the length its protocol version gives"},
    };
    for (std::size_t i = 0; i < cycle_outcome_count; ++i) {
        const auto kind = static_cast<CycleOutcome::Kind>(i);
        out.cycles.push_back({std::string(shmrefclock::name(kind)), activity.cycles.at(i),
                              std::string(shmrefclock::to_string(kind))});
    }
    out.witness = core_.witness().state();

    const std::vector<std::int64_t> values = core_.arrival().values();
    const auto summary = summarize(values);
    if (!summary) {
        return;
    }
    const Histogram histogram = make_histogram(values, summary->median_ns, summary->spread_ns);
    NmeaArrival& arrival = out.arrival.emplace();
    arrival.cycles = summary->count;
    arrival.median_s = ns_to_seconds(summary->median_ns);
    arrival.spread_s = ns_to_seconds(summary->spread_ns);
    arrival.start_s = ns_to_seconds(histogram.start_ns);
    arrival.bin_s = ns_to_seconds(histogram.bin_ns);
    arrival.counts = histogram.counts;
}

} // namespace shmrefclock
