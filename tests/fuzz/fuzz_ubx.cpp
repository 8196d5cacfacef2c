// libFuzzer target for the UBX framer and the timing messages' decoders
// (core/ubx_frame.hpp, core/ubx_messages.hpp); tests/fuzz/run-fuzz.sh builds
// and runs it beside the NMEA target. Besides the sanitizers (a decoder that
// reads past its payload, a misaligned or signed-overflowing read) it checks
// what the NMEA framing and the daemon rely on:
// - the items partition the input: every byte is in exactly one frame or
//   one run of other bytes, in stream order, other bytes unchanged;
// - each frame is what the input holds at its place, with a right checksum
//   (computed here) and a length within Framer::max_payload; the counters
//   add up (frames, frame and other bytes, refusals);
// - the framer never holds more than Framer::max_frame bytes between reads;
// - the split of the input into reads changes nothing but where other runs
//   are cut;
// - the decoders and helpers keep their ranges on any payload;
// - through the nmea source's core (NmeaCore, replayed as the daemon's
//   shell drives it, one cycle per NAV iTOW at 115200 Bd), reading UBX
//   only or UBX and NMEA cut into each other (issue 21, Done-when 4),
//   nothing crashes and every published second is one that a frame of the
//   input names with the leap-second count known: NAV-TIMEUTC with
//   validUTC, NAV-TIMEGPS with its TOW, week and leapS valid (GPS - leapS),
//   or NAV-PVT when a frame of the input said the count is known -- never
//   a time the receiver built on its firmware's count; or, with NMEA read,
//   the time of day of an NMEA sentence of the input, but never one of a
//   cycle that began after a frame said the count is not known, when no
//   frame of the input says it is (the NMEA is gated by the UBX's word).
//
// Input: byte 0 picks options, the rest is the stream.
//   bit 0: rewrite the checksum of every header whose length fits the
//     input first, so that the fuzzer gets past the checksum to the fields;
//   bits 1-7: seed of the read sizes (0: fed byte by byte); bits 6-7 also
//     min-fixes - 1 for the core, bit 5 also whether the core reads NMEA.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/nmea_core.hpp"
#include "core/nmea_parser.hpp"
#include "core/nmea_replay.hpp"
#include "core/ubx_frame.hpp"
#include "core/ubx_messages.hpp"
#include "fuzz_check.hpp"

using namespace shmrefclock::ubx;

