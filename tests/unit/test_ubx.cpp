// The UBX framer and the timing messages' decoders, on the u-blox captures in
// tests/data/ubx (gpsd's regression logs) and on damaged streams made here.
// Expected values come from the captures' README, from gpsd's decode in the
// .chk files, from the standard library's calendar, or from the bytes as u-blox's interface
// descriptions define them -- never from the code under test.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/nmea_parser.hpp"
#include "core/ubx_frame.hpp"
#include "core/ubx_messages.hpp"
#include "test_data_dir.hpp"
#include "ubx_test_frames.hpp"

using namespace shmrefclock::ubx;

namespace {

using ubx_test::Bytes;
using ubx_test::capture;
using ubx_test::frame;
using ubx_test::read_file;
using ubx_test::sentence;

// What a stream framed to: the frames, every other byte (with its position,
// so that a split cannot move one unseen), and the counters.
struct Framed {
    std::vector<Item> frames;
    std::string other;
    std::vector<std::uint64_t> other_at;
    FrameCounters counters;
    std::size_t max_buffered = 0;
};

void collect(Framed& result, std::vector<Item> items) {
    for (Item& item : items) {
        REQUIRE(item.stream_end - item.stream_begin ==
                (item.kind == Item::Kind::frame ? item.bytes.size() + 8 : item.bytes.size()));
        if (item.kind == Item::Kind::frame) {
            result.frames.push_back(std::move(item));
        } else {
            for (std::size_t i = 0; i < item.bytes.size(); ++i) {
                result.other_at.push_back(item.stream_begin + i);
            }
            result.other += item.text();
        }
    }
}

// `bytes` fed in reads of the given sizes (cycled; {} = whole), then finish().
Framed frame_stream(const std::string& bytes, const std::vector<std::size_t>& reads = {}) {
    Framer framer;
    Framed result;
    std::size_t at = 0;
    std::size_t next = 0;
    while (at < bytes.size()) {
        const std::size_t size = reads.empty() ? bytes.size() : reads[next++ % reads.size()];
        collect(result, framer.feed(std::string_view{bytes}.substr(at, size)));
        at += size;
        result.max_buffered = std::max(result.max_buffered, framer.buffered());
    }
    collect(result, framer.finish());
    REQUIRE(framer.buffered() == 0);
    result.counters = framer.counters();
    REQUIRE(framer.position() == bytes.size());
    return result;
}

bool same(const Framed& a, const Framed& b) {
    if (a.frames.size() != b.frames.size() || a.other != b.other || a.other_at != b.other_at) {
        return false;
    }
    for (std::size_t i = 0; i < a.frames.size(); ++i) {
        const Item& x = a.frames[i];
        const Item& y = b.frames[i];
        if (x.message_class != y.message_class || x.message_id != y.message_id ||
            x.bytes != y.bytes || x.stream_begin != y.stream_begin || x.known != y.known) {
            return false;
        }
    }
    return a.counters == b.counters;
}

std::vector<const Item*> of_type(const Framed& framed, MessageType type) {
    std::vector<const Item*> items;
    for (const Item& item : framed.frames) {
        if (is(type, item.message_class, item.message_id)) {
            items.push_back(&item);
        }
    }
    return items;
}

// POSIX seconds of a UTC date and time, by the standard library's calendar.
std::int64_t utc(int year, unsigned month, unsigned day, int hour, int minute, int second) {
    const std::chrono::sys_days date{std::chrono::year{year} / std::chrono::month{month} /
                                     std::chrono::day{day}};
    return date.time_since_epoch().count() * 86400 + hour * 3600 + minute * 60 + second;
}

// The TPV times gpsd decoded (whole seconds only), as POSIX seconds.
std::set<std::int64_t> chk_tpv_seconds(const std::string& name) {
    const std::string text = read_file(shmrefclock::test::test_data_dir() + "/ubx/" + name);
    std::set<std::int64_t> seconds;
    std::size_t at = 0;
    while ((at = text.find("{\"class\":\"TPV\"", at)) != std::string::npos) {
        const std::size_t end = text.find('\n', at);
        const std::size_t time = text.find("\"time\":\"", at);
        at = end;
        if (time == std::string::npos || time > end) {
            continue; // a TPV without a time
        }
        int y, h, mi, s, ms;
        unsigned mo, d;
        REQUIRE(std::sscanf(text.c_str() + time, "\"time\":\"%d-%u-%uT%d:%d:%d.%dZ", &y, &mo, &d,
                            &h, &mi, &s, &ms) == 7);
        seconds.insert(utc(y, mo, d, h, mi, s));
    }
    return seconds;
}

Bytes le32(std::uint32_t v) {
    return {static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8),
            static_cast<std::uint8_t>(v >> 16), static_cast<std::uint8_t>(v >> 24)};
}

