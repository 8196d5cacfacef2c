#include "sources/pps.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstring>
#include <stop_token>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <pthread.h>
#include <sys/timepps.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace shmrefclock {

namespace {

constexpr std::int64_t ns_per_s = 1'000'000'000;
constexpr std::int64_t max_retry_delay_s = 30;
// The fetch timeout bounds how long stopping the thread takes.
constexpr timespec fetch_timeout{1, 0};
constexpr int silent_fetches_before_reopen =
    static_cast<int>(PpsSource::reopen_after_silence_ns / ns_per_s);

std::string format_time(const timespec& t) {
    return fmt::format("{}.{:09d}", t.tv_sec, t.tv_nsec);
}

// The daemon takes SIGHUP/SIGTERM/SIGINT through a signalfd, which works only
// while every thread blocks them; a thread inherits its creator's mask, so
// the fetch thread is created with everything blocked, whoever creates it.
class AllSignalsBlocked {
public:
    AllSignalsBlocked() {
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &previous_);
    }
    ~AllSignalsBlocked() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }
    AllSignalsBlocked(const AllSignalsBlocked&) = delete;
    AllSignalsBlocked& operator=(const AllSignalsBlocked&) = delete;

private:
    sigset_t previous_{};
};

} // namespace

struct PpsSource::FetchRecord {
    // 0: time_pps_fetch() returned. Otherwise the errno that ended the
    // thread; ETIMEDOUT after reopen_after_silence_ns without any event.
    int error = 0;
    unsigned long sequence = 0;       // of the wanted edge
    unsigned long other_sequence = 0; // of the other edge
    timespec edge{};                  // kernel timestamp of the wanted edge
};
// One write(2) of at most PIPE_BUF bytes is atomic: records never interleave.
static_assert(sizeof(PpsSource::FetchRecord) <= PIPE_BUF);

struct PpsSource::Capture {
    UniqueFd device;
    UniqueFd records_read;
    UniqueFd records_write;
    // Last, so that it is destroyed first: the thread is stopped and joined
    // before the fds it uses are closed.
    std::jthread thread;
};

namespace {

void send_record(int out, const PpsSource::FetchRecord& record) {
    // Non-blocking: a full pipe means the loop is stuck, and then this pulse
    // is lost either way.
    [[maybe_unused]] const ssize_t written = ::write(out, &record, sizeof record);
}

// The fetch thread's whole job. It blocks in time_pps_fetch() and forwards
// every return to the loop; it decides nothing about pulses. It ends itself
// on an error or after a silence, so that the loop never waits to join it
// (a stalled loop would delay every other source's receive stamps).
void forward_fetches(const std::stop_token& stop, pps_handle_t handle, int out, bool assert_edge) {
    int silent = 0;
    while (!stop.stop_requested()) {
        pps_info_t info{};
        PpsSource::FetchRecord record;
        if (time_pps_fetch(handle, PPS_TSFMT_TSPEC, &info, &fetch_timeout) == 0) {
            silent = 0;
            record.sequence = assert_edge ? info.assert_sequence : info.clear_sequence;
            record.other_sequence = assert_edge ? info.clear_sequence : info.assert_sequence;
            record.edge = assert_edge ? info.assert_timestamp : info.clear_timestamp;
            send_record(out, record);
            continue;
        }
        const int error = errno;
        if (error == EINTR || (error == ETIMEDOUT && ++silent < silent_fetches_before_reopen)) {
            continue;
        }
        record.error = error;
        send_record(out, record);
        return;
    }
}

} // namespace

PpsSource::PpsSource(const RefclockConfig& config, EventLoop& loop, SourceSink& sink,
                     const RefclockDirectory& directory)
    : name_(config.name), device_(config.device), dcd_(config.device.empty()), lock_(config.lock),
      edge_(config.edge), loop_(loop), sink_(sink), directory_(directory),
      health_(fmt::format("not started ({})", config.device)) {}

PpsSource::~PpsSource() {
    for (auto watch : {device_timer_watch_, stale_timer_watch_, records_watch_}) {
        if (watch != 0) {
            loop_.unwatch(watch);
        }
    }
    capture_.reset(); // the only join that may wait, up to fetch_timeout
}

void PpsSource::start() {
    device_timer_watch_ = loop_.watch(device_timer_.fd(), [this](const timespec&) {
        if (device_timer_.expirations() > 0) {
            open_device();
        }
    });
    stale_timer_watch_ = loop_.watch(stale_timer_.fd(), [this](const timespec&) {
        if (stale_timer_.expirations() > 0) {
            on_stale_timer();
        }
    });
    starting_ = true;
    open_device();
    starting_ = false;
}

std::string PpsSource::lock_description() const {
    return lock_ == "system" ? "the system clock" : lock_;
}