namespace {

using Bytes = std::vector<std::uint8_t>;

// check_core's line: the writes of one second follow each other byte after
// byte (87 us apart at 115200 Bd); those of two seconds are at least 0.29 s
// apart (run-fuzz.sh's max_len, 8 KiB, takes 0.71 s), which the core sees as
// the end of a cycle (its batch period is 25 ms). Anything between the two
// tells them apart.
constexpr std::int64_t quiet_between_writes_ns = 10'000'000;

void fix_checksums(Bytes& bytes) {
    for (std::size_t at = 0; at + header_size <= bytes.size(); ++at) {
        if (bytes[at] != sync_char_1 || bytes[at + 1] != sync_char_2) {
            continue;
        }
        const std::size_t length = bytes[at + 4] | static_cast<std::size_t>(bytes[at + 5]) << 8;
        const std::size_t end = at + header_size + length;
        if (end + checksum_size > bytes.size()) {
            continue;
        }
        unsigned a = 0;
        unsigned b = 0;
        for (std::size_t i = at + 2; i < end; ++i) {
            a = (a + bytes[i]) & 0xff;
            b = (b + a) & 0xff;
        }
        bytes[end] = static_cast<std::uint8_t>(a);
        bytes[end + 1] = static_cast<std::uint8_t>(b);
    }
}

struct Result {
    std::vector<Item> frames;
    Bytes other;
    FrameCounters counters;
};

// Feeds `input` in reads of sizes drawn from `seed` (0: one byte at a time,
// -1: whole) and checks every item against the input.
Result frame_input(const Bytes& input, int seed) {
    Framer framer;
    Result result;
    std::uint64_t expected_begin = 0;
    std::uint32_t state = static_cast<std::uint32_t>(seed) * 2654435761u + 1;
    const auto check_items = [&](std::vector<Item> items) {
        for (Item& item : items) {
            // In stream order, nothing skipped, nothing twice.
            FUZZ_CHECK(item.stream_begin == expected_begin);
            FUZZ_CHECK(item.stream_end <= input.size());
            expected_begin = item.stream_end;
            if (item.kind == Item::Kind::frame) {
                const std::size_t length = item.bytes.size();
                FUZZ_CHECK(length <= Framer::max_payload);
                FUZZ_CHECK(item.stream_end - item.stream_begin ==
                           header_size + length + checksum_size);
                const std::uint8_t* at = input.data() + item.stream_begin;
                FUZZ_CHECK(at[0] == sync_char_1 && at[1] == sync_char_2);
                FUZZ_CHECK(at[2] == item.message_class && at[3] == item.message_id);
                FUZZ_CHECK((at[4] | static_cast<std::size_t>(at[5]) << 8) == length);
                FUZZ_CHECK(std::equal(item.bytes.begin(), item.bytes.end(), at + header_size));
                unsigned a = 0;
                unsigned b = 0;
                for (std::size_t i = 2; i < header_size + length; ++i) {
                    a = (a + at[i]) & 0xff;
                    b = (b + a) & 0xff;
                }
                FUZZ_CHECK(at[header_size + length] == a);
                FUZZ_CHECK(at[header_size + length + 1] == b);
                FUZZ_CHECK(item.known == decoded_message(item.message_class, item.message_id));
                result.frames.push_back(std::move(item));
            } else {
                FUZZ_CHECK(!item.bytes.empty());
                FUZZ_CHECK(item.stream_end - item.stream_begin == item.bytes.size());
                FUZZ_CHECK(
                    std::equal(item.bytes.begin(), item.bytes.end(),
                               input.begin() + static_cast<std::ptrdiff_t>(item.stream_begin)));
                result.other.insert(result.other.end(), item.bytes.begin(), item.bytes.end());
            }
        }
    };
    std::size_t at = 0;
    while (at < input.size()) {
        std::size_t size = input.size();
        if (seed == 0) {
            size = 1;
        } else if (seed > 0) {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            size = 1 + state % 300;
        }
        size = std::min(size, input.size() - at);
        check_items(framer.feed(std::span<const std::uint8_t>{input}.subspan(at, size)));
        at += size;
        FUZZ_CHECK(framer.position() == at);
        FUZZ_CHECK(framer.buffered() <= Framer::max_frame);
        // What is kept is the stream's tail, after the last item.
        FUZZ_CHECK(expected_begin + framer.buffered() == at);
    }
    check_items(framer.finish());
    FUZZ_CHECK(framer.buffered() == 0);
    FUZZ_CHECK(expected_begin == input.size());
    const FrameCounters& c = framer.counters();
    FUZZ_CHECK(c.good + c.unknown == result.frames.size());
    FUZZ_CHECK(c.frame_bytes + c.other_bytes == input.size());
    FUZZ_CHECK(c.other_bytes == result.other.size());
    // Each refusal hands on its two sync bytes.
    FUZZ_CHECK(2 * (c.bad_checksum + c.over_long + c.truncated) <= c.other_bytes);
    result.counters = c;
    return result;
}

bool same(const Result& a, const Result& b) {
    if (a.frames.size() != b.frames.size() || a.other != b.other) {
        return false;
    }
    for (std::size_t i = 0; i < a.frames.size(); ++i) {
        if (a.frames[i].stream_begin != b.frames[i].stream_begin ||
            a.frames[i].bytes != b.frames[i].bytes) {
            return false;
        }
    }
    return a.counters == b.counters;
}

void check_epoch(const std::optional<EpochTime>& epoch) {
    if (epoch) {
        FUZZ_CHECK(epoch->millisecond >= 0 && epoch->millisecond <= 999);
        FUZZ_CHECK(!epoch->leap_second || (epoch->posix_seconds + 1) % 86400 == 0);
    }
}

// Every decoder on `payload`, whatever its class and id.
void decode_all(Payload payload) {
    if (const auto m = decode_nav_pvt(payload)) {
        FUZZ_CHECK(payload.size() >= NavPvt::size);
        check_epoch(epoch_time(m->utc));
    }
    if (const auto m = decode_nav_timeutc(payload)) {
        FUZZ_CHECK(payload.size() >= NavTimeUtc::size);
        check_epoch(epoch_time(m->utc));
        FUZZ_CHECK(leap_count_known(*m) == m->valid_utc());
    }
    if (const auto m = decode_nav_timegps(payload)) {
        FUZZ_CHECK(payload.size() >= NavTimeGps::size);
        if (const auto t = gps_time(*m)) {
            FUZZ_CHECK(t->millisecond >= 0 && t->millisecond <= 999);
        }
        FUZZ_CHECK(!leap_count_known(*m) || (m->valid & 7) == 7);
    }
    if (const auto m = decode_nav_timels(payload)) {
        FUZZ_CHECK(payload.size() >= NavTimeLs::size && m->version == 0);
        FUZZ_CHECK(!leap_count_known(*m) ||
                   (m->valid_curr_ls() && m->src_of_curr_ls >= 1 && m->src_of_curr_ls <= 5));
    }
    if (const auto m = decode_tim_tp(payload)) {
        FUZZ_CHECK(payload.size() >= TimTp::size);
        const PulseTime pulse = pulse_time(*m);
        FUZZ_CHECK(pulse.tow_ns >= static_cast<std::int64_t>(m->tow_ms) * 1'000'000);
        FUZZ_CHECK(pulse.tow_ns <= (static_cast<std::int64_t>(m->tow_ms) + 1) * 1'000'000);
        FUZZ_CHECK(m->raim() <= 3);
    }
    if (const auto m = decode_mon_ver(payload)) {
        FUZZ_CHECK((payload.size() - 40) % 30 == 0);
        FUZZ_CHECK(m->extensions.size() == (payload.size() - 40) / 30);
        FUZZ_CHECK(m->sw_version.size() <= 30 && m->hw_version.size() <= 10);
        if (const auto v = protocol_version(*m)) {
            FUZZ_CHECK(v->major >= 0 && v->major <= 999 && v->minor >= 0 && v->minor <= 999);
        }
    }
    for (const std::uint8_t id : {std::uint8_t{0}, std::uint8_t{1}}) {
        if (const auto m = decode_ack(id, payload)) {
            FUZZ_CHECK(payload.size() >= 2 && m->acknowledged == (id == 1));
        }
    }
}

std::optional<std::int64_t> posix_of(const std::optional<EpochTime>& time) {
    if (!time || time->leap_second) {
        return std::nullopt;
    }
    return time->posix_seconds * 1000 + time->millisecond;
}

// The times (POSIX ms) the frames name with the leap-second count known,
// worked out from each frame alone (NAV-PVT's with any frame's word);
// `any_known` is set when a frame says the count is known.
std::vector<std::int64_t> named_with_count_known(const std::vector<Item>& frames, bool& any_known) {
    std::vector<std::int64_t> named;
    for (const Item& frame : frames) {
        const Payload payload{frame.bytes};
        if (is(nav_timeutc, frame.message_class, frame.message_id)) {
            if (const auto m = decode_nav_timeutc(payload); m && leap_count_known(*m)) {
                any_known = true;
                if (const auto t = posix_of(epoch_time(m->utc))) {
                    named.push_back(*t);
                }
            }
        } else if (is(nav_timegps, frame.message_class, frame.message_id)) {
            if (const auto m = decode_nav_timegps(payload); m && leap_count_known(*m)) {
                any_known = true;
                if (const auto t = gps_time(*m)) {
                    named.push_back((gps_posix_offset + t->seconds - m->leap_s) * 1000 +
                                    t->millisecond);
                }
            }
        } else if (is(nav_timels, frame.message_class, frame.message_id)) {
            if (const auto m = decode_nav_timels(payload); m && leap_count_known(*m)) {
                any_known = true;
            }
        }
    }
    if (any_known) { // in these frames or the other cut's: the core's word is the stream's
        for (const Item& frame : frames) {
            if (is(nav_pvt, frame.message_class, frame.message_id)) {
                if (const auto m = decode_nav_pvt(Payload{frame.bytes})) {
                    if (const auto t = posix_of(epoch_time(m->utc))) {
                        named.push_back(*t);
                    }
                }
            }
        }
    }
    return named;
}

// Whether a frame says the leap-second count is not known, at the length
// every protocol version's rule accepts (ubx::length_rule): the core keeps
// it, or an earlier frame of its type in the same epoch, which says the
// same when no frame of the input says the count is known.
bool says_count_unknown(const Item& frame) {
    const Payload payload{frame.bytes};
    const std::uint8_t c = frame.message_class;
    const std::uint8_t i = frame.message_id;
    if (is(nav_timeutc, c, i) && payload.size() == NavTimeUtc::size) {
        const auto m = decode_nav_timeutc(payload);
        return m && !leap_count_known(*m);
    }
    if (is(nav_timegps, c, i) && payload.size() == NavTimeGps::size) {
        const auto m = decode_nav_timegps(payload);
        return m && !leap_count_known(*m);
    }
    if (is(nav_timels, c, i) && payload.size() == NavTimeLs::size) {
        const auto m = decode_nav_timels(payload);
        return m && !leap_count_known(*m);
    }
    return false;
}

// The stream as the core cuts it: the line goes quiet between two writes
// a second apart (never inside one, nor between two of the same second),
// and the core hands what its framer holds then to the NMEA parser
// (NmeaCore::finish_cycle). Returns the frames; the NMEA parser's sentences'
// times of day (ms, 23:59:60 as 23:59:59, as POSIX has it) go to
// `nmea_times`.
std::vector<Item> frame_as_the_core(const shmrefclock::ByteSchedule& schedule,
                                    std::vector<std::int64_t>& nmea_times) {
    namespace s = shmrefclock;
    Framer framer;
    s::nmea::Parser parser(std::chrono::year{2000} / 1 / 1);
    std::vector<Item> frames;
    const auto take = [&](std::vector<Item> items) {
        for (Item& item : items) {
            if (item.kind == Item::Kind::frame) {
                frames.push_back(std::move(item));
                continue;
            }
            parser.feed(item.text(), [&](const s::nmea::Sentence& sentence) {
                if (sentence.time) {
                    const s::nmea::TimeOfDay& t = *sentence.time;
                    nmea_times.push_back(
                        (t.hour * 3600LL + t.minute * 60LL + std::min(t.second, 59)) * 1000 +
                        t.nanosecond / 1'000'000);
                }
            });
        }
    };
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(schedule.bytes.data());
    std::size_t from = 0;
    for (std::size_t at = 1; at <= schedule.bytes.size(); ++at) {
        if (at == schedule.bytes.size() ||
            schedule.arrival_ns[at] - schedule.arrival_ns[at - 1] > quiet_between_writes_ns) {
            take(framer.feed(std::span<const std::uint8_t>{bytes + from, at - from}));
            take(framer.finish());
            from = at;
        }
    }
    return frames;
}

// The input through NmeaCore, its frames and the bytes between them
// written a second apart at each new NAV iTOW, at 115200 Bd.
void check_core(const Bytes& input, const Result& framed, unsigned options) {
    namespace s = shmrefclock;
    s::ByteSchedule schedule;
    const std::int64_t byte_ns = s::byte_time_ns(115200);
    std::int64_t slot = s::ns_per_s;
    std::optional<std::uint32_t> itow;
    // Every byte of the input, in order: the frames at their places, and
    // the other bytes before each.
    std::size_t at = 0;
    for (const Item& frame : framed.frames) {
        if (frame.message_class == 0x01 && frame.bytes.size() >= 4) {
            const std::uint32_t here = frame.bytes[0] | frame.bytes[1] << 8 | frame.bytes[2] << 16 |
                                       static_cast<std::uint32_t>(frame.bytes[3]) << 24;
            if (itow && *itow != here) {
                slot += s::ns_per_s;
            }
            itow = here;
        }
        const std::string bytes(input.begin() + static_cast<std::ptrdiff_t>(at),
                                input.begin() + static_cast<std::ptrdiff_t>(frame.stream_end));
        schedule.write(slot, bytes, byte_ns);
        at = frame.stream_end;
    }
    if (at < input.size()) {
        schedule.write(slot,
                       std::string(input.begin() + static_cast<std::ptrdiff_t>(at), input.end()),
                       byte_ns);
    }
    s::NmeaSettings settings{"fuzz", 115200, static_cast<int>(options >> 6 & 3) + 1,
                             std::chrono::year{2000} / 1 / 1};
    settings.read_nmea = (options & 0x20) != 0;
    settings.stamps_are_evidence = false;
    s::NmeaCore core(settings);
    s::ReplayOptions replay_options;
    replay_options.realtime_epoch = timespec{1'700'000'000, 0};
    std::vector<std::int64_t> nmea_times;
    const std::vector<Item> frames = frame_as_the_core(schedule, nmea_times);
    // Both cuts of the stream (the whole input's and the core's): a frame
    // the one finds, the other may hand to the NMEA parser.
    bool any_known = false;
    std::vector<std::int64_t> named = named_with_count_known(framed.frames, any_known);
    const std::vector<std::int64_t> named_here = named_with_count_known(frames, any_known);
    named.insert(named.end(), named_here.begin(), named_here.end());
    // When no frame says the count is known: the line's time at the end of
    // the first frame that says it is not (the NMEA after it is gated).
    std::optional<std::int64_t> unknown_said_ns;
    if (!any_known) {
        for (const Item& frame : frames) {
            if (says_count_unknown(frame)) {
                unknown_said_ns = schedule.arrival_ns.at(frame.stream_end - 1);
                break;
            }
        }
    }
    for (const s::ReplayEvent& event : s::replay(core, schedule, replay_options)) {
        if (event.kind != s::ReplayEvent::Kind::published) {
            continue;
        }
        const timespec reference = event.sample.reference_time;
        const std::int64_t ms =
            static_cast<std::int64_t>(reference.tv_sec) * 1000 + reference.tv_nsec / 1'000'000;
        if (reference.tv_nsec % 1'000'000 == 0 &&
            std::find(named.begin(), named.end(), ms) != named.end()) {
            continue;
        }
        // Not a second a frame names with the count known: only NMEA's.
        FUZZ_CHECK(settings.read_nmea);
        const std::int64_t of_day = (ms % (86'400 * 1000) + 86'400 * 1000) % (86'400 * 1000);
        FUZZ_CHECK(std::find(nmea_times.begin(), nmea_times.end(), of_day) != nmea_times.end());
        if (unknown_said_ns) {
            const std::int64_t received_ns =
                s::timespec_diff_ns(event.sample.receive_time, replay_options.realtime_epoch);
            FUZZ_CHECK(received_ns <= *unknown_said_ns);
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) {
        return 0;
    }
    const unsigned options = data[0];
    Bytes input(data + 1, data + size);
    if (options & 1) {
        fix_checksums(input);
    }
    const Result whole = frame_input(input, -1);
    const Result split = frame_input(input, static_cast<int>(options >> 1));
    FUZZ_CHECK(same(whole, split));

    for (const Item& frame : whole.frames) {
        decode_all(frame.bytes);
    }
    check_core(input, whole, options);
    // And on the raw input at every length up to the largest message, so
    // that each decoder meets each short length.
    for (std::size_t length = 0; length <= std::min<std::size_t>(input.size(), 130); ++length) {
        decode_all(std::span<const std::uint8_t>{input}.first(length));
    }
    return 0;
}
