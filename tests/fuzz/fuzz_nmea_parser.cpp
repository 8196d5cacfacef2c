// libFuzzer target for the NMEA parser; tests/fuzz/run-fuzz.sh builds and
// runs it. Besides the sanitizers it checks what the daemon relies on: the
// chunking of the input never changes the result, and nothing invalid,
// incomplete or out of range is ever marked valid.
//
// Then the same bytes go through the cycle decision (NmeaCore, driven by
// the replay exactly as the daemon's shell drives it) with a line timing
// derived from the input: nothing may crash (the sanitizers watch the time
// arithmetic), and every published sample must carry the time of a valid
// sentence of the input, never 23:59:60, stamped within the replay's time.
//
// Input: byte 0 picks options, byte 1 the chunk size (0: whole), the rest is
// what the receiver sent.
//   bit 0 of byte 0: rewrite every "*HH" with the right checksum first, so
//     that the fuzzer gets past the checksum to the fields;
//   bits 1-2: the floor date;
//   bit 3: a line-rate device (bytes one byte time apart) or bursts;
//   bits 4-5: the baud rate; bits 6-7: min-fixes - 1.
// Byte 1 also seeds the line timing: the gap before each line (from none
// to 2^40 ns) and the wall clock's epoch (up to the ends of time_t).
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/nmea_core.hpp"
#include "core/nmea_parser.hpp"
#include "core/nmea_replay.hpp"

using namespace shmrefclock::nmea;

namespace {

#define FUZZ_CHECK(condition)                                                                      \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition);     \
            std::abort();                                                                          \
        }                                                                                          \
    } while (false)

constexpr std::int64_t seconds_per_day = 86400;
constexpr std::int64_t last_day =
    std::chrono::sys_days{std::chrono::year{10000} / 1 / 1}.time_since_epoch().count();

void fix_checksums(std::string& text) {
    std::size_t start = std::string::npos;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '$' || text[i] == '!') {
            start = i;
        } else if (text[i] == '*' && start != std::string::npos && i + 2 < text.size()) {
            unsigned checksum = 0;
            for (std::size_t j = start + 1; j < i; ++j) {
                checksum ^= static_cast<unsigned char>(text[j]);
            }
            constexpr char hex[] = "0123456789ABCDEF";
            text[i + 1] = hex[checksum >> 4 & 0xf];
            text[i + 2] = hex[checksum & 0xf];
            start = std::string::npos;
        }
    }
}

void check_sentence(const Sentence& s, std::string_view text, std::int64_t floor_day) {
    FUZZ_CHECK(s.valid == (s.reason == InvalidReason::none));
    if (s.valid) {
        FUZZ_CHECK(s.time.has_value());
        FUZZ_CHECK(s.utc.has_value());
        FUZZ_CHECK(s.date != DateSource::none);
    }
    if (s.time) {
        FUZZ_CHECK(s.time->hour >= 0 && s.time->hour <= 23);
        FUZZ_CHECK(s.time->minute >= 0 && s.time->minute <= 59);
        FUZZ_CHECK(s.time->second >= 0 && s.time->second <= 60);
        FUZZ_CHECK(s.time->second < 60 || (s.time->hour == 23 && s.time->minute == 59));
        FUZZ_CHECK(s.time->nanosecond < 1000000000u);
    }
    if (s.utc) {
        FUZZ_CHECK(s.time.has_value());
        FUZZ_CHECK(s.date != DateSource::none);
        FUZZ_CHECK(s.utc->tv_nsec >= 0 && s.utc->tv_nsec < 1000000000);
        FUZZ_CHECK(static_cast<std::uint32_t>(s.utc->tv_nsec) == s.time->nanosecond);
        const std::int64_t second_of_day =
            s.time->hour * 3600 + s.time->minute * 60 + std::min(s.time->second, 59);
        FUZZ_CHECK(s.utc->tv_sec % seconds_per_day == second_of_day);
        // Never before the floor, but for a time of day carried back across
        // midnight from a date on the floor.
        FUZZ_CHECK(s.utc->tv_sec >= (floor_day - 1) * seconds_per_day);
        // ZDA years have 4 digits, RMC years are within 50 of the floor's,
        // and a repair never goes more than 1024 weeks past the floor.
        FUZZ_CHECK(s.utc->tv_sec <
                   std::max(last_day, floor_day + Parser::gps_rollover_days) * seconds_per_day);
    } else {
        FUZZ_CHECK(!s.leap_second);
    }
    if (s.leap_second) {
        FUZZ_CHECK(s.time->second == 60);
        FUZZ_CHECK((s.utc->tv_sec + 1) % seconds_per_day == 0);
    }
    FUZZ_CHECK(!s.date_repaired || s.date != DateSource::none);
    FUZZ_CHECK(s.stream_begin < s.stream_end);
    FUZZ_CHECK(s.stream_end <= text.size());
    FUZZ_CHECK(text[s.stream_begin] == '$');
    FUZZ_CHECK(s.name().substr(2) == to_string(s.type));
}

bool same(const Sentence& a, const Sentence& b) {
    const auto same_time = [](const std::optional<TimeOfDay>& x,
                              const std::optional<TimeOfDay>& y) {
        return x.has_value() == y.has_value() &&
               (!x || (x->hour == y->hour && x->minute == y->minute && x->second == y->second &&
                       x->nanosecond == y->nanosecond));
    };
    const auto same_utc = [](const std::optional<timespec>& x, const std::optional<timespec>& y) {
        return x.has_value() == y.has_value() &&
               (!x || (x->tv_sec == y->tv_sec && x->tv_nsec == y->tv_nsec));
    };
    return a.type == b.type && a.address == b.address && same_time(a.time, b.time) &&
           a.date == b.date && a.date_repaired == b.date_repaired && same_utc(a.utc, b.utc) &&
           a.leap_second == b.leap_second && a.valid == b.valid && a.reason == b.reason &&
           a.stream_begin == b.stream_begin && a.stream_end == b.stream_end;
}

