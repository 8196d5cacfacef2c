#include "daemon/daemon.hpp"

#include <csignal>
#include <stdexcept>
#include <string_view>
#include <sys/signalfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "config_h.hpp"
#include "core/time_format.hpp"
#include "daemon/notify.hpp"
#include "daemon/realtime.hpp"
#include "io/log.hpp"
#include "shmrefclock/shm.hpp"

namespace shmrefclock {

namespace {

sigset_t handled_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    return set;
}

} // namespace

Daemon::Daemon(Config config, std::optional<std::string> log_level_override)
    : config_(std::move(config)), log_level_override_(std::move(log_level_override)) {}

Daemon::~Daemon() = default;

std::string Daemon::effective_log_level(const Config& config) const {
    return log_level_override_ ? *log_level_override_ : config.daemon.log_level;
}

std::vector<std::unique_ptr<Refclock>> Daemon::build(const Config& config) {
    // Pulses are numbered by another refclock, resolved here once: the
    // refclocks a `lock` may name (nmea, system) are built first, and the
    // vector keeps the configuration's order for STATUS=.
    std::vector<std::unique_ptr<Refclock>> refclocks(config.refclocks.size());
    for (const bool locked : {false, true}) {
        for (std::size_t i = 0; i < config.refclocks.size(); ++i) {
            const RefclockConfig& rc = config.refclocks[i];
            if ((rc.source == SourceKind::pps) != locked) {
                continue;
            }
            LockSource* lock = nullptr;
            for (std::size_t j = 0; locked && j < config.refclocks.size(); ++j) {
                if (refclocks[j] && config.refclocks[j].name == rc.lock) {
                    lock = refclocks[j].get();
                }
            }
            refclocks[i] = std::make_unique<Refclock>(
                rc, loop_, lock, [this] { report_status(); }, leap_list_);
        }
    }
    return refclocks;
}

int Daemon::run() {
    started_ = stamp_now();
    // Signals arrive through the loop like everything else; a write to a
    // closed chrony socket must be an error code, not a death.
    const sigset_t set = handled_signals();
    if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) {
        throw std::runtime_error("sigprocmask failed");
    }
    std::signal(SIGPIPE, SIG_IGN);
    signals_.reset(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!signals_.valid()) {
        throw std::runtime_error("signalfd failed");
    }
    loop_.watch(signals_.get(), [this](const Stamp&) { on_signal(); });

    loop_.watch_first(clock_steps_.fd(), [this](const Stamp& stamp) { on_clock_step(stamp); });

    // Before any thread starts: those started later run at the normal
    // policy (daemon/realtime).
    configure_realtime();

    leap_list_.load(config_.daemon.leap_seconds);
    refclocks_ = build(config_);
    for (auto& refclock : refclocks_) {
        refclock->start();
        spdlog::info("refclock \"{}\": {} -> {}", refclock->config().name,
                     to_string(refclock->config().source), refclock->describe_outputs());
    }

    configure_http(true);

    if (auto usec = notify::watchdog_usec()) {
        // Half the period, as sd_watchdog_enabled(3) recommends, from the
        // loop itself: a stuck loop stops the pings.
        const auto period_ns = static_cast<std::int64_t>(*usec) * 1000 / 2;
        watchdog_.arm(period_ns, period_ns);
        loop_.watch(watchdog_.fd(), [this](const Stamp&) {
            if (watchdog_.expirations() > 0) {
                notify::watchdog();
            }
        });
        spdlog::debug("watchdog: pinging every {} ms", period_ns / 1'000'000);
    }

    open_control();

    notify::ready();
    report_status();
    spdlog::info("running with {} refclock(s) from {}", refclocks_.size(), config_.path);
    loop_.run();

    notify::stopping();
    http_.reset();
    spdlog::info("stopping: clearing valid on every unit");
    control_.reset();
    refclocks_.clear();
    return 0;
}

void Daemon::configure_realtime() {
    if (lock_memory_ != config_.daemon.lock_memory) {
        apply_memory_lock(config_.daemon.lock_memory);
        lock_memory_ = config_.daemon.lock_memory;
    }
    if (sched_priority_ != config_.daemon.sched_priority) {
        apply_sched_priority(config_.daemon.sched_priority);
        sched_priority_ = config_.daemon.sched_priority;
    }
}

void Daemon::open_control() {
    control_.reset();
    if (config_.daemon.control.empty()) {
        spdlog::info("control socket: off (control = \"\")");
        return;
    }
    control_ = std::make_unique<ControlSocket>(
        loop_, config_.daemon.control,
        [this](const ControlRequest& request, const Stamp& now, ControlSocket::Reply reply) {
            views_.get(request.history ? View::status_history : View::status, now,
                       [reply = std::move(reply)](std::shared_ptr<const RenderedView> rendered) {
                           // The reply line is the rendering's body, shared.
                           reply(std::shared_ptr<const std::string>(rendered, &rendered->body));
                       });
        });
}

void Daemon::on_clock_step(const Stamp& stamp) {
    const std::optional<std::int64_t> step = clock_steps_.stepped();
    if (!step) {
        return;
    }
    // chronyd's makestep at boot, ntpd's step, date -s: every realtime stamp
    // taken before now is on the old scale (docs/design.md, "Clock steps").
    spdlog::warn("the system clock was stepped by {:+.6f} s: samples stamped before the step are "
                 "withdrawn",
                 ns_to_seconds(*step));
    for (auto& refclock : refclocks_) {
        refclock->clock_stepped(stamp);
    }
}