Payload span_of(const Item& item) {
    return Payload{item.bytes};
}

constexpr std::int64_t gps_epoch = 315964800; // 1980-01-06, `date -u -d 1980-01-06 +%s`
constexpr std::int64_t week_seconds = 604800;

} // namespace

TEST_CASE("the test's own frame and checksum match a real frame", "[ubx]") {
    // UBX-ACK-ACK for CFG-MSG as u-blox receivers send it.
    const std::string ack{"\xb5\x62\x05\x01\x02\x00\x06\x01\x0f\x38", 10};
    CHECK(frame(0x05, 0x01, {0x06, 0x01}) == ack);
    const Bytes body{0x05, 0x01, 0x02, 0x00, 0x06, 0x01};
    const Checksum sum = checksum(body);
    CHECK(sum.a == 0x0f);
    CHECK(sum.b == 0x38);

    const Framed framed = frame_stream(ack);
    REQUIRE(framed.frames.size() == 1);
    CHECK(framed.counters.good == 1);
    const std::optional<Ack> decoded =
        decode_ack(framed.frames[0].message_id, span_of(framed.frames[0]));
    REQUIRE(decoded);
    CHECK(decoded->acknowledged);
    CHECK(decoded->message_class == 0x06);
    CHECK(decoded->message_id == 0x01);
}

TEST_CASE("every capture frames into the message counts of its README", "[ubx]") {
    struct Expected {
        const char* file;
        std::size_t tim_tp, timeutc, timels, timegps, pvt;
        // The last frame of three captures is cut off by the end of the file
        // (xxd: a NAV-SAT and two NAV-TIMEGPS short of their length).
        std::uint64_t truncated;
    };
    const Expected table[] = {
        {"u-blox-m8t-time.log", 152, 151, 151, 151, 0, 1},
        {"ublox-glo.log", 0, 0, 1, 300, 299, 0},
        {"ublox-zed-f9p-hp.log", 0, 29, 29, 29, 29, 0},
        {"ublox-aek-4t.log", 4, 3, 0, 3, 0, 0},
        {"ublox-8-time.log", 0, 0, 0, 88, 0, 1},
        {"ublox-zed-f9t-ubx_nmea_l5.log", 0, 0, 0, 9, 9, 0},
        {"ublox-neo-m8n.log", 0, 0, 0, 23, 24, 1},
    };
    for (const Expected& e : table) {
        INFO(e.file);
        const std::string bytes = capture(e.file);
        const Framed framed = frame_stream(bytes);
        CHECK(of_type(framed, tim_tp).size() == e.tim_tp);
        CHECK(of_type(framed, nav_timeutc).size() == e.timeutc);
        CHECK(of_type(framed, nav_timels).size() == e.timels);
        CHECK(of_type(framed, nav_timegps).size() == e.timegps);
        CHECK(of_type(framed, nav_pvt).size() == e.pvt);
        // "Every UBX frame in these files has a right checksum."
        CHECK(framed.counters.bad_checksum == 0);
        CHECK(framed.counters.over_long == 0);
        CHECK(framed.counters.truncated == e.truncated);
        CHECK(framed.counters.good + framed.counters.unknown == framed.frames.size());
        CHECK(framed.counters.frame_bytes + framed.counters.other_bytes == bytes.size());
        CHECK(framed.other.size() == framed.counters.other_bytes);
        CHECK(framed.max_buffered <= Framer::max_frame);
        // Every timing message decodes.
        for (const Item* item : of_type(framed, tim_tp)) {
            CHECK(decode_tim_tp(span_of(*item)));
        }
        for (const Item* item : of_type(framed, nav_timeutc)) {
            CHECK(decode_nav_timeutc(span_of(*item)));
        }
        for (const Item* item : of_type(framed, nav_timels)) {
            CHECK(decode_nav_timels(span_of(*item)));
        }
        for (const Item* item : of_type(framed, nav_timegps)) {
            CHECK(decode_nav_timegps(span_of(*item)));
        }
        for (const Item* item : of_type(framed, nav_pvt)) {
            CHECK(decode_nav_pvt(span_of(*item)));
        }
    }
}

TEST_CASE("the mixed ZED-F9T stream: the NMEA sentences come through intact", "[ubx]") {
    const std::string bytes = capture("ublox-zed-f9t-ubx_nmea_l5.log");
    const Framed framed = frame_stream(bytes);
    // What the NMEA parser makes of the framer's other bytes: every time
    // sentence of the capture (9 GNGGA, 9 GNZDA, 9 GNRMC: `grep -ao` on the
    // capture), none with a bad checksum, no garbage: the UBX is gone.
    shmrefclock::nmea::Parser parser{std::chrono::year{2020} / 1 / 1};
    std::map<std::string, int> by_name;
    parser.feed(framed.other, [&](const shmrefclock::nmea::Sentence& s) {
        ++by_name[std::string{s.name()}];
        CHECK(s.valid);
    });
    CHECK(by_name["GNGGA"] == 9);
    CHECK(by_name["GNZDA"] == 9);
    CHECK(by_name["GNRMC"] == 9);
    CHECK(parser.counters().bad_checksum == 0);
    CHECK(parser.counters().garbage == 0);
    // Every sentence's '$' is handed on, and no '$' byte of a UBX payload:
    // 252 sentences (`grep -aoE '\$G[A-Z]{4},' | wc -l` on the capture).
    CHECK(std::count(framed.other.begin(), framed.other.end(), '$') == 252);
}

