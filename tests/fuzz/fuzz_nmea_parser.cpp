// libFuzzer target for the NMEA parser; tests/fuzz/run-fuzz.sh builds and
// runs it. Besides the sanitizers it checks what the daemon relies on: the
// chunking of the input never changes the result, and nothing invalid,
// incomplete or out of range is ever marked valid.
//
// Then the same bytes go through the cycle decision (NmeaCore, driven by
// the replay exactly as the daemon's shell drives it) with a line timing
// derived from the input and an emulated kernel clock as the witness
// (core/witness.hpp): nothing may crash (the sanitizers watch the time
// arithmetic); every published sample carries the time the receiver wrote
// in a valid sentence of the input (its date moved only by whole 1024-week
// steps, with the system clock as evidence), never 23:59:60, stamped by the
// replay's system clock within the replay's time; and whenever the kernel is
// synchronized and the witness is on, |reference + offset - system clock at
// the cycle's first byte| <= maxerror + witness_margin_ns (issue 8). The
// witness refuses nothing else.
//
// Input: byte 0 picks options, byte 1 the chunk size (0: whole), byte 2 the
// emulated witness, the rest is what the receiver sent.
//   bit 0 of byte 0: rewrite every "*HH" with the right checksum first, so
//     that the fuzzer gets past the checksum to the fields;
//   bits 1-2: the floor date;
//   bit 3: a line-rate device (bytes one byte time apart) or bursts;
//   bits 4-5: the baud rate; bits 6-7: min-fixes - 1.
// Byte 1 also seeds the line timing: the gap before each line (from none
// to 2^40 ns), the scheduling latency and what byte 2 leaves to chance.
//   bits 0-1 of byte 2: the kernel clock, read before each device wake-up
//     as the daemon reads it: 0 unsynchronized (no witness), 1 and 3
//     synchronized, 2 synchronized or not and maxerror drawn anew each time;
//   bit 2: witness = false;
//   bits 3-5: maxerror (0 to the kernel's 16 s limit);
//   bits 6-7: the system clock: 0 one of fixed epochs (up to the ends of
//     time_t), unrelated to the receiver; else at a sentence of the input's
//     time plus an offset: 1 anywhere within +-18 s, 2 whole seconds (0, 1,
//     2, 18, 37) and a fraction either way, 3 far (a day, a year, 1024
//     weeks, the ends of time).
// The refclock's offset (the witness's latency) is drawn from the timing.
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
#include "fuzz_check.hpp"

using namespace shmrefclock::nmea;

