// Logging setup: the journal when stderr is connected to it
// ($JOURNAL_STREAM, see systemd.exec(5)), else stderr. Every message is one
// line whatever it quotes: the sinks escape control characters
// (core/printable.hpp), so a device name, a receiver's bytes or a string
// from a file cannot split a line or forge one (issue 8, case 9).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <spdlog/sinks/sink.h>
#include <spdlog/spdlog.h>

namespace shmrefclock {

// `level` must be one of log_level_names (validated by config or CLI).
void setup_logging(std::string_view level);
void set_log_level(std::string_view level);

// Lines for the journal's stream on `fd` (stderr under systemd): the
// message alone behind sd-daemon(3)'s priority prefix, "<3>text\n" for an
// error; the journal adds the time, the pid and the identifier.
std::shared_ptr<spdlog::sinks::sink> journal_stream_sink(int fd);

// `inner`, with every message's text passed through printable() first. A
// multi-line report (a reload's FILE:LINE:COLUMN list) is logged one line at
// a time by its caller.
std::shared_ptr<spdlog::sinks::sink> escaping_sink(std::shared_ptr<spdlog::sinks::sink> inner);

// A repeated failure (a device that keeps failing) is logged the first time,
// then counted and summarised once per `period` while it goes on.
class RateLimitedLog {
public:
    explicit RateLimitedLog(std::chrono::seconds period = std::chrono::seconds(60))
        : period_(period) {}
    // Log `message` now or count it; the message text identifies the failure.
    void error(const std::string& message);
    // The failure has stopped: forget it so that the next one is logged.
    void reset();

private:
    std::chrono::seconds period_;
    std::string last_;
    std::uint64_t suppressed_ = 0;
    std::chrono::steady_clock::time_point last_logged_{};
};

} // namespace shmrefclock