bool same(const Counters& a, const Counters& b) {
    return a.sentences == b.sentences && a.bad_checksum == b.bad_checksum &&
           a.malformed == b.malformed && a.garbage == b.garbage && a.over_long == b.over_long &&
           a.unsupported == b.unsupported;
}

// A small deterministic generator for the line timing.
struct Timing {
    std::uint64_t state;
    std::uint64_t next() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    }
};

// The cycle decision over `text`, sent line by line with gaps from
// `timing`. `valid`: the times the parser reported as valid.
void check_cycles(std::string_view text, unsigned options, std::uint64_t seed,
                  std::chrono::year_month_day floor, const std::vector<Sentence>& sentences) {
    namespace s = shmrefclock;
    constexpr int bauds[] = {4800, 9600, 38400, 115200};
    const int baud = bauds[options >> 4 & 3];
    const bool line_rate = (options & 8) != 0;
    const int min_fixes = 1 + static_cast<int>(options >> 6 & 3);
    Timing timing{seed * 0x9E3779B97F4A7C15ull + 1};
    constexpr std::int64_t gaps[] = {0,           1'000'000,     30'000'000,    45'000'000,
                                     60'000'000,  250'000'000,   1'000'000'000, 1'000'000'000,
                                     999'000'000, 2'000'000'000, 1ll << 40,     100'000'000};
    s::ByteSchedule schedule;
    std::int64_t t = s::ns_per_s;
    std::size_t at = 0;
    while (at < text.size()) {
        std::size_t end = text.find('\n', at);
        end = end == std::string_view::npos ? text.size() : end + 1;
        t += gaps[timing.next() % std::size(gaps)];
        t = schedule.write(t, text.substr(at, end - at), line_rate ? s::byte_time_ns(baud) : 0);
        at = end;
    }
    s::ReplayOptions replay_options;
    replay_options.line_rate = line_rate;
    constexpr std::int64_t epochs[] = {0, 1'795'262'400, -1,
                                       std::numeric_limits<std::int64_t>::max(),
                                       std::numeric_limits<std::int64_t>::min()};
    const std::int64_t epoch = epochs[timing.next() % std::size(epochs)];
    replay_options.realtime_epoch = timespec{static_cast<time_t>(epoch), 0};
    replay_options.wake_latency_ns = [&timing] {
        return static_cast<std::int64_t>(timing.next() % 3'000'000);
    };
    s::NmeaCore core(s::NmeaSettings{"fuzz", baud, min_fixes, floor});
    std::size_t outcomes = 0;
    core.on_cycle([&outcomes](const s::CycleOutcome&) { ++outcomes; });
    const auto events = s::replay(core, schedule, replay_options);
    for (const s::ReplayEvent& event : events) {
        if (event.kind != s::ReplayEvent::Kind::published) {
            continue;
        }
        const timespec reference = event.sample.reference_time;
        const bool from_input =
            std::any_of(sentences.begin(), sentences.end(), [&](const Sentence& sentence) {
                return sentence.valid && !sentence.leap_second &&
                       sentence.utc->tv_sec == reference.tv_sec &&
                       sentence.utc->tv_nsec == reference.tv_nsec;
            });
        FUZZ_CHECK(from_input);
        FUZZ_CHECK(event.sample.receive_time.tv_nsec >= 0 &&
                   event.sample.receive_time.tv_nsec < 1'000'000'000);
        // The witness (the kernel clock, emulated) is to judge each
        // published sample here as well.
    }
    FUZZ_CHECK(outcomes <= sentences.size());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) {
        return 0;
    }
    const unsigned options = data[0];
    const std::size_t chunk = data[1];
    std::string text(reinterpret_cast<const char*>(data + 2), size - 2);
    if (options & 1) {
        fix_checksums(text);
    }
    constexpr std::chrono::year_month_day floors[] = {
        std::chrono::year{2000} / 1 / 1,
        std::chrono::year{1990} / 1 / 1,
        std::chrono::year{2080} / 1 / 1,
        std::chrono::year{2026} / 3 / 16,
    };
    const std::chrono::year_month_day floor = floors[options >> 1 & 3];
    const std::int64_t floor_day = std::chrono::sys_days{floor}.time_since_epoch().count();

    Parser whole{floor};
    std::vector<Sentence> expected;
    whole.feed(text, [&](const Sentence& s) {
        check_sentence(s, text, floor_day);
        expected.push_back(s);
    });
    FUZZ_CHECK(whole.counters().sentences == expected.size());

    Parser chunked{floor};
    std::size_t next = 0;
    const auto compare = [&](const Sentence& s) {
        FUZZ_CHECK(next < expected.size());
        FUZZ_CHECK(same(s, expected[next]));
        ++next;
    };
    const std::string_view all{text};
    if (chunk == 0) {
        for (const char byte : all) {
            if (const Sentence* s = chunked.push(byte)) {
                compare(*s);
            }
        }
    } else {
        for (std::size_t at = 0; at < all.size(); at += chunk) {
            chunked.feed(all.substr(at, chunk), compare);
        }
    }
    FUZZ_CHECK(next == expected.size());
    FUZZ_CHECK(same(chunked.counters(), whole.counters()));

    Cycle cycle;
    for (const Sentence& s : expected) {
        cycle.add(s);
    }
    FUZZ_CHECK(cycle.time() == nullptr || cycle.time()->valid);

    check_cycles(text, options, chunk, floor, expected);
    return 0;
}
