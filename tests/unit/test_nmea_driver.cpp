// core/nmea_driver: which reads a wake-up makes (docs/design.md, "NMEA: from
// a byte to a segment"), counted on a line that records every call.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <numeric>
#include <string>

#include "core/nmea_driver.hpp"

using namespace shmrefclock;

namespace {

// A line holding `pending` bytes ('x', or the last of them `text`), or an
// endless flood.
class CountingLine final : public NmeaLine {
public:
    explicit CountingLine(std::size_t pending, bool flood = false)
        : pending_(pending), flood_(flood) {}
    explicit CountingLine(std::string text) : pending_(text.size()), flood_(false), text_(text) {}

    int queued() override {
        ++queued_calls;
        return static_cast<int>(pending_);
    }
    LineRead read(std::span<char> buffer) override {
        ++reads;
        const std::size_t count = flood_ ? buffer.size() : std::min(pending_, buffer.size());
        if (count == 0) {
            return LineRead{LineRead::Status::drained, 0, 0};
        }
        std::memset(buffer.data(), 'x', count);
        if (!text_.empty()) {
            std::memcpy(buffer.data(), text_.data() + (text_.size() - pending_), count);
        }
        if (!flood_) {
            pending_ -= count;
        }
        return LineRead{LineRead::Status::bytes, count, 0};
    }
    std::optional<KernelClock> kernel_clock(const Stamp&) override {
        ++kernel_reads;
        return std::nullopt;
    }

    int reads = 0;
    int queued_calls = 0;
    int kernel_reads = 0;

private:
    std::size_t pending_;
    bool flood_;
    std::string text_;
};

// Opened on a line with a line rate (a UART) or without (a pty, TCP).
NmeaCore make_core(bool line_rate = true) {
    NmeaCore core(NmeaSettings{"test", 115200, 1,
                               std::chrono::year_month_day{std::chrono::year{2026} / 1 / 1}});
    core.opened(0, line_rate, "test");
    return core;
}

Stamp at(std::int64_t s) {
    return Stamp{{static_cast<time_t>(s), 0}, s * 1'000'000'000};
}

Stamp at_ms(std::int64_t ms) {
    return Stamp{{static_cast<time_t>(ms / 1000), static_cast<long>((ms % 1000) * 1'000'000)},
                 ms * 1'000'000};
}

const std::string rmc = "$GPRMC,120000.00,A,4404.1351,N,12118.8556,W,0.04,359.11,070126,,,A*41\r\n";

} // namespace

TEST_CASE("a read shorter than a chunk drains the line: no second read to hear EAGAIN") {
    const bool line_rate = GENERATE(true, false);
    NmeaCore core = make_core(line_rate);
    CountingLine line(200);
    read_line(core, line, NmeaRead::Wake::device, at(1000), nullptr);
    CHECK(line.reads == 1);
    // The first byte's wake-up reads the kernel's state once, and what was
    // queued where that dates the first byte (a UART: NmeaCore::woke); on
    // a pty or TCP the answer would go unused, and is not asked (issue 22).
    // A batch wake-up inside the cycle reads neither.
    CHECK(line.queued_calls == (line_rate ? 1 : 0));
    CHECK(line.kernel_reads == 1);
    CountingLine empty(0);
    read_line(core, empty, NmeaRead::Wake::batch, at(1000), nullptr);
    CHECK(empty.reads == 1);
    CHECK(empty.queued_calls == 0);
    CHECK(empty.kernel_reads == 0);
}

TEST_CASE("a full chunk is read again; a flood stops at max_reads") {
    NmeaCore core = make_core();
    CountingLine exact(read_chunk);
    read_line(core, exact, NmeaRead::Wake::batch, at(1000), nullptr);
    CHECK(exact.reads == 2); // the full chunk, then the read that finds none
    CountingLine more(read_chunk + 10);
    read_line(core, more, NmeaRead::Wake::batch, at(1000), nullptr);
    CHECK(more.reads == 2); // the full chunk, then the short one ends them
    CountingLine flood(0, true);
    read_line(core, flood, NmeaRead::Wake::batch, at(1000), nullptr);
    CHECK(flood.reads == max_reads);
}

TEST_CASE("a batch read ending at a sentence's end watches the line instead of reading it empty") {
    NmeaCore core = make_core();
    CountingLine first(rmc.substr(0, 20));
    read_line(core, first, NmeaRead::Wake::device, at_ms(1000), nullptr);

    SECTION("mid-sentence: the next batch timer reads") {
        CountingLine middle(rmc.substr(20, 20));
        const Actions actions =
            read_line(core, middle, NmeaRead::Wake::batch, at_ms(1025), nullptr);
        CHECK_FALSE(actions.watch_device.has_value());
        CHECK_FALSE(core.quiet_since_last_read());
        CountingLine empty(0);
        read_line(core, empty, NmeaRead::Wake::batch, at_ms(1050), nullptr);
        CHECK(empty.reads == 1);
        CHECK(core.starts_cycle()); // the empty read ended the cycle
    }
    SECTION("at the sentence's end: watched, and a quiet batch timer ends the cycle unread") {
        CountingLine rest(rmc.substr(20));
        const Actions actions = read_line(core, rest, NmeaRead::Wake::batch, at_ms(1025), nullptr);
        REQUIRE(actions.watch_device == std::optional<bool>(true));
        CHECK(core.quiet_since_last_read());
        CountingLine unread(0);
        const Actions quiet = read_line(core, unread, NmeaRead::Wake::batch, at_ms(1050), nullptr);
        CHECK(unread.reads == 0);
        CHECK(core.starts_cycle());
        CHECK(quiet.watch_device == std::optional<bool>(true));
        const auto& cycles = core.activity().cycles;
        CHECK(std::accumulate(cycles.begin(), cycles.end(), std::uint64_t{0}) == 1); // finished
    }
    SECTION("the watch wakes inside the cycle: its bytes are read, and the batch timer reads on") {
        CountingLine rest(rmc.substr(20));
        read_line(core, rest, NmeaRead::Wake::batch, at_ms(1025), nullptr);
        CountingLine more("$GPGSA,A,3,05,13,,,,,,,,,,,1.8,0.9,1.5*31\r\n");
        const Actions woke = read_line(core, more, NmeaRead::Wake::device, at_ms(1030), nullptr);
        CHECK(more.reads == 1);
        CHECK(more.queued_calls == 0); // not a cycle's first byte
        CHECK(more.kernel_reads == 0);
        CHECK(woke.watch_device == std::optional<bool>(false));
        CHECK_FALSE(core.starts_cycle());
        CHECK_FALSE(core.quiet_since_last_read());
        CountingLine empty(0);
        read_line(core, empty, NmeaRead::Wake::batch, at_ms(1050), nullptr);
        CHECK(empty.reads == 1);
        CHECK(core.starts_cycle());
    }
}
