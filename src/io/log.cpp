#include "io/log.hpp"

#include <cstdio>
#include <cstdlib>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/sinks/stdout_sinks.h>

#include "config_h.hpp"
#include "core/printable.hpp"
#if SHMREFCLOCK_HAVE_SYSTEMD
#include <spdlog/sinks/systemd_sink.h>
#endif

namespace shmrefclock {

namespace {

// systemd sets $JOURNAL_STREAM to "DEV:INODE" of the stream it connected;
// it is only ours if stderr is still that stream (not redirected by a shell).
bool stderr_is_journal() {
    const char* env = std::getenv("JOURNAL_STREAM");
    if (env == nullptr) {
        return false;
    }
    unsigned long long dev = 0, ino = 0;
    if (std::sscanf(env, "%llu:%llu", &dev, &ino) != 2) {
        return false;
    }
    struct stat st {};
    if (fstat(STDERR_FILENO, &st) != 0) {
        return false;
    }
    return st.st_dev == dev && st.st_ino == ino;
}

// Escapes at the one place every message passes, so that no caller can
// forget to: a message is formatted by spdlog first ("{}" with a device
// name), then handed to the sinks, here.
class EscapingSink final : public spdlog::sinks::sink {
public:
    explicit EscapingSink(std::shared_ptr<spdlog::sinks::sink> inner) : inner_(std::move(inner)) {}
    void log(const spdlog::details::log_msg& msg) override {
        const std::string_view payload(msg.payload.data(), msg.payload.size());
        if (!has_control_characters(payload)) {
            inner_->log(msg);
            return;
        }
        const std::string escaped = printable(payload);
        spdlog::details::log_msg copy = msg;
        copy.payload = spdlog::string_view_t(escaped.data(), escaped.size());
        inner_->log(copy);
    }
    void flush() override { inner_->flush(); }
    void set_pattern(const std::string& pattern) override { inner_->set_pattern(pattern); }
    void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
        inner_->set_formatter(std::move(formatter));
    }

private:
    std::shared_ptr<spdlog::sinks::sink> inner_;
};

} // namespace

std::shared_ptr<spdlog::sinks::sink> escaping_sink(std::shared_ptr<spdlog::sinks::sink> inner) {
    return std::make_shared<EscapingSink>(std::move(inner));
}

void setup_logging(std::string_view level) {
    std::shared_ptr<spdlog::logger> logger;
#if SHMREFCLOCK_HAVE_SYSTEMD
    if (stderr_is_journal()) {
        auto sink = std::make_shared<spdlog::sinks::systemd_sink_mt>("shmrefclock");
        logger = std::make_shared<spdlog::logger>("shmrefclock", escaping_sink(sink));
        logger->set_pattern("%v"); // the journal keeps time and priority
    }
#else
    (void)stderr_is_journal;
#endif
    if (!logger) {
        logger = std::make_shared<spdlog::logger>(
            "shmrefclock", escaping_sink(std::make_shared<spdlog::sinks::stderr_sink_mt>()));
        logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
    }
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(logger);
    set_log_level(level);
}

void set_log_level(std::string_view level) {
    spdlog::set_level(spdlog::level::from_str(std::string(level)));
}

void RateLimitedLog::error(const std::string& message) {
    const auto now = std::chrono::steady_clock::now();
    if (message != last_) {
        if (suppressed_ > 0) {
            spdlog::error("{} (repeated {} more times)", last_, suppressed_);
        }
        spdlog::error("{}", message);
        last_ = message;
        suppressed_ = 0;
        last_logged_ = now;
        return;
    }
    ++suppressed_;
    if (now - last_logged_ >= period_) {
        spdlog::error("{} (repeated {} times in the last {} s)", message, suppressed_,
                      period_.count());
        suppressed_ = 0;
        last_logged_ = now;
    }
}

void RateLimitedLog::reset() {
    if (suppressed_ > 0) {
        spdlog::info("{} (repeated {} more times, now stopped)", last_, suppressed_);
    }
    last_.clear();
    suppressed_ = 0;
}

} // namespace shmrefclock
