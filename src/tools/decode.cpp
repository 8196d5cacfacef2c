#include "tools/decode.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <istream>
#include <optional>
#include <ostream>
#include <string>

#include <fmt/format.h>

#include "sources/nmea_parser.hpp"

namespace shmrefclock {
namespace {

constexpr std::int64_t seconds_per_day = 86400;

std::string iso8601(const timespec& utc, bool leap_second) {
    std::int64_t day = utc.tv_sec / seconds_per_day;
    std::int64_t second = utc.tv_sec % seconds_per_day;
    if (second < 0) {
        second += seconds_per_day;
        --day;
    }
    const std::chrono::year_month_day date{std::chrono::sys_days{std::chrono::days{day}}};
    // The parser reports 23:59:60 as 23:59:59 with the flag; show its name.
    const std::int64_t shown_second = second % 60 + (leap_second ? 1 : 0);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(date.year()),
                       static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                       second / 3600, second / 60 % 60, shown_second, utc.tv_nsec / 1000000);
}

// The cycle's key: the second of the day it reports. Keyed on the time of
// day rather than the full time so that a sentence with no date yet (or with
// a receiver's garbage date, while it has no fix) stays in its cycle.
struct CycleSecond {
    int hour = 0;
    int minute = 0;
    int second = 0;
    bool operator==(const CycleSecond&) const = default;
};

class CycleWriter {
public:
    CycleWriter(std::ostream& out, bool json) : out_(out), json_(json) {}

    void add(const nmea::Sentence& sentence) {
        if (!sentence.time) {
            return;
        }
        const CycleSecond key{sentence.time->hour, sentence.time->minute, sentence.time->second};
        if (!current_ || *current_ != key) {
            flush();
            current_ = key;
        }
        cycle_.add(sentence);
    }

    // Ends the current cycle, writing it if it had a valid time.
    void flush() {
        if (const nmea::Sentence* time = cycle_.time()) {
            write(*time);
            ++cycles_;
        }
        cycle_.clear();
        current_.reset();
    }

    std::uint64_t cycles() const { return cycles_; }

private:
    void write(const nmea::Sentence& sentence) {
        const std::string time = iso8601(*sentence.utc, sentence.leap_second);
        std::string line;
        if (json_) {
            line = fmt::format(R"({{"time":"{}","sentence":"{}")", time, sentence.name());
            if (sentence.date_repaired) {
                line += R"(,"repaired":true)";
            }
            if (sentence.leap_second) {
                line += R"(,"leap_second":true)";
            }
            line += "}\n";
        } else {
            line = fmt::format("{} {}", time, sentence.name());
            if (sentence.date_repaired) {
                line += " repaired";
            }
            if (sentence.leap_second) {
                line += " leap-second";
            }
            line += '\n';
        }
        out_ << line;
    }

    std::ostream& out_;
    bool json_;
    std::optional<CycleSecond> current_;
    nmea::Cycle cycle_;
    std::uint64_t cycles_ = 0;
};

} // namespace

int decode_capture(std::istream& in, std::ostream& out, const DecodeOptions& options) {
    nmea::Parser parser{options.not_before};
    CycleWriter cycles{out, options.json};
    const auto on_sentence = [&](const nmea::Sentence& sentence) { cycles.add(sentence); };

    // Read in blocks and pass everything but the '#' lines through, so that
    // a capture without newlines costs no more memory than one with them.
    std::array<char, 65536> block{};
    bool line_start = true;
    bool in_comment = false;
    while (in) {
        in.read(block.data(), static_cast<std::streamsize>(block.size()));
        const auto length = static_cast<std::size_t>(in.gcount());
        std::size_t run = 0; // start of the bytes not yet fed
        for (std::size_t i = 0; i < length; ++i) {
            const char byte = block[i];
            if (line_start && byte == '#') {
                parser.feed({block.data() + run, i - run}, on_sentence);
                in_comment = true;
            }
            line_start = byte == '\n';
            if (in_comment) {
                run = i + 1;
                in_comment = !line_start;
            }
        }
        parser.feed({block.data() + run, length - run}, on_sentence);
    }
    // A last sentence without its line terminator is still a whole sentence.
    parser.feed("\n", on_sentence);
    cycles.flush();

    if (options.summary != nullptr) {
        const nmea::Counters& counters = parser.counters();
        *options.summary << fmt::format(
            "decode: {} cycles with a valid time; {} sentences, {} bad checksum, {} malformed, "
            "{} garbage, {} over-long, {} unsupported\n",
            cycles.cycles(), counters.sentences, counters.bad_checksum, counters.malformed,
            counters.garbage, counters.over_long, counters.unsupported);
    }
    return in.bad() ? 3 : 0;
}

} // namespace shmrefclock
