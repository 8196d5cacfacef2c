#include "sources/nmea.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <sys/ioctl.h>
#include <system_error>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sources/pps_dcd.hpp"
#include "time_format.hpp"

namespace shmrefclock {

namespace {

constexpr std::int64_t ns_per_s = 1'000'000'000;
constexpr int max_reopen_delay_s = 30;
// Two cycles agree if their times differ by the time between their stamps
// within this much; cycle stamps jitter by milliseconds, a wrong second by 1 s.
constexpr std::int64_t agreement_ns = 250'000'000;

// 8N1: a start bit, 8 data bits and a stop bit per byte.
std::int64_t byte_time_ns(int baud) {
    return 10 * ns_per_s / baud;
}

} // namespace

CycleCheck::Verdict CycleCheck::add(timespec reference, timespec receive, int min_fixes) {
    Verdict verdict = Verdict::acquiring;
    if (last_reference && last_receive) {
        const std::int64_t reported = timespec_diff_ns(reference, *last_reference);
        const std::int64_t elapsed = timespec_diff_ns(receive, *last_receive);
        if (std::llabs(reported - elapsed) > agreement_ns) {
            consecutive = 0;
            verdict = Verdict::jumped;
        } else if (reference.tv_sec == last_reference->tv_sec) {
            // A receiver reporting 5 times a second: one sample per second
            // (a reader keeps only the last write before its poll anyway).
            last_reference = reference;
            last_receive = receive;
            return Verdict::same_second;
        }
    }
    last_reference = reference;
    last_receive = receive;
    ++consecutive;
    if (verdict == Verdict::jumped) {
        return verdict;
    }
    return consecutive >= min_fixes ? Verdict::publish : Verdict::acquiring;
}

NmeaSource::NmeaSource(EventLoop& loop, SourceSink& sink, const RefclockConfig& config,
                       std::chrono::year_month_day floor)
    : loop_(loop), sink_(sink), config_(config), parser_(floor) {}

NmeaSource::~NmeaSource() {
    unwatch_device();
    for (auto registration : {batch_watch_, stale_watch_, reopen_watch_}) {
        if (registration != 0) {
            loop_.unwatch(registration);
        }
    }
}

void NmeaSource::start() {
    batch_watch_ = loop_.watch(batch_timer_.fd(), [this](const timespec&) {
        if (batch_timer_.expirations() > 0) {
            on_batch();
        }
    });
    stale_watch_ = loop_.watch(stale_timer_.fd(), [this](const timespec&) {
        if (stale_timer_.expirations() > 0) {
            on_stale();
        }
    });
    reopen_watch_ = loop_.watch(reopen_timer_.fd(), [this](const timespec&) {
        if (reopen_timer_.expirations() > 0) {
            open_device();
        }
    });
    open_device();
}

std::string NmeaSource::health() const {
    return health_;
}

void NmeaSource::set_health(std::string health) {
    if (health != health_) {
        health_ = std::move(health);
        sink_.health_changed();
    }
}

void NmeaSource::watch_device() {
    if (device_watch_ == 0 && device_.fd.valid()) {
        device_watch_ =
            loop_.watch(device_.fd.get(), [this](const timespec& stamp) { on_first_byte(stamp); });
    }
}

void NmeaSource::unwatch_device() {
    if (device_watch_ != 0) {
        loop_.unwatch(device_watch_);
        device_watch_ = 0;
    }
}

void NmeaSource::open_device() {
    try {
        device_ = open_nmea_device(config_.device, config_.baud);
    } catch (const DeviceError& e) {
        device_failed(e.what());
        return;
    }
    spdlog::info("{}: opened {} ({})", config_.name, config_.device, device_.description);
    if (config_.pps_dcd) {
        attach_pps();
    }
    opened_monotonic_ = monotonic_now();
    device_errors_.reset();
    parser_.reset();
    cycle_.clear();
    check_.reset();
    in_cycle_ = false;
    watch_device();
    set_health(fmt::format("waiting for data on {}", config_.device));
}

void NmeaSource::attach_pps() {
    // The line discipline lives on this fd: its /dev/ppsN goes away when the
    // fd is closed, and a reopened port registers a new one.
    pps_device_.reset();
    if (!device_.is_tty) {
        spdlog::error("{}: pps = \"dcd\" needs a serial port, not {}", config_.name,
                      config_.device);
        return;
    }
    try {
        attach_pps_line_discipline(device_.fd.get());
    } catch (const std::system_error& e) {
        device_errors_.error(fmt::format("{}: PPS on DCD: {}", config_.name, e.what()));
        return;
    }
    const char* tty = ttyname(device_.fd.get());
    if (tty == nullptr) {
        device_errors_.error(
            fmt::format("{}: PPS on DCD: ttyname: {}", config_.name, std::strerror(errno)));
        return;
    }
    pps_device_ = find_pps_device_for_tty("/sys", tty);
    if (pps_device_) {
        spdlog::info("{}: PPS line discipline attached to {}: pulses on {}", config_.name, tty,
                     *pps_device_);
    } else {
        device_errors_.error(fmt::format("{}: PPS line discipline attached to {}, but no "
                                         "/sys/class/pps/*/path names it",
                                         config_.name, tty));
    }
}

void NmeaSource::device_failed(const std::string& message) {
    unwatch_device();
    pps_device_.reset();
    device_.fd.reset();
    batch_timer_.disarm();
    in_cycle_ = false;
    device_errors_.error(fmt::format("{}: {}", config_.name, message));
    set_health(fmt::format("device error: {} (retrying)", message));
    if (published_) {
        // No device, no time: do not leave the last sample for the readers.
        sink_.withdraw();
        published_ = false;
        stale_timer_.disarm();
    }
    reopen_timer_.arm(static_cast<std::int64_t>(reopen_delay_s_) * ns_per_s, 0);
    reopen_delay_s_ = std::min(reopen_delay_s_ * 2, max_reopen_delay_s);
}

void NmeaSource::on_first_byte(const timespec& stamp) {
    if (in_cycle_) {
        return; // the batch timer reads the rest
    }
    int queued = 0;
    if (ioctl(device_.fd.get(), FIONREAD, &queued) != 0) {
        queued = 0;
    }
    // The stamp is when the loop saw the fd readable. On a line-rate device
    // the first of `queued` bytes arrived (queued - 1) byte times earlier.
    timespec start = stamp;
    if (device_.line_rate && queued > 1) {
        start = timespec_add(stamp, -(queued - 1) * byte_time_ns(config_.baud));
    }
    in_cycle_ = true;
    cycle_start_ = start;
    cycle_start_monotonic_ = monotonic_now();
    // Right after an open the line's past is unknown (tcflush dropped what
    // was queued; a TCP peer sends from wherever it is): a byte that comes
    // at once may be the middle of a cycle, and its stamp would be late by
    // the part we missed. Only a line seen quiet for as long as a gap that
    // ends a cycle vouches for the stamp.
    cycle_stamped_ =
        timespec_diff_ns(cycle_start_monotonic_, opened_monotonic_) >= 2 * batch_period_ns;
    cycle_sentences_ = 0;
    cycle_.clear();
    // From here on the batch timer reads; the fd would wake us per byte.
    unwatch_device();
    batch_timer_.arm(batch_period_ns, batch_period_ns);
    std::size_t got = 0;
    if (!read_available(got)) {
        return;
    }
    if (got == 0) {
        // Readable but nothing to read: a hangup is reported by read() as an
        // error, so this was spurious. Wait for the next byte.
        in_cycle_ = false;
        batch_timer_.disarm();
        watch_device();
    }
}

void NmeaSource::on_batch() {
    if (!in_cycle_) {
        return;
    }
    std::size_t got = 0;
    if (!read_available(got)) {
        return;
    }
    const std::int64_t age = timespec_diff_ns(monotonic_now(), cycle_start_monotonic_);
    if (got > 0 && age < max_cycle_ns) {
        return; // still arriving
    }
    // Quiet for a batch period: the cycle is complete. Or it never went quiet.
    finish_cycle();
    if (got > 0) {
        // The line has not been quiet: what follows is mid-stream, and its
        // first byte's stamp says nothing about when a cycle began.
        set_health("line never quiet: cannot find the start of a cycle (too much output for "
                   "the baud rate?)");
        cycle_.clear();
        cycle_stamped_ = false;
        cycle_sentences_ = 0;
        cycle_start_monotonic_ = monotonic_now();
        return;
    }
    in_cycle_ = false;
    batch_timer_.disarm();
    watch_device();
}

bool NmeaSource::read_available(std::size_t& got) {
    got = 0;
    std::array<char, 4096> buffer;
    // Bounded: a receiver flooding the line cannot keep the loop here.
    for (int round = 0; round < 64; ++round) {
        const ssize_t n = ::read(device_.fd.get(), buffer.data(), buffer.size());
        if (n > 0) {
            got += static_cast<std::size_t>(n);
            parser_.feed(std::string_view(buffer.data(), static_cast<std::size_t>(n)),
                         [this](const nmea::Sentence& sentence) {
                             cycle_.add(sentence);
                             ++cycle_sentences_;
                         });
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            return true;
        }
        // 0: the TCP peer closed, or the tty hung up. EIO: a pty's other
        // side closed, or a USB adapter was unplugged.
        device_failed(n == 0 ? std::string("end of data (device closed or disconnected)")
                             : fmt::format("read: {}", std::strerror(errno)));
        return false;
    }
    return true;
}

void NmeaSource::finish_cycle() {
    const nmea::Counters& now = parser_.counters();
    if (now.bad_checksum != reported_.bad_checksum || now.garbage != reported_.garbage ||
        now.over_long != reported_.over_long || now.malformed != reported_.malformed) {
        spdlog::debug("{}: dropped so far: {} bad checksum, {} malformed, {} garbage, {} "
                      "over-long",
                      config_.name, now.bad_checksum, now.malformed, now.garbage, now.over_long);
        reported_ = now;
    }
    const nmea::Sentence* time = cycle_.time();
    if (time == nullptr && cycle_sentences_ == 0) {
        // Nothing that bears a time: line noise between cycles, or a cycle
        // whose every sentence failed its checksum. That says nothing about
        // the fix, so like a missed cycle it neither counts nor breaks the
        // run of agreeing cycles (the next time is still checked against
        // the time elapsed since the last one).
        return;
    }
    if (time == nullptr) {
        // The receiver says it has no fix; the stale timer withdraws the last
        // sample 2 s after its cycle, and the status says why meanwhile.
        check_.consecutive = 0;
        set_health("no fix");
        return;
    }
    if (!cycle_stamped_) {
        spdlog::debug("{}: cycle {} from {} not published: its first byte was not seen after a "
                      "quiet line",
                      config_.name, format_utc(*time->utc), time->name());
        return;
    }
    if (time->leap_second) {
        // 23:59:60 has no POSIX name; the readers would see 23:59:59 twice.
        spdlog::info("{}: leap second {} not published", config_.name, format_utc(*time->utc));
        return;
    }
    const timespec reference = *time->utc;
    switch (check_.add(reference, cycle_start_, config_.min_fixes)) {
    case CycleCheck::Verdict::jumped:
        spdlog::warn("{}: receiver time {} ({}) does not follow the previous cycle's; not "
                     "published until {} cycles agree",
                     config_.name, format_utc(reference), time->name(), config_.min_fixes);
        set_health("time jumped; re-acquiring");
        return;
    case CycleCheck::Verdict::acquiring:
        set_health(fmt::format("acquiring: {} of {} fixes", check_.consecutive, config_.min_fixes));
        return;
    case CycleCheck::Verdict::same_second:
        return;
    case CycleCheck::Verdict::publish:
        break;
    }
    Sample sample;
    sample.reference_time = reference;
    sample.receive_time = cycle_start_;
    sink_.publish(sample);
    published_ = true;
    reopen_delay_s_ = 1;
    spdlog::debug("{}: cycle {} from {}{}", config_.name, format_utc(reference), time->name(),
                  time->date_repaired ? " (date repaired: GPS week rollover)" : "");
    set_health(fmt::format("fix, time from {}", time->name()));
    // Stale 2 s after this cycle began, unless a newer one is published.
    const std::int64_t elapsed = timespec_diff_ns(monotonic_now(), cycle_start_monotonic_);
    stale_timer_.arm(std::max<std::int64_t>(stale_after_ns - elapsed, 1), 0);
}

void NmeaSource::on_stale() {
    if (!published_) {
        return;
    }
    spdlog::warn("{}: no valid time for 2 s; withdrawing the sample", config_.name);
    sink_.withdraw();
    published_ = false;
    // The last good cycle is kept: a cycle whose time follows it by the time
    // elapsed is published at once (one unreadable cycle is already 2 s
    // without a time). A cycle without a fix has restarted the count, a
    // time that jumped is caught by the check, a reopen starts afresh.
    set_health("stale: no valid time for 2 s");
}

} // namespace shmrefclock
