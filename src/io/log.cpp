#include "io/log.hpp"

#include <cstdio>
#include <cstdlib>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "core/printable.hpp"

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

// The journal's stream protocol: one line per message on stderr, its
// priority as sd-daemon(3)'s "<N>" prefix, which journald turns into
// PRIORITY= (SyslogLevelPrefix=, on by default). The journal adds the time,
// _PID and the unit's SyslogIdentifier=. Written with one write(2), so that
// a line is never interleaved. Replaces spdlog's systemd_sink and with it
// libsystemd (io/service_manager.hpp says why).
class JournalStreamSink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    explicit JournalStreamSink(int fd) : fd_(fd) {}

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        line_.clear();
        line_ += '<';
        line_ += static_cast<char>('0' + syslog_priority(msg.level));
        line_ += '>';
        line_.append(msg.payload.data(), msg.payload.size());
        line_ += '\n';
        std::string_view rest = line_;
        while (!rest.empty()) {
            const ssize_t n = ::write(fd_, rest.data(), rest.size());
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                return; // the journal is gone: nowhere else to say so
            }
            rest.remove_prefix(static_cast<std::size_t>(n));
        }
    }
    void flush_() override {}

private:
    static int syslog_priority(spdlog::level::level_enum level) {
        switch (level) {
        case spdlog::level::critical:
            return 2; // LOG_CRIT
        case spdlog::level::err:
            return 3; // LOG_ERR
        case spdlog::level::warn:
            return 4; // LOG_WARNING
        case spdlog::level::info:
            return 6; // LOG_INFO
        default:
            return 7; // LOG_DEBUG (trace, debug)
        }
    }
    int fd_;
    std::string line_;
};

} // namespace

std::shared_ptr<spdlog::sinks::sink> journal_stream_sink(int fd) {
    return std::make_shared<JournalStreamSink>(fd);
}

std::shared_ptr<spdlog::sinks::sink> escaping_sink(std::shared_ptr<spdlog::sinks::sink> inner) {
    return std::make_shared<EscapingSink>(std::move(inner));
}

void setup_logging(std::string_view level) {
    std::shared_ptr<spdlog::logger> logger;
    if (stderr_is_journal()) {
        logger = std::make_shared<spdlog::logger>(
            "shmrefclock", escaping_sink(journal_stream_sink(STDERR_FILENO)));
    }
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