TEST_CASE("ublox-glo.log: leap count not known in any epoch, though NAV-PVT is fully resolved",
          "[ubx]") {
    const Framed framed = frame_stream(capture("ublox-glo.log"));
    const auto timegps = of_type(framed, nav_timegps);
    REQUIRE(timegps.size() == 300);
    for (const Item* item : timegps) {
        const auto m = decode_nav_timegps(span_of(*item));
        REQUIRE(m);
        CHECK(m->valid == 0x03); // README: TOW and week valid, leapS not
        CHECK(m->leap_s == 18);  // the firmware's default, not knowledge
        CHECK(m->t_acc_ns == 0xFFFFFFFFu);
        CHECK_FALSE(leap_count_known(*m));
    }
    const auto timels = of_type(framed, nav_timels);
    REQUIRE(timels.size() == 1);
    const auto ls = decode_nav_timels(span_of(*timels[0]));
    REQUIRE(ls);
    CHECK(ls->src_of_curr_ls == 255);
    CHECK(ls->valid == 0x02);
    CHECK(ls->valid_time_to_ls_event());
    CHECK_FALSE(ls->valid_curr_ls());
    CHECK(ls->time_to_ls_event == -53765);
    CHECK(ls->date_of_ls_gps_wn == 2268);
    CHECK(ls->date_of_ls_gps_dn == 3);
    CHECK_FALSE(leap_count_known(*ls));
    const auto pvt = of_type(framed, nav_pvt);
    REQUIRE(pvt.size() == 299);
    for (const Item* item : pvt) {
        const auto m = decode_nav_pvt(span_of(*item));
        REQUIRE(m);
        CHECK(m->valid == 0x67);
        CHECK(m->fully_resolved());
        CHECK(m->valid_date());
        CHECK(m->valid_time());
    }
}

