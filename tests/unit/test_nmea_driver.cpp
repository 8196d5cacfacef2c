// core/nmea_driver: which reads a wake-up makes (docs/design.md, "NMEA: from
// a byte to a segment"), counted on a line that records every call.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>

#include "core/nmea_driver.hpp"

using namespace shmrefclock;

namespace {

// A line holding `pending` bytes, or an endless flood.
class CountingLine final : public NmeaLine {
public:
    explicit CountingLine(std::size_t pending, bool flood = false)
        : pending_(pending), flood_(flood) {}

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
