// The log layer's escaping (io/log.hpp, core/printable.hpp): whatever a
// message quotes, it is one line (issue 8, case 9).
#include <catch2/catch.hpp>

#include <sstream>
#include <unistd.h>

#include <spdlog/sinks/ostream_sink.h>

#include "core/printable.hpp"
#include "io/log.hpp"

using namespace shmrefclock;

TEST_CASE("printable escapes every control byte and keeps the rest") {
    CHECK(printable("plain /dev/ttyS0") == "plain /dev/ttyS0");
    CHECK(printable("a\nb") == "a\\nb");
    CHECK(printable("a\r\tb") == "a\\r\\tb");
    CHECK(printable(std::string_view("a\0b", 3)) == "a\\x00b");
    CHECK(printable("\x1b[31m") == "\\x1b[31m");
    CHECK(printable("\x7f") == "\\x7f");
    CHECK(printable("caf\xc3\xa9") == "caf\xc3\xa9"); // UTF-8 kept
    CHECK(printable("back\\slash") == "back\\slash");
    // Every byte value: the output has no control byte at all.
    std::string all;
    for (int b = 0; b < 256; ++b) {
        all += static_cast<char>(b);
    }
    const std::string out = printable(all);
    CHECK_FALSE(has_control_characters(out));
    CHECK(has_control_characters(all));
}

TEST_CASE("a message that quotes a newline is logged as one line") {
    std::ostringstream out;
    auto inner = std::make_shared<spdlog::sinks::ostream_sink_st>(out);
    spdlog::logger logger("test", escaping_sink(inner));
    logger.set_pattern("%l %v");
    const std::string device = "/dev/ttyS0\n2026-12-01 00:00:00.000 critical forged";
    logger.error("{}: open: No such file or directory", device);
    logger.info("receiver sent {}", std::string_view("$GPRMC\r\n\0\x1b", 10));
    logger.info("nothing to escape");
    logger.flush();
    const std::string text = out.str();
    CHECK(text == "error /dev/ttyS0\\n2026-12-01 00:00:00.000 critical forged: open: No such file "
                  "or directory\n"
                  "info receiver sent $GPRMC\\r\\n\\x00\\x1b\n"
                  "info nothing to escape\n");
}

TEST_CASE("the journal's stream gets each message behind its syslog priority") {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    {
        spdlog::logger logger("test", escaping_sink(journal_stream_sink(fds[1])));
        logger.set_level(spdlog::level::trace);
        logger.critical("c");
        logger.error("e {}", 1);
        logger.warn("w");
        logger.info("i");
        logger.debug("d");
        logger.trace("t");
        logger.error("forged\n<2>critical");
        logger.flush();
    }
    close(fds[1]);
    std::string text;
    char buffer[512];
    ssize_t n = 0;
    while ((n = read(fds[0], buffer, sizeof buffer)) > 0) {
        text.append(buffer, static_cast<std::size_t>(n));
    }
    close(fds[0]);
    // sd-daemon(3): <2> LOG_CRIT, <3> LOG_ERR, <4> LOG_WARNING, <6> LOG_INFO,
    // <7> LOG_DEBUG; no time, level name or identifier (the journal adds them),
    // and a quoted newline cannot start a line with a priority of its own.
    CHECK(text == "<2>c\n<3>e 1\n<4>w\n<6>i\n<7>d\n<7>t\n<3>forged\\n<2>critical\n");
}