void PpsSource::open_device() {
    close_device();
    if (dcd_) {
        // pps = "dcd" on the lock: the line discipline on its serial port
        // registered a /dev/ppsN whose number is only known now.
        auto found = directory_.pps_device(lock_);
        if (!found) {
            fail(fmt::format("no PPS device on {}'s DCD line yet", lock_));
            return;
        }
        device_ = *found;
    }
    // Read-only is enough: fetching needs no write access, and setting
    // parameters is a matter of CAP_SYS_TIME, not of the file mode.
    UniqueFd device(::open(device_.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!device.valid()) {
        const int error = errno;
        fail(error == ENOENT ? fmt::format("no device {}", device_)
                             : fmt::format("cannot open {}: {}", device_, std::strerror(error)));
        return;
    }
    pps_handle_t handle = 0;
    if (time_pps_create(device.get(), &handle) != 0) {
        fail(fmt::format("{} is not a PPS device (PPS_GETPARAMS refused)", device_));
        return;
    }
    int capabilities = 0;
    if (time_pps_getcap(handle, &capabilities) != 0) {
        fail(fmt::format("{}: time_pps_getcap: {}", device_, std::strerror(errno)));
        return;
    }
    const bool assert_edge = edge_ == PpsEdge::assert_edge;
    const int wanted = assert_edge ? PPS_CAPTUREASSERT : PPS_CAPTURECLEAR;
    if ((capabilities & wanted) == 0) {
        fail(fmt::format("{} cannot capture the {} edge (capabilities {:#x})", device_,
                         to_string(edge_), capabilities));
        return;
    }
    if ((capabilities & PPS_CANWAIT) == 0) {
        fail(fmt::format("{} cannot wait for a pulse (no PPS_CANWAIT)", device_));
        return;
    }
    pps_params_t params{};
    if (time_pps_getparams(handle, &params) != 0) {
        fail(fmt::format("{}: time_pps_getparams: {}", device_, std::strerror(errno)));
        return;
    }
    if ((params.mode & wanted) == 0) {
        // Only when needed: the kernel's PPS_SETPARAMS wants CAP_SYS_TIME,
        // which the service does not have, and most drivers capture their
        // edges from registration (pps-ldisc both, pps-gpio its assert edge).
        // The other edge is left as it is: other readers share the device.
        params.mode |= wanted;
        if (time_pps_setparams(handle, &params) != 0) {
            const int error = errno;
            fail(error == EPERM
                     ? fmt::format("{} does not capture the {} edge, and enabling it "
                                   "(time_pps_setparams) needs CAP_SYS_TIME, which this process "
                                   "does not have: grant it (AmbientCapabilities=CAP_SYS_TIME) "
                                   "or enable the edge as root",
                                   device_, to_string(edge_))
                     : fmt::format("cannot enable the {} edge on {}: time_pps_setparams: {}",
                                   to_string(edge_), device_, std::strerror(error)));
            return;
        }
        spdlog::info("{}: enabled capture of the {} edge on {}", name_, to_string(edge_), device_);
    }

    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        fail(fmt::format("pipe2: {}", std::strerror(errno)));
        return;
    }
    auto capture = std::make_unique<Capture>();
    capture->device = std::move(device);
    capture->records_read.reset(pipe_fds[0]);
    capture->records_write.reset(pipe_fds[1]);
    {
        const AllSignalsBlocked blocked;
        capture->thread =
            std::jthread(forward_fetches, handle, capture->records_write.get(), assert_edge);
    }
    capture_ = std::move(capture);
    records_watch_ = loop_.watch(capture_->records_read.get(),
                                 [this](const timespec& stamp) { on_records(stamp); });
    last_sequence_.reset();
    device_log_.reset();
    log_info(fmt::format("capturing the {} edge of {}, numbered by {}", to_string(edge_), device_,
                         lock_description()));
    set_health(fmt::format("waiting for pulses on {}", device_));
}

void PpsSource::fail(const std::string& message) {
    close_device();
    // The same text for every repetition, so that RateLimitedLog summarises.
    device_log_.error(fmt::format("{}: {}", name_, message));
    set_health(fmt::format("{} (retrying in {} s)", message, retry_delay_s_), false);
    device_timer_.arm(retry_delay_s_ * ns_per_s, 0);
    retry_delay_s_ = std::min(retry_delay_s_ * 2, max_retry_delay_s);
}

void PpsSource::close_device() {
    if (records_watch_ != 0) {
        loop_.unwatch(records_watch_);
        records_watch_ = 0;
    }
    // Called from the loop only once the thread has ended by itself (an
    // error or silence record) or before it started: this join is immediate.
    capture_.reset();
}

void PpsSource::on_records(const timespec& stamp) {
    FetchRecord record;
    while (capture_ && ::read(capture_->records_read.get(), &record, sizeof record) ==
                           static_cast<ssize_t>(sizeof record)) {
        on_record(record, stamp);
    }
}