TEST_CASE("u-blox-m8t-time.log: TIM-TP names the next pulse of the TIMEUTC epoch after it",
          "[ubx]") {
    const Framed framed = frame_stream(capture("u-blox-m8t-time.log"));
    const std::set<std::int64_t> gpsd_times = chk_tpv_seconds("u-blox-m8t-time.log.chk");
    REQUIRE(gpsd_times.size() >= 150);
    std::int32_t q_min = 0;
    std::int32_t q_max = 0;
    std::optional<TimTp> pending;
    int pairs = 0;
    int named_by_gpsd = 0;
    for (const Item& item : framed.frames) {
        if (is(tim_tp, item.message_class, item.message_id)) {
            const auto tp = decode_tim_tp(span_of(item));
            REQUIRE(tp);
            CHECK(tp->flags == 0x0B); // README: UTC time base, UTC available, RAIM
            CHECK(tp->utc_time_base());
            CHECK(tp->utc_available());
            CHECK(tp->raim() == 2);
            CHECK(tp->q_err_valid());
            CHECK_FALSE(tp->tp_not_locked());
            CHECK(tp->tow_sub_ms == 0);
            q_min = std::min(q_min, tp->q_err_ps);
            q_max = std::max(q_max, tp->q_err_ps);
            pending = tp;
        } else if (is(nav_timeutc, item.message_class, item.message_id)) {
            const auto m = decode_nav_timeutc(span_of(item));
            REQUIRE(m);
            CHECK(m->valid_utc());
            CHECK(leap_count_known(*m));
            // README: nano about +321 us (it drifts from 321,732 to 294,030
            // ns over the capture), so the epoch is ms 0 of its second.
            CHECK(m->utc.nano > 290'000);
            CHECK(m->utc.nano < 330'000);
            const auto epoch = epoch_time(m->utc);
            REQUIRE(epoch);
            CHECK(epoch->millisecond == 0);
            named_by_gpsd += gpsd_times.count(epoch->posix_seconds) != 0;
            if (pending) {
                // The pulse after this epoch, as UTC week and time of week.
                const std::int64_t next = epoch->posix_seconds + 1 - gps_epoch;
                const PulseTime pulse = pulse_time(*pending);
                CHECK(pulse.utc);
                CHECK(pulse.week == next / week_seconds);
                CHECK(pulse.tow_ns == next % week_seconds * 1'000'000'000);
                ++pairs;
                pending.reset();
            }
        } else if (is(nav_timegps, item.message_class, item.message_id)) {
            const auto m = decode_nav_timegps(span_of(item));
            REQUIRE(m);
            CHECK(m->valid == 0x07);
            CHECK(leap_count_known(*m));
        }
    }
    CHECK(q_min == -10158); // README: qErr between -10158 and +10086 ps
    CHECK(q_max == 10086);
    CHECK(pairs == 151);
    // gpsd's TPV times are those TIMEUTC epochs (gpsd reports 150).
    CHECK(named_by_gpsd == static_cast<int>(gpsd_times.size()));
}

TEST_CASE("u-blox-m8t-time.log: NAV-TIMELS valid current count from an unknown source is not "
          "knowledge",
          "[ubx]") {
    // 121 of its TIMELS say validCurrLs with srcOfCurrLs 255 (unknown), 30
    // say source 1 (GPS-GLONASS difference); TIMEUTC says validUTC throughout.
    const Framed framed = frame_stream(capture("u-blox-m8t-time.log"));
    int unknown_source = 0;
    int glonass = 0;
    for (const Item* item : of_type(framed, nav_timels)) {
        const auto m = decode_nav_timels(span_of(*item));
        REQUIRE(m);
        CHECK(m->curr_ls == 18);
        CHECK(m->valid_curr_ls());
        if (m->src_of_curr_ls == 255) {
            ++unknown_source;
            CHECK_FALSE(leap_count_known(*m));
        } else {
            CHECK(m->src_of_curr_ls == 1);
            ++glonass;
            CHECK(leap_count_known(*m));
        }
    }
    CHECK(unknown_source == 121);
    CHECK(glonass == 30);
}

TEST_CASE("ublox-zed-f9p-hp.log: TIMELS current count 18 from GPS, no change scheduled", "[ubx]") {
    const Framed framed = frame_stream(capture("ublox-zed-f9p-hp.log"));
    const auto timels = of_type(framed, nav_timels);
    REQUIRE(timels.size() == 29);
    const auto first = decode_nav_timels(span_of(*timels[0]));
    REQUIRE(first);
    CHECK(first->time_to_ls_event == -72739159); // README
    for (const Item* item : timels) {
        const auto m = decode_nav_timels(span_of(*item));
        REQUIRE(m);
        CHECK(m->version == 0);
        CHECK(m->curr_ls == 18);
        CHECK(m->src_of_curr_ls == 2);
        CHECK(m->ls_change == 0);
        CHECK(m->date_of_ls_gps_wn == 1929);
        CHECK(m->date_of_ls_gps_dn == 7);
        CHECK(m->valid == 0x03);
        CHECK(leap_count_known(*m));
    }
    // Its TIMEUTC and NAV-PVT name the seconds gpsd reported.
    const std::set<std::int64_t> gpsd_times = chk_tpv_seconds("ublox-zed-f9p-hp.log.chk");
    REQUIRE(gpsd_times.size() == 28);
    std::set<std::int64_t> timeutc;
    for (const Item* item : of_type(framed, nav_timeutc)) {
        const auto m = decode_nav_timeutc(span_of(*item));
        REQUIRE(m);
        CHECK(m->utc_standard() == 3);
        CHECK(leap_count_known(*m));
        const auto epoch = epoch_time(m->utc);
        REQUIRE(epoch);
        timeutc.insert(epoch->posix_seconds);
    }
    std::set<std::int64_t> pvt;
    for (const Item* item : of_type(framed, nav_pvt)) {
        const auto m = decode_nav_pvt(span_of(*item));
        REQUIRE(m);
        const auto epoch = epoch_time(m->utc);
        REQUIRE(epoch);
        pvt.insert(epoch->posix_seconds);
    }
    CHECK(timeutc == pvt);
    CHECK(std::includes(timeutc.begin(), timeutc.end(), gpsd_times.begin(), gpsd_times.end()));
}

TEST_CASE("a bad checksum: an NMEA sentence inside the claimed payload comes through", "[ubx]") {
    const std::string zda = sentence("GNRMC,120000.00,A,4400.0,N,12100.0,W,0.0,0.0,061226,,,A");
    std::string bad = frame(0x01, 0x07, Bytes(92, 0));
    bad[bad.size() - 1] ^= 0x55; // CK_B wrong
    // The bad frame's header, three bytes of its payload, then a real sentence
    // and a real frame inside what it claims as its payload.
    const std::string good = frame(0x0D, 0x01, Bytes(16, 7));
    const std::string stream = bad.substr(0, 9) + zda + good + bad.substr(9) + zda;
    const Framed framed = frame_stream(stream);
    CHECK(framed.counters.bad_checksum == 1);
    REQUIRE(framed.frames.size() == 1);
    CHECK(framed.frames[0].message_class == 0x0D);
    CHECK(framed.frames[0].stream_begin == 9 + zda.size());
    shmrefclock::nmea::Parser parser{std::chrono::year{2020} / 1 / 1};
    int sentences = 0;
    parser.feed(framed.other, [&](const shmrefclock::nmea::Sentence& s) {
        CHECK(s.valid);
        ++sentences;
    });
    CHECK(sentences == 2);
    CHECK(framed.counters.frame_bytes + framed.counters.other_bytes == stream.size());
}

TEST_CASE("noise before, between and after frames is handed on, frames found", "[ubx]") {
    std::mt19937 random{21};
    std::string noise;
    for (int i = 0; i < 5000; ++i) {
        // Plenty of 0xB5 and 0x62 among the noise.
        const unsigned r = random() % 8;
        noise.push_back(static_cast<char>(r == 0 ? 0xB5 : r == 1 ? 0x62 : random() % 256));
    }
    const std::string good = frame(0x01, 0x20, Bytes(16, 1));
    const std::string stream = noise + good + noise.substr(0, 100) + good + noise.substr(100, 3);
    const Framed framed = frame_stream(stream);
    int found = 0;
    for (const Item& item : framed.frames) {
        if (is(nav_timegps, item.message_class, item.message_id) && item.bytes == Bytes(16, 1)) {
            ++found;
        }
    }
    CHECK(found == 2);
    CHECK(framed.counters.frame_bytes + framed.counters.other_bytes == stream.size());
    CHECK(framed.max_buffered <= Framer::max_frame);
}

TEST_CASE("a header claiming 65,535 bytes is refused at once, the frames after it read", "[ubx]") {
    const std::string claim{"\xb5\x62\x01\x07\xff\xff", 6};
    const std::string good = frame(0x01, 0x21, Bytes(20, 3));
    Framer framer;
    auto items = framer.feed(claim);
    // Refused at its header: nothing buffered, the six bytes handed on.
    CHECK(framer.counters().over_long == 1);
    CHECK(framer.buffered() == 0);
    REQUIRE(items.size() == 1);
    CHECK(items[0].kind == Item::Kind::other);
    CHECK(items[0].text() == claim);
    items = framer.feed(good + good);
    REQUIRE(items.size() == 2);
    CHECK(items[0].kind == Item::Kind::frame);
    CHECK(items[0].stream_begin == 6);
    CHECK(items[1].stream_begin == 6 + good.size());
    CHECK(framer.counters().good == 2);
    // The largest accepted length is buffered, one more is not.
    Framer edge;
    const std::size_t max = Framer::max_payload;
    const std::string at_max = frame(0x01, 0x43, Bytes(max, 0));
    edge.feed(at_max.substr(0, 100));
    CHECK(edge.buffered() == 100);
    CHECK(edge.feed(at_max.substr(100)).size() == 1);
    CHECK(edge.counters().unknown == 1);
    const std::string over = frame(0x01, 0x43, Bytes(max + 1, 0));
    edge.feed(over.substr(0, 6));
    CHECK(edge.counters().over_long == 1);
    CHECK(edge.buffered() == 0);
}

TEST_CASE("a frame cut by the end of the stream is counted truncated, its bytes handed on",
          "[ubx]") {
    const std::string good = frame(0x01, 0x20, Bytes(16, 1));
    const std::string zda = sentence("GNZDA,120000.00,06,12,2026,00,00");
    // Cut inside the header, inside the payload, before the last checksum byte.
    for (const std::size_t cut : {std::size_t{3}, std::size_t{10}, good.size() - 1}) {
        INFO(cut);
        const std::string stream = zda + good.substr(0, cut);
        Framer framer;
        const auto items = framer.feed(stream);
        CHECK(framer.buffered() == cut);
        const auto rest = framer.finish();
        CHECK(framer.counters().truncated == 1);
        CHECK(framer.buffered() == 0);
        std::string other;
        for (const auto* batch : {&items, &rest}) {
            for (const Item& item : *batch) {
                REQUIRE(item.kind == Item::Kind::other);
                other += item.text();
            }
        }
        CHECK(other == stream);
    }
    // A lone 0xB5 at the end is not a frame.
    Framer lone;
    lone.feed(std::string{"\xb5", 1});
    CHECK(lone.finish().size() == 1);
    CHECK(lone.counters().truncated == 0);
}

TEST_CASE("0xB5 0x62 inside an NMEA sentence: the line goes on unchanged, the next one is read",
          "[ubx]") {
    std::string damaged = sentence("GNRMC,120000.00,A,4400.0,N,12100.0,W,0.0,0.0,061226,,,A");
    damaged.insert(20, "\xb5\x62");
    const std::string next = sentence("GNZDA,120001.00,06,12,2026,00,00");
    const std::string stream = damaged + next;
    const Framed framed = frame_stream(stream);
    CHECK(framed.frames.empty());
    // Two printable characters make a length of at least 0x2020: refused at
    // the header.
    CHECK(framed.counters.over_long == 1);
    CHECK(framed.other == stream);
    shmrefclock::nmea::Parser parser{std::chrono::year{2020} / 1 / 1};
    std::vector<std::string> names;
    parser.feed(framed.other,
                [&](const shmrefclock::nmea::Sentence& s) { names.emplace_back(s.name()); });
    CHECK(names == std::vector<std::string>{"GNZDA"});
}

TEST_CASE("the split of a stream into reads never changes what it frames to", "[ubx]") {
    // A sample of the mixed capture (UBX and NMEA cut into each other at
    // every boundary) with damage of every kind spliced in.
    const std::string mixed = capture("ublox-zed-f9t-ubx_nmea_l5.log");
    std::string bad = frame(0x01, 0x21, Bytes(20, 9));
    bad[bad.size() - 2] ^= 1;
    const std::string sample = mixed.substr(0, 700) + bad.substr(0, 12) +
                               sentence("GNZDA,120000.00,06,12,2026,00,00") + bad.substr(12) +
                               std::string{"\xb5\x62\x01\x07\xff\xff\xb5\xb5\x62", 9} +
                               frame(0x0D, 0x01, Bytes(16, 4)) + mixed.substr(700, 500) +
                               frame(0x01, 0x20, Bytes(16, 2)).substr(0, 11);
    const Framed whole = frame_stream(sample);
    CHECK(whole.counters.bad_checksum >= 1);
    CHECK(whole.counters.over_long >= 1);
    CHECK(whole.counters.truncated >= 1);
    CHECK(whole.frames.size() >= 3);
    // Two reads, split at every point.
    for (std::size_t split = 1; split < sample.size(); ++split) {
        INFO(split);
        REQUIRE(same(frame_stream(sample, {split, sample.size()}), whole));
    }
    // Byte by byte, and in reads of assorted sizes.
    CHECK(same(frame_stream(sample, {1}), whole));
    CHECK(same(frame_stream(sample, {7, 1, 64, 3, 500}), whole));
    // Each capture whole, byte by byte and in odd reads.
    for (const char* name :
         {"u-blox-m8t-time.log", "ublox-zed-f9t-ubx_nmea_l5.log", "ublox-neo-m8n.log"}) {
        INFO(name);
        const std::string bytes = capture(name);
        const Framed reference = frame_stream(bytes);
        CHECK(same(frame_stream(bytes, {1}), reference));
        CHECK(same(frame_stream(bytes, {13, 257, 2, 4096}), reference));
    }
}

TEST_CASE("memory stays bounded on hostile input", "[ubx]") {
    // Sync after sync, each header claiming the largest accepted payload:
    // the candidate may grow to max_frame and no further.
    std::string hostile;
    const char header[] = {'\xb5',
                           '\x62',
                           '\x01',
                           '\x07',
                           static_cast<char>(Framer::max_payload & 0xff),
                           static_cast<char>(Framer::max_payload >> 8)};
    for (int i = 0; i < 400; ++i) {
        hostile.append(header, sizeof header);
        hostile.append(97, '\xb5');
    }
    Framer framer;
    std::size_t max_buffered = 0;
    std::uint64_t handed_on = 0;
    for (std::size_t at = 0; at < hostile.size(); at += 333) {
        for (const Item& item : framer.feed(std::string_view{hostile}.substr(at, 333))) {
            handed_on += item.bytes.size();
        }
        max_buffered = std::max(max_buffered, framer.buffered());
    }
    CHECK(max_buffered <= Framer::max_frame);
    CHECK(framer.counters().bad_checksum > 0);
    for (const Item& item : framer.finish()) {
        handed_on += item.bytes.size();
    }
    CHECK(handed_on == hostile.size());
}

TEST_CASE("decoders refuse short payloads and read the known prefix of longer ones", "[ubx]") {
    const struct {
        const char* name;
        std::size_t size;
        bool (*decodes)(Payload);
    } messages[] = {
        {"NAV-PVT", 92, [](Payload p) { return decode_nav_pvt(p).has_value(); }},
        {"NAV-TIMEUTC", 20, [](Payload p) { return decode_nav_timeutc(p).has_value(); }},
        {"NAV-TIMEGPS", 16, [](Payload p) { return decode_nav_timegps(p).has_value(); }},
        {"NAV-TIMELS", 24, [](Payload p) { return decode_nav_timels(p).has_value(); }},
        {"TIM-TP", 16, [](Payload p) { return decode_tim_tp(p).has_value(); }},
    };
    for (const auto& m : messages) {
        INFO(m.name);
        const Bytes payload(m.size + 8, 0);
        CHECK(m.decodes(Payload{payload}.first(m.size)));
        CHECK(m.decodes(Payload{payload}));
        CHECK_FALSE(m.decodes(Payload{payload}.first(m.size - 1)));
        CHECK_FALSE(m.decodes(Payload{}));
    }
    // NAV-TIMELS: only version 0 is described.
    Bytes timels(24, 0);
    timels[4] = 1;
    CHECK_FALSE(decode_nav_timels(timels));
    CHECK_FALSE(decode_ack(0x01, Bytes{0x06}));
    CHECK_FALSE(decode_ack(0x02, Bytes{0x06, 0x01}));
    const auto nak = decode_ack(0x00, Bytes{0x06, 0x8a});
    REQUIRE(nak);
    CHECK_FALSE(nak->acknowledged);
    CHECK(nak->message_id == 0x8a);
}

TEST_CASE("little-endian fields and signs, from bytes laid out by hand", "[ubx]") {
    // TIM-TP: towMS 0x0E2D9BB0 (237870000), towSubMS 2^31 (0.5 ms), qErr
    // -4331 (0xFFFFEF15), week 2146 (0x0862), flags 0x3B, refInfo 0x0F.
    Bytes tp{0xB0, 0x9B, 0x2D, 0x0E, 0x00, 0x00, 0x00, 0x80,
             0x15, 0xEF, 0xFF, 0xFF, 0x62, 0x08, 0x3B, 0x0F};
    // At an odd address: no aligned load may be assumed.
    Bytes shifted(1, 0);
    shifted.insert(shifted.end(), tp.begin(), tp.end());
    const auto m = decode_tim_tp(Payload{shifted}.subspan(1));
    REQUIRE(m);
    CHECK(m->tow_ms == 237870000u);
    CHECK(m->tow_sub_ms == 0x80000000u);
    CHECK(m->q_err_ps == -4331);
    CHECK(m->week == 2146);
    CHECK(m->utc_time_base());
    CHECK(m->utc_available());
    CHECK(m->raim() == 2);
    CHECK_FALSE(m->q_err_valid());
    CHECK(m->tp_not_locked());
    CHECK(m->time_ref_gnss() == 15);
    const PulseTime pulse = pulse_time(*m);
    CHECK(pulse.tow_ns == 237870000LL * 1'000'000 + 500'000);
    // towSubMS 0xFFFFFFFF: 0.99999999977 ms, rounded to 1,000,000 ns.
    Bytes almost = tp;
    almost[4] = almost[5] = almost[6] = almost[7] = 0xFF;
    CHECK(pulse_time(*decode_tim_tp(almost)).tow_ns == 237870001LL * 1'000'000);

    // NAV-TIMEGPS: iTOW 1000, fTOW -400000 ns, week -1 (0xFFFF), leapS -3.
    Bytes gps{0xE8, 0x03, 0x00, 0x00, 0x80, 0xE5, 0xF9, 0xFF, 0xFF, 0xFF, 0xFD, 0x07};
    const Bytes t_acc = le32(0xFFFFFFFFu);
    gps.insert(gps.end(), t_acc.begin(), t_acc.end());
    const auto g = decode_nav_timegps(gps);
    REQUIRE(g);
    CHECK(g->ftow_ns == -400000);
    CHECK(g->week == -1);
    CHECK(g->leap_s == -3);
    CHECK(g->t_acc_ns == 0xFFFFFFFFu);
    CHECK_FALSE(gps_time(*g)); // no negative week
    gps[8] = 0x62;
    gps[9] = 0x08; // week 2146
    const auto g2 = gps_time(*decode_nav_timegps(gps));
    REQUIRE(g2);
    // 1000 ms - 0.4 ms rounds to 1000 ms: second 1 of week 2146.
    CHECK(g2->seconds == 2146 * week_seconds + 1);
    CHECK(g2->millisecond == 0);
}

TEST_CASE("leap count known: which bits and sources count", "[ubx]") {
    NavTimeUtc utc_message;
    utc_message.valid = 0x03; // TOW and week, not UTC
    CHECK_FALSE(leap_count_known(utc_message));
    utc_message.valid = 0x04 | 0xF0;
    CHECK(leap_count_known(utc_message));

    NavTimeGps gps;
    for (unsigned valid = 0; valid < 8; ++valid) {
        gps.valid = static_cast<std::uint8_t>(valid);
        CHECK(leap_count_known(gps) == (valid == 7));
    }

    NavTimeLs ls;
    ls.valid = 0x03;
    for (unsigned source = 0; source < 256; ++source) {
        ls.src_of_curr_ls = static_cast<std::uint8_t>(source);
        CHECK(leap_count_known(ls) == (source >= 1 && source <= 5));
    }
    // "Time to the event valid" (0x02) alone says nothing about the count:
    // gpsd's mask (0x01 for both) would confuse the two.
    ls.src_of_curr_ls = 2;
    ls.valid = 0x02;
    CHECK_FALSE(leap_count_known(ls));
    ls.valid = 0x01;
    CHECK(leap_count_known(ls));
}

TEST_CASE("an epoch's second: rounded to the millisecond first", "[ubx]") {
    UtcDateTime m{2021, 2, 23, 18, 4, 30, 0};
    const std::int64_t at = utc(2021, 2, 23, 18, 4, 30);
    const struct {
        std::int32_t nano;
        std::int64_t second;
        std::int32_t millisecond;
    } cases[] = {
        {321'732, at, 0},           {-321'732, at, 0},
        {-500'000, at, 0},          {-500'001, at - 1, 999},
        {499'999, at, 0},           {500'000, at, 1},
        {999'500'000, at + 1, 0},   {-999'500'001, at - 1, 0},
        {1'000'000'000, at + 1, 0}, {-1'000'000'000, at - 1, 0},
    };
    for (const auto& c : cases) {
        INFO(c.nano);
        m.nano = c.nano;
        const auto epoch = epoch_time(m);
        REQUIRE(epoch);
        CHECK(epoch->posix_seconds == c.second);
        CHECK(epoch->millisecond == c.millisecond);
        CHECK_FALSE(epoch->leap_second);
    }
    m.nano = 1'000'000'001;
    CHECK_FALSE(epoch_time(m));

    // 2016-12-31 23:59:60: POSIX reads 23:59:59 again, flagged.
    UtcDateTime leap{2016, 12, 31, 23, 59, 60, 321'000};
    auto epoch = epoch_time(leap);
    REQUIRE(epoch);
    CHECK(epoch->posix_seconds == utc(2016, 12, 31, 23, 59, 59));
    CHECK(epoch->leap_second);
    // Rounded up out of the leap second: the new year.
    leap.nano = 999'600'000;
    epoch = epoch_time(leap);
    REQUIRE(epoch);
    CHECK(epoch->posix_seconds == utc(2017, 1, 1, 0, 0, 0));
    CHECK_FALSE(epoch->leap_second);
    // Second 60 anywhere but 23:59, second 61, month 13, 30 February.
    for (const UtcDateTime bad :
         {UtcDateTime{2016, 12, 31, 23, 58, 60, 0}, UtcDateTime{2016, 12, 31, 23, 59, 61, 0},
          UtcDateTime{2016, 13, 31, 23, 59, 0, 0}, UtcDateTime{2016, 2, 30, 12, 0, 0, 0}}) {
        CHECK_FALSE(epoch_time(bad));
    }
}

TEST_CASE("MON-VER: strings, extensions and the protocol version", "[ubx]") {
    const auto field = [](const std::string& text, std::size_t size) {
        Bytes bytes(text.begin(), text.end());
        bytes.resize(size, 0);
        return bytes;
    };
    Bytes payload = field("EXT CORE 1.00 (94e56e)", 30);
    const Bytes hw = field("00190000", 10);
    payload.insert(payload.end(), hw.begin(), hw.end());
    // The ZED-F9P capture's header lists these extensions.
    for (const char* extension : {"ROM BASE 0xDD3FE36C", "FWVER=HPG 1.11", "PROTVER=27.10",
                                  "MOD=ZED-F9P", "GPS;GLO;GAL;BDS", "QZSS"}) {
        const Bytes e = field(extension, 30);
        payload.insert(payload.end(), e.begin(), e.end());
    }
    const auto version = decode_mon_ver(payload);
    REQUIRE(version);
    CHECK(version->sw_version == "EXT CORE 1.00 (94e56e)");
    CHECK(version->hw_version == "00190000");
    REQUIRE(version->extensions.size() == 6);
    CHECK(version->extensions[2] == "PROTVER=27.10");
    const auto protocol = protocol_version(*version);
    REQUIRE(protocol);
    CHECK(protocol->major == 27);
    CHECK(protocol->minor == 10);
    // The older form.
    MonVer old;
    old.extensions = {"FWVER=SPG 3.01", "PROTVER 15.00"};
    const auto old_protocol = protocol_version(old);
    REQUIRE(old_protocol);
    CHECK(old_protocol->major == 15);
    CHECK(old_protocol->minor == 0);
    MonVer none;
    none.extensions = {"PROTVER=", "PROTVER=27", "PROTVERX 1.2", "PROTVER=1234.5"};
    CHECK_FALSE(protocol_version(none));
    // Not 40 + 30 * N.
    payload.pop_back();
    CHECK_FALSE(decode_mon_ver(payload));
    CHECK_FALSE(decode_mon_ver(Payload{payload}.first(39)));
    CHECK(decode_mon_ver(Payload{payload}.first(40)));
}