namespace {

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
        // Floored: a refused date as written can be before 1970.
        FUZZ_CHECK((s.utc->tv_sec % seconds_per_day + seconds_per_day) % seconds_per_day ==
                   second_of_day);
    }
    // A refused date is kept as written, for the messages; the bounds are on
    // the others.
    FUZZ_CHECK(s.reason != InvalidReason::implausible_date || s.date_problem != DateProblem::none);
    FUZZ_CHECK(!s.valid || s.date_problem == DateProblem::none);
    if (s.utc && s.date_problem == DateProblem::none) {
        // Never before the floor, but for a time of day carried back across
        // midnight from a date on the floor.
        FUZZ_CHECK(s.utc->tv_sec >= (floor_day - 1) * seconds_per_day);
        // ZDA years have 4 digits, RMC years are within 50 of the floor's,
        // and a repair never goes more than 1024 weeks past the floor.
        FUZZ_CHECK(s.utc->tv_sec <
                   std::max(last_day, floor_day + Parser::gps_rollover_days) * seconds_per_day);
    }
    if (!s.utc) {
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

using Wide = __int128; // time differences that cannot overflow

Wide wide_ns(timespec t) {
    return static_cast<Wide>(t.tv_sec) * shmrefclock::ns_per_s + t.tv_nsec;
}

Wide magnitude(Wide v) {
    return v < 0 ? -v : v;
}

// The emulated kernel clock and the system clock's place relative to the
// receiver's times, from the witness byte (see the header).
struct Emulation {
    unsigned bits = 0;           // the witness byte
    bool witness_enabled = true; // `witness = false` when bit 2 is set
    std::int64_t latency_ns = 0; // the refclock's `offset`

    // ntp_adjtime's maxerror as io/kernel_clock hands it in: 0 to the
    // kernel's NTP_PHASE_LIMIT (16 s), around the margin's half second.
    static constexpr std::int64_t maxerrors[] = {
        0,           1'000'000,     50'000'000,    250'000'000,
        499'999'000, 1'000'000'000, 2'500'000'000, 16'000'000'000};

    shmrefclock::KernelClock kernel(Timing& timing) const {
        shmrefclock::KernelClock k;
        switch (bits & 3) {
        case 0: // unsynchronized: no witness
            break;
        case 2: // the NTP daemon gains and loses it, maxerror varies
            k.synchronized = timing.next() % 4 != 0;
            k.maxerror_ns = maxerrors[timing.next() % std::size(maxerrors)];
            break;
        default:
            k.synchronized = true;
            k.maxerror_ns = maxerrors[bits >> 3 & 7];
            break;
        }
        return k;
    }
};

// The system clock at monotonic 0. Offset class 0: one of the fixed epochs
// (the ends of time among them), unrelated to the receiver; otherwise the
// system clock is put `offset` away from the time a sentence of the input
// names, at the sentence's first byte: near (within the witness bound and
// just outside it), whole seconds off (a wrong second, GPS time), or far
// (days, a GPS rollover, centuries).
timespec system_epoch(const Emulation& emulation, Timing& timing,
                      const shmrefclock::ByteSchedule& schedule,
                      const std::vector<Sentence>& sentences) {
    constexpr std::int64_t epochs[] = {0, 1'795'262'400, -1,
                                       std::numeric_limits<std::int64_t>::max(),
                                       std::numeric_limits<std::int64_t>::min()};
    const unsigned offset_class = emulation.bits >> 6 & 3;
    std::vector<const Sentence*> named;
    for (const Sentence& sentence : sentences) {
        if (sentence.utc) {
            named.push_back(&sentence);
        }
    }
    if (offset_class == 0 || named.empty()) {
        const std::int64_t epoch = epochs[timing.next() % std::size(epochs)];
        return timespec{static_cast<time_t>(epoch), 0};
    }
    constexpr std::int64_t s = shmrefclock::ns_per_s;
    std::int64_t offset = 0;
    const std::int64_t sign = timing.next() % 2 == 0 ? 1 : -1;
    if (offset_class == 1) {
        // Up to 1.5 s beyond the largest bound, either way.
        constexpr std::int64_t span = 16 * s + 500'000'000 + 1'500'000'000;
        offset = static_cast<std::int64_t>(timing.next() % (2 * span + 1)) - span;
    } else if (offset_class == 2) {
        constexpr std::int64_t seconds[] = {0, 1, 1, 2, 18, 37};
        offset = sign * (seconds[timing.next() % std::size(seconds)] * s +
                         static_cast<std::int64_t>(timing.next() % 300'000'000));
    } else {
        constexpr std::int64_t far[] = {86'400 * s, 366 * 86'400 * s,
                                        Parser::gps_rollover_days * 86'400 * s,
                                        std::numeric_limits<std::int64_t>::max()};
        offset = sign * far[timing.next() % std::size(far)];
    }
    const Sentence& anchor = *named[timing.next() % named.size()];
    return shmrefclock::timespec_add(
        shmrefclock::timespec_add(*anchor.utc, -schedule.arrival_ns[anchor.stream_begin]), offset);
}

// The sentence of the input at the same place as `s` (the core parses the
// same bytes): the core's time must be the one the receiver wrote there.
void check_from_input(const Sentence& s, const std::vector<Sentence>& sentences) {
    const auto at = std::find_if(sentences.begin(), sentences.end(), [&](const Sentence& w) {
        return w.stream_begin == s.stream_begin;
    });
    FUZZ_CHECK(at != sentences.end());
    const Sentence& w = *at;
    FUZZ_CHECK(s.valid && !s.leap_second && s.utc);
    FUZZ_CHECK(w.type == s.type && w.address == s.address && w.stream_end == s.stream_end);
    FUZZ_CHECK(w.time && w.time->hour == s.time->hour && w.time->minute == s.time->minute &&
               w.time->second == s.time->second && w.time->nanosecond == s.time->nanosecond);
    if (s.date != DateSource::sentence) {
        return; // a carried date: the core's parser may carry a repaired one
    }
    FUZZ_CHECK(w.date == DateSource::sentence && w.utc);
    if (!s.date_repaired) {
        // The date as written (valid here too, or too late for the parser
        // without evidence but within a year of the core's system clock).
        FUZZ_CHECK(w.utc->tv_sec == s.utc->tv_sec && w.utc->tv_nsec == s.utc->tv_nsec);
        return;
    }
    // Repaired with the system clock as evidence: the written date, before
    // the floor, moved on by whole 1024-week steps.
    FUZZ_CHECK(w.reason == InvalidReason::implausible_date &&
               w.date_problem == DateProblem::before_floor_no_evidence);
    const std::int64_t moved = s.utc->tv_sec - w.utc->tv_sec;
    constexpr std::int64_t rollover_s = std::int64_t{Parser::gps_rollover_days} * seconds_per_day;
    FUZZ_CHECK(moved > 0 && moved % rollover_s == 0 && w.utc->tv_nsec == s.utc->tv_nsec);
}

// The cycle decision over `text`, sent line by line with gaps from
// `timing`, with the system clock and the kernel's state from `emulation`.
// `sentences`: what the parser (without a system clock) made of the text.
void check_cycles(std::string_view text, unsigned options, std::uint64_t seed, Emulation emulation,
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
    replay_options.realtime_epoch = system_epoch(emulation, timing, schedule, sentences);
    const Wide epoch = wide_ns(replay_options.realtime_epoch);
    replay_options.wake_latency_ns = [&timing] {
        return static_cast<std::int64_t>(timing.next() % 3'000'000);
    };
    // The kernel as the core was last told: what judged the cycle that
    // is being reported.
    s::KernelClock kernel{};
    replay_options.kernel_clock = [&](std::int64_t) {
        kernel = emulation.kernel(timing);
        return kernel;
    };

    // The refclock's offset: none (most configurations), a calibrated
    // first-byte latency, or one set wrong.
    constexpr std::int64_t latencies[] = {0, 0, 130'000'000, -400'000'000};
    emulation.latency_ns = latencies[timing.next() % std::size(latencies)];

    s::NmeaSettings settings{"fuzz", baud, min_fixes, floor};
    settings.witness.enabled = emulation.witness_enabled;
    settings.witness.latency_ns = emulation.latency_ns;
    // NMEA only: every published time must be one a sentence of the input
    // names (UBX epochs in the same core are fuzz_ubx's).
    settings.read_ubx = false;
    s::NmeaCore core(settings);
    std::size_t outcomes = 0;
    std::vector<s::CycleOutcome> published;
    // (receiver's time + latency) - system clock at the cycle's first byte,
    // and the witness's bound, from what the emulation handed in.
    const auto difference = [&](const s::CycleOutcome& o) {
        return wide_ns(*o.time->utc) + emulation.latency_ns - wide_ns(o.receive_time);
    };
    const auto bound = [](const s::KernelClock& k) {
        return static_cast<Wide>(std::max<std::int64_t>(k.maxerror_ns, 0)) + s::witness_margin_ns;
    };
    core.on_cycle([&](const s::CycleOutcome& o) {
        ++outcomes;
        const bool witnessed = emulation.witness_enabled && kernel.synchronized;
        if (o.kind == s::CycleOutcome::Kind::published) {
            FUZZ_CHECK(o.time && o.time->utc);
            // The witness's promise: never a published time that disagrees
            // with a synchronized kernel clock.
            FUZZ_CHECK(!witnessed || magnitude(difference(o)) <= bound(kernel));
            published.push_back(o);
        } else if (o.kind == s::CycleOutcome::Kind::witness) {
            // And it refuses only that.
            FUZZ_CHECK(witnessed && o.time && o.time->utc);
            FUZZ_CHECK(magnitude(difference(o)) > bound(kernel));
        }
    });
    const auto events = s::replay(core, schedule, replay_options);
    std::size_t next = 0;
    for (const s::ReplayEvent& event : events) {
        if (event.kind != s::ReplayEvent::Kind::published) {
            continue;
        }
        FUZZ_CHECK(next < published.size());
        const s::CycleOutcome& outcome = published[next++];
        const timespec reference = event.sample.reference_time;
        const timespec receive = event.sample.receive_time;
        // What the cycle reported, with the time a sentence of the input
        // names, stamped by the system clock within the replay's time.
        FUZZ_CHECK(reference.tv_sec == outcome.time->utc->tv_sec &&
                   reference.tv_nsec == outcome.time->utc->tv_nsec);
        FUZZ_CHECK(receive.tv_sec == outcome.receive_time.tv_sec &&
                   receive.tv_nsec == outcome.receive_time.tv_nsec);
        check_sentence(*outcome.time, text,
                       std::chrono::sys_days{floor}.time_since_epoch().count());
        check_from_input(*outcome.time, sentences);
        FUZZ_CHECK(receive.tv_nsec >= 0 && receive.tv_nsec < 1'000'000'000);
        const Wide latest = epoch + event.at_ns;
        constexpr Wide time_t_max = std::numeric_limits<time_t>::max();
        constexpr Wide time_t_min = std::numeric_limits<time_t>::min();
        if (epoch / s::ns_per_s > time_t_min && latest / s::ns_per_s < time_t_max) {
            // Not at the ends of time, where the stamps saturate.
            FUZZ_CHECK(wide_ns(receive) >= epoch && wide_ns(receive) <= latest);
        }
    }
    FUZZ_CHECK(next == published.size());
    FUZZ_CHECK(outcomes <= sentences.size());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 3) {
        return 0;
    }
    const unsigned options = data[0];
    const std::size_t chunk = data[1];
    Emulation emulation;
    emulation.bits = data[2];
    emulation.witness_enabled = (data[2] & 4) == 0;
    std::string text(reinterpret_cast<const char*>(data + 3), size - 3);
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

    check_cycles(text, options, chunk, emulation, floor, expected);
    return 0;
}