void PpsSource::on_record(const FetchRecord& record, const timespec& stamp) {
    if (record.error == ETIMEDOUT) {
        spdlog::debug("{}: no event from {} for {} s: reopening it", name_, device_,
                      reopen_after_silence_ns / ns_per_s);
        open_device();
        return;
    }
    if (record.error != 0) {
        fail(fmt::format("time_pps_fetch on {}: {}", device_, std::strerror(record.error)));
        return;
    }
    retry_delay_s_ = 1; // the device works
    if (record.edge.tv_sec == 0 && record.edge.tv_nsec == 0) {
        return; // no event of our edge yet (chrony's refclock_pps.c skips these too)
    }
    if (last_sequence_ && record.sequence == *last_sequence_) {
        // With both edges captured the kernel wakes fetchers on the other
        // edge as well: that is no event of ours, and nothing to count.
        const bool other_edge = record.other_sequence != last_other_sequence_;
        last_other_sequence_ = record.other_sequence;
        if (!other_edge) {
            ++counters_.repeated;
            spdlog::debug("{}: pulse {} dropped: sequence {} repeated (no new {} event); {} "
                          "repeated so far",
                          name_, format_time(record.edge), record.sequence, to_string(edge_),
                          counters_.repeated);
        }
        return;
    }
    last_sequence_ = record.sequence;
    last_other_sequence_ = record.other_sequence;

    std::optional<Sample> lock;
    const PulseNumbering numbering = [&] {
        if (lock_ == "system") {
            return number_pulse_by_system_clock(record.edge, stamp);
        }
        lock = directory_.latest_sample(lock_);
        return number_pulse(record.edge, lock, stamp);
    }();
    ++counters_.by_verdict.at(static_cast<std::size_t>(numbering.verdict));
    if (numbering.verdict != PulseVerdict::numbered) {
        // Every drop with the values that made it (chrony's refclock_shm.c
        // habit), so that "reach 0" in chronyc can be explained from the log.
        const std::string lock_values =
            lock ? fmt::format("{} reference {} receive {}, lock age {:+.9f} s; ", lock_,
                               format_time(lock->reference_time), format_time(lock->receive_time),
                               static_cast<double>(numbering.lock_age_ns) / 1e9)
                 : (lock_ == "system" ? "" : fmt::format("{} has no sample; ", lock_));
        spdlog::debug("{}: pulse {} (sequence {}) dropped: {} ({}carried {}, {:+.9f} s from the "
                      "second, handled {}); {} dropped for this reason",
                      name_, format_time(record.edge), record.sequence,
                      to_string(numbering.verdict), lock_values, format_time(numbering.carried),
                      static_cast<double>(numbering.residual_ns) / 1e9, format_time(stamp),
                      counters_.by_verdict.at(static_cast<std::size_t>(numbering.verdict)));
        const std::string who = lock_description();
        switch (numbering.verdict) {
        case PulseVerdict::pulse_late:
            set_health("no lock: pulses reach the daemon more than 2 s late");
            break;
        case PulseVerdict::no_lock_time:
            set_health(fmt::format("no lock: {} has no time", who));
            break;
        case PulseVerdict::lock_stale:
            set_health(fmt::format("no lock: {}'s time is more than 2 s old", who));
            break;
        case PulseVerdict::lock_in_future:
            set_health(fmt::format("no lock: {}'s time is more than 2 s after the pulse", who));
            break;
        case PulseVerdict::outside_window:
        case PulseVerdict::numbered:
            set_health(fmt::format("no lock: pulses are more than 0.4 s from {}'s second", who));
            break;
        }
        return;
    }

    Sample sample;
    sample.reference_time = numbering.second; // the refclock adds `offset`
    sample.receive_time = record.edge;
    sample.leap = lock ? lock->leap : Leap::none;
    // Numbered by the system clock: chrony's SOCK refclock must number the
    // second itself (sock_sample.pulse).
    sample.pulse = lock_ == "system";
    sink_.publish(sample);
    valid_ = true;
    stale_timer_.arm(stale_after_ns, 0);
    set_health(fmt::format("locked to {}", lock_description()));
}

void PpsSource::on_stale_timer() {
    if (!valid_) {
        return;
    }
    valid_ = false;
    sink_.withdraw();
    log_info(
        fmt::format("no pulse numbered for {} s: sample withdrawn", stale_after_ns / ns_per_s));
    if (health_.starts_with("locked to ")) {
        set_health(fmt::format("waiting for pulses on {}", device_));
    }
}

void PpsSource::log_info(const std::string& message) {
    const auto now = std::chrono::steady_clock::now();
    auto [it, first] = info_logged_.try_emplace(message, now);
    if (first || now - it->second >= std::chrono::seconds(60)) {
        it->second = now;
        spdlog::info("{}: {}", name_, message);
    }
}

void PpsSource::set_health(std::string health, bool log) {
    if (health == health_) {
        return;
    }
    health_ = std::move(health);
    if (log) {
        log_info(health_);
    }
    // During start() the daemon reports STATUS= itself, after READY=1.
    if (!starting_) {
        sink_.health_changed();
    }
}

} // namespace shmrefclock