void Daemon::on_signal() {
    signalfd_siginfo info{};
    while (::read(signals_.get(), &info, sizeof info) == sizeof info) {
        switch (info.ssi_signo) {
        case SIGHUP:
            reload();
            break;
        case SIGTERM:
        case SIGINT:
            spdlog::info("received {}", info.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
            loop_.stop();
            return;
        default:
            break;
        }
    }
}

void Daemon::reload() {
    notify::reloading();
    spdlog::info("SIGHUP: reloading {}", config_.path);
    try {
        Config next = load_config(config_.path);
        const bool control_moved = next.daemon.control != config_.daemon.control;
        // Attach the new segments before letting go of the old refclocks, so
        // that a refused segment leaves the running configuration intact.
        auto built = build(next);
        // A reload is no restart of the receivers: what was believed of
        // each stays believed (docs/design.md, "NMEA: from a byte to a
        // segment", item 6), or a receiver a second off would be believed
        // after min-fixes cycles, as at start-up.
        for (auto& refclock : built) {
            for (const auto& old : refclocks_) {
                refclock->carry_from(*old);
            }
        }
        refclocks_.clear();
        refclocks_ = std::move(built);
        config_ = std::move(next);
        set_log_level(effective_log_level(config_));
        configure_realtime();
        if (control_moved) {
            open_control();
        }
        for (auto& refclock : refclocks_) {
            refclock->start();
        }
        // Nothing rendered from the old refclocks is handed out any more.
        views_.invalidate();
        spdlog::info("reloaded: {} refclock(s)", refclocks_.size());
        configure_http(false);
        status_note_.clear();
    } catch (const std::exception& e) {
        // ConfigError lists FILE:LINE:COLUMN lines; ShmError names the unit.
        // One log line each: the log escapes a newline inside a message.
        spdlog::error("reload failed, keeping the running configuration:");
        std::string_view report = e.what();
        while (!report.empty()) {
            const auto end = report.find('\n');
            spdlog::error("{}", report.substr(0, end));
            report = end == std::string_view::npos ? std::string_view() : report.substr(end + 1);
        }
        status_note_ = "reload failed, running the previous configuration (see the log)";
    }
    // The list again in any case: SIGHUP is also how to make the daemon
    // read an updated list (the file watch is the other way).
    leap_list_.load(config_.daemon.leap_seconds);
    // STATUS= first, so that the manager shows the outcome when the reload ends.
    report_status();
    notify::ready();
}

DaemonState Daemon::snapshot(const Stamp& now, const SnapshotOptions& options) const {
    DaemonState state;
    state.version = SHMREFCLOCK_VERSION;
    state.pid = static_cast<std::int64_t>(::getpid());
    state.config = config_.path;
    state.now = format_utc(now.realtime);
    state.started = format_utc(started_.realtime);
    state.uptime_s = ns_to_seconds(now.monotonic_ns - started_.monotonic_ns);
    state.status = last_status_;
    state.refclocks.reserve(refclocks_.size());
    for (const auto& refclock : refclocks_) {
        state.refclocks.push_back(refclock->snapshot(now, options));
    }
    return state;
}

StateCapture Daemon::capture(const Stamp& now, bool history) const {
    StateCapture capture{snapshot(now, {}), {}};
    if (history) {
        capture.history.reserve(refclocks_.size());
        for (const auto& refclock : refclocks_) {
            capture.history.push_back(refclock->history_points(now));
        }
    }
    return capture;
}

void Daemon::configure_http(bool starting) {
    const auto& wanted = config_.daemon.metrics;
    if (http_ && wanted && http_->address() == *wanted) {
        return;
    }
    // The old listener first: the new address may overlap it (0.0.0.0 and
    // 127.0.0.1 on one port).
    if (http_ && !wanted) {
        spdlog::info("metrics: listener on {} closed", http_->address().text);
    }
    http_.reset();
    if (!wanted) {
        return;
    }
    try {
        http_ = std::make_unique<HttpServer>(
            loop_, *wanted, [this](std::string_view path, HttpServer::Reply reply) {
                serve(path, std::move(reply));
            });
    } catch (const HttpError& e) {
        // At start-up a configured listener that cannot listen is fatal
        // (exit 3, the message names the address), like a refused segment:
        // the operator asked for it and finds out now, not when a graph
        // stays empty. On a reload the refclocks keep running; the listener
        // stays off until the next reload.
        if (starting) {
            throw;
        }
        spdlog::error("{} (off until the next reload)", e.what());
    }
}

void Daemon::serve(std::string_view path, HttpServer::Reply reply) {
    if (path == "/metrics" || path == "/") {
        views_.get(path == "/" ? View::status_page : View::metrics, stamp_now(), std::move(reply));
        return;
    }
    static const auto not_found = std::make_shared<const HttpResponse>(
        HttpResponse{404, "text/plain; charset=utf-8", "404 not found: try / or /metrics\n"});
    reply(not_found);
}

void Daemon::report_status() {
    std::string line = status_note_;
    for (const auto& refclock : refclocks_) {
        if (!line.empty()) {
            line += "; ";
        }
        line += refclock->status();
    }
    if (line != last_status_) {
        notify::status(line);
        last_status_ = line;
    }
}

} // namespace shmrefclock
