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

#include "io/kernel_clock.hpp"

namespace shmrefclock {

namespace {

// The fetch timeout bounds how long stopping the thread takes.
constexpr timespec fetch_timeout{1, 0};
constexpr int silent_fetches_before_reopen =
    static_cast<int>(PpsCore::reopen_after_silence_ns / ns_per_s);

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
    PpsFetch fetch;
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
            record.fetch.sequence = assert_edge ? info.assert_sequence : info.clear_sequence;
            record.fetch.other_sequence = assert_edge ? info.clear_sequence : info.assert_sequence;
            record.fetch.edge = assert_edge ? info.assert_timestamp : info.clear_timestamp;
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
                     LockSource* lock)
    : SourceShell(config.name, loop, sink), config_(config), device_(config.device), lock_(lock),
      core_(PpsSettings{
          config.device, config.lock, config.edge,
          WitnessSettings{config.witness, static_cast<std::int64_t>(config.offset * 1e9)}}) {}

PpsSource::~PpsSource() {
    close_device(); // the only join that may wait, up to fetch_timeout
}

void PpsSource::start() {
    starting_ = true;
    open_device();
    starting_ = false;
}

void PpsSource::on_timer(TimerId id, const Stamp&) {
    switch (id) {
    case TimerId::reopen:
        open_device();
        break;
    case TimerId::stale:
        apply(core_.stale());
        break;
    case TimerId::sample:
    case TimerId::batch:
    case TimerId::answer:
        break;
    }
}

void PpsSource::open_device() {
    close_device();
    if (config_.device.empty()) {
        // pps = "dcd" on the lock: the line discipline on its serial port
        // registered a /dev/ppsN whose number is only known now.
        auto found = lock_ != nullptr ? lock_->pps_device() : std::nullopt;
        if (!found) {
            fail(fmt::format("no PPS device on {}'s DCD line yet", config_.lock));
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
    const bool assert_edge = config_.edge == PpsEdge::assert_edge;
    const int wanted = assert_edge ? PPS_CAPTUREASSERT : PPS_CAPTURECLEAR;
    if ((capabilities & wanted) == 0) {
        fail(fmt::format("{} cannot capture the {} edge (capabilities {:#x})", device_,
                         to_string(config_.edge), capabilities));
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
                                   device_, to_string(config_.edge))
                     : fmt::format("cannot enable the {} edge on {}: time_pps_setparams: {}",
                                   to_string(config_.edge), device_, std::strerror(error)));
            return;
        }
        Actions enabled;
        enabled.log(MessageLevel::info, fmt::format("enabled capture of the {} edge on {}",
                                                    to_string(config_.edge), device_));
        apply(enabled);
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
    records_watch_ = loop().watch(capture_->records_read.get(),
                                  [this](const Stamp& stamp) { on_records(stamp); });
    device_log_reset();
    apply(core_.opened(device_));
}

void PpsSource::fill_state(RefclockState& state, const Stamp&) const {
    const PpsCore::Counters& counters = core_.counters();
    PpsState& out = state.pps.emplace();
    out.device_opens = counters.device_opens;
    out.device_failures = counters.device_failures;
    for (std::size_t i = 0; i < pulse_verdict_count; ++i) {
        const auto verdict = static_cast<PulseVerdict>(i);
        out.pulses.push_back({std::string(shmrefclock::name(verdict)), counters.by_verdict.at(i),
                              std::string(shmrefclock::to_string(verdict))});
    }
    out.pulses.push_back({"repeated", counters.repeated, "sequence number repeated"});
    out.labelled = counters.labelled;
    out.q_err_applied = counters.q_err_applied;
    if (const auto q_err = core_.last_q_err_ps()) {
        out.quantization.emplace().q_err_s = static_cast<double>(*q_err) * 1e-12;
    }
    out.witness = core_.witness().state();
}

void PpsSource::fail(const std::string& message) {
    apply(core_.device_failed(message));
}

void PpsSource::close_device() {
    if (records_watch_ != 0) {
        loop().unwatch(records_watch_);
        records_watch_ = 0;
    }
    // Called from the loop only once the thread has ended by itself (an
    // error or silence record) or before it started: this join is immediate.
    capture_.reset();
}

void PpsSource::on_records(const Stamp& stamp) {
    FetchRecord record;
    while (capture_ && ::read(capture_->records_read.get(), &record, sizeof record) ==
                           static_cast<ssize_t>(sizeof record)) {
        if (record.error != 0) {
            apply(core_.fetch_failed(record.error));
            continue;
        }
        const std::optional<Sample> lock =
            lock_ != nullptr ? lock_->latest_sample() : std::optional<Sample>{};
        const std::optional<PulseLabel> label =
            lock_ != nullptr ? lock_->pulse_label() : std::optional<PulseLabel>{};
        apply(core_.fetched(record.fetch, lock, label, stamp,
                            read_kernel_clock_at(stamp.monotonic_ns)));
    }
}

void PpsSource::lock_pulse(const LockPulse& pulse) {
    if (lock_ != nullptr) {
        lock_->pulse_numbered(config_.name, pulse.edge, pulse.second, pulse.lock_sample);
    }
}

} // namespace shmrefclock
