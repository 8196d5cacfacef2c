// The daemon: owns the event loop, the refclocks and health reporting.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "daemon/control_socket.hpp"
#include "daemon/http_server.hpp"
#include "daemon/leap_list.hpp"
#include "daemon/refclock.hpp"
#include "daemon/snapshot.hpp"
#include "daemon/views.hpp"
#include "io/event_loop.hpp"

namespace shmrefclock {

class Daemon {
public:
    // `log_level_override` is --log-level, which wins over the file on
    // start-up and on every reload.
    Daemon(Config config, std::optional<std::string> log_level_override);
    ~Daemon();

    // Attach every segment (throws ShmError on a refused one), report
    // READY=1 and run until SIGTERM/SIGINT. Returns the exit code.
    int run();

    // The live state (docs/design.md, "Live state") at `now`: the daemon,
    // then each refclock in the configuration's order.
    DaemonState snapshot(const Stamp& now, const SnapshotOptions& options) const;

private:
    std::vector<std::unique_ptr<Refclock>> build(const Config& config);
    void on_signal();
    void reload();
    void report_status();
    void on_clock_step(const Stamp& stamp);
    std::string effective_log_level(const Config& config) const;
    // (Re)open the control socket at config_.daemon.control, or close it.
    void open_control();
    // The listener's answer for GET `path`: /metrics, the status page at /.
    void serve(std::string_view path, HttpServer::Reply reply);
    // The state for a rendering off the loop (daemon/views).
    StateCapture capture(const Stamp& now, bool history) const;
    // Starts, replaces or stops the listener after [daemon] metrics.
    void configure_http(bool starting);
    // [daemon] sched-priority and lock-memory, where they changed.
    void configure_realtime();

    Config config_;
    std::optional<std::string> log_level_override_;
    EventLoop loop_;
    LeapList leap_list_{loop_};
    UniqueFd signals_;
    Timer watchdog_;
    ClockStepWatch clock_steps_;
    std::vector<std::unique_ptr<Refclock>> refclocks_;
    std::string last_status_;
    // Shown first in STATUS= until the next successful reload.
    std::string status_note_;
    // When run() began, for the uptime.
    Stamp started_{};
    // What configure_realtime() last applied. The policy is unknown at start
    // (a unit may have set SCHED_FIFO: sched-priority = 0 must undo it);
    // nothing is locked at start (exec ends any mlockall).
    std::optional<int> sched_priority_;
    bool lock_memory_ = false;
    // The views the control socket and the listener hand out, rendered off
    // the loop; before them, so that it outlives their replies.
    Views views_{loop_, [this](const Stamp& now, bool history) { return capture(now, history); }};
    // The control socket (none with control = "" or when it could not be
    // bound); after loop_, so that it goes first.
    std::unique_ptr<ControlSocket> control_;
    // [daemon] metrics; last, so that it goes before what it renders.
    std::unique_ptr<HttpServer> http_;
};

} // namespace shmrefclock
