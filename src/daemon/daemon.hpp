// The daemon: owns the event loop, the refclocks and health reporting.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "daemon/http_server.hpp"
#include "daemon/leap_list.hpp"
#include "daemon/refclock.hpp"
#include "daemon/snapshot.hpp"
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
    nlohmann::ordered_json snapshot(const Stamp& now, const SnapshotOptions& options) const;

private:
    std::vector<std::unique_ptr<Refclock>> build(const Config& config);
    void on_signal();
    void reload();
    void report_status();
    void on_clock_step(const Stamp& stamp);
    std::string effective_log_level(const Config& config) const;
    // The listener's answer for GET `path`: /metrics, the status page at /.
    HttpResponse serve(std::string_view path) const;
    // Starts, replaces or stops the listener after [daemon] metrics.
    void configure_http(bool starting);

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
    // [daemon] metrics; last, so that it goes before what it renders.
    std::unique_ptr<HttpServer> http_;
};

} // namespace shmrefclock
