// Configuring a u-blox receiver (core/ubx_configure.hpp, issue 21): the
// requests as bytes, the answers as frames built here from u-blox's
// interface descriptions (tests/unit/ubx_test_frames.hpp), the timer.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "core/ubx_configure.hpp"
#include "core/ubx_frame.hpp"
#include "ubx_test_frames.hpp"

using namespace shmrefclock;
using namespace shmrefclock::ubx;
using ubx_test::Bytes;

namespace {

// The frames a write holds.
std::vector<Item> frames_of(const std::string& bytes) {
    Framer framer;
    std::vector<Item> frames;
    for (Item& item : framer.feed(bytes)) {
        REQUIRE(item.kind == Item::Kind::frame); // nothing but whole frames
        frames.push_back(std::move(item));
    }
    REQUIRE(framer.buffered() == 0);
    return frames;
}

Item as_item(const std::string& frame) {
    const std::vector<Item> frames = frames_of(frame);
    REQUIRE(frames.size() == 1);
    return frames.front();
}

// MON-VER (0x0A 0x04): swVersion char[30], hwVersion char[10], then one
// char[30] per extension.
Item mon_ver_answer(const std::vector<std::string>& extensions) {
    Bytes payload(40 + 30 * extensions.size());
    const std::string sw = "ROM SPG 5.10 (7b202e)";
    const std::string hw = "000A0000";
    std::copy(sw.begin(), sw.end(), payload.begin());
    std::copy(hw.begin(), hw.end(), payload.begin() + 30);
    for (std::size_t i = 0; i < extensions.size(); ++i) {
        std::copy(extensions[i].begin(), extensions[i].end(),
                  payload.begin() + 40 + static_cast<std::ptrdiff_t>(30 * i));
    }
    return as_item(ubx_test::frame(0x0A, 0x04, payload));
}

// ACK-ACK (0x05 0x01) or ACK-NAK (0x05 0x00): the class and id answered.
Item ack(bool acknowledged, std::uint8_t message_class, std::uint8_t message_id) {
    return as_item(ubx_test::frame(0x05, acknowledged ? 0x01 : 0x00, {message_class, message_id}));
}

bool has_log(const Actions& actions, const std::string& part, MessageLevel level) {
    for (const Message& message : actions.messages) {
        if (message.level == level && message.text.find(part) != std::string::npos) {
            return true;
        }
    }
    return false;
}

bool armed(const Actions& actions, std::int64_t after_ns) {
    for (const TimerRequest& timer : actions.timers) {
        if (timer.id == TimerId::answer && timer.after_ns == after_ns) {
            return true;
        }
    }
    return false;
}

std::uint32_t u32(const std::vector<std::uint8_t>& b, std::size_t at) {
    return b[at] | b[at + 1] << 8 | b[at + 2] << 16 | std::uint32_t{b[at + 3]} << 24;
}

} // namespace

TEST_CASE("configure: protocol 27 -> one CFG-VALSET in RAM, acknowledged", "[ubx]") {
    Configurator configurator(Ports{.uart1 = false, .usb = true});
    const Actions start = configurator.start();
    // MON-VER poll: class 0x0A, id 0x04, no payload.
    const std::vector<Item> poll = frames_of(start.device_write);
    REQUIRE(poll.size() == 1);
    CHECK(poll[0].message_class == 0x0A);
    CHECK(poll[0].message_id == 0x04);
    CHECK(poll[0].bytes.empty());
    CHECK(armed(start, Configurator::answer_timeout_ns));

    const Actions valset =
        configurator.answer(mon_ver_answer({"FWVER=TIM 2.20", "PROTVER=29.00", "MOD=ZED-F9T"}));
    CHECK(has_log(valset, "protocol 29.00", MessageLevel::info));
    const std::vector<Item> request = frames_of(valset.device_write);
    REQUIRE(request.size() == 1);
    CHECK(request[0].message_class == 0x06);
    CHECK(request[0].message_id == 0x8A);
    const auto& p = request[0].bytes;
    // version 0, layers RAM (bit 0) only: never BBR (bit 1) or flash (bit 2).
    REQUIRE(p.size() == 4 + 7 * 5);
    CHECK(p[0] == 0);
    CHECK(p[1] == 0x01);
    // CFG-MSGOUT-UBX_NAV_TIMEUTC_USB, _NAV_TIMELS_USB, _TIM_TP_USB,
    // _NAV_TIMEGPS_USB, _NAV_PVT_USB, each 1 (the F9 and M10 interface
    // descriptions' keys).
    CHECK(u32(p, 4) == 0x2091005e);
    CHECK(p[8] == 1);
    CHECK(u32(p, 9) == 0x20910063);
    CHECK(p[13] == 1);
    CHECK(u32(p, 14) == 0x20910180);
    CHECK(p[18] == 1);
    CHECK(u32(p, 19) == 0x2091004a);
    CHECK(p[23] == 1);
    CHECK(u32(p, 24) == 0x20910009);
    CHECK(p[28] == 1);
    // The time pulse on the UTC second: CFG-TP-ALIGN_TO_TOW_TP1 = 1,
    // CFG-TP-TIMEGRID_TP1 = 0 (UTC).
    CHECK(u32(p, 29) == 0x1005000a);
    CHECK(p[33] == 1);
    CHECK(u32(p, 34) == 0x2005000c);
    CHECK(p[38] == 0);

    // An ACK for something else changes nothing; the right one ends it.
    CHECK(configurator.answer(ack(true, 0x06, 0x01)).messages.empty());
    const Actions done = configurator.answer(ack(true, 0x06, 0x8A));
    CHECK(configurator.state() == Configurator::State::done);
    CHECK(configurator.acknowledged() == 1);
    CHECK(has_log(done, "1 request(s) acknowledged, 0 refused, 0 unanswered", MessageLevel::info));
    CHECK(done.device_write.empty());
}

TEST_CASE("configure: the port from the device's name", "[ubx]") {
    const auto usb = ports_for("/dev/ttyACM0");
    CHECK((usb.usb && !usb.uart1));
    const auto by_id =
        ports_for("/dev/serial/by-id/usb-u-blox_AG_-_www.u-blox.com_u-blox_GNSS_receiver-if00");
    CHECK((by_id.usb && !by_id.uart1));
    const auto uart = ports_for("/dev/ttyAMA0");
    CHECK((uart.uart1 && !uart.usb));
    // ser2net may be in front of either; a tcp:// URL is never a path, even
    // one whose host name says usb.
    for (const char* device : {"tcp://127.0.0.1:2947", "tcp://usb-gw:4000", "tcp://[::1]:x"}) {
        INFO(device);
        const auto tcp = ports_for(device);
        CHECK((tcp.uart1 && tcp.usb));
    }
}

TEST_CASE("configure: both ports when the device cannot tell", "[ubx]") {
    Configurator configurator(Ports{.uart1 = true, .usb = true});
    (void)configurator.start();
    const Actions valset = configurator.answer(mon_ver_answer({"PROTVER=34.10"}));
    const std::vector<Item> request = frames_of(valset.device_write);
    REQUIRE(request.size() == 1);
    REQUIRE(request[0].bytes.size() == 4 + 12 * 5);
    CHECK(u32(request[0].bytes, 4) == 0x2091005c); // _UART1
    CHECK(u32(request[0].bytes, 9) == 0x2091005e); // _USB
}

namespace {

// A CFG-TP5 answer for TIMEPULSE (tpIdx 0, version 1) with `flags`, and
// settings of the owner's that must come back unchanged: antCableDelay 50 ns,
// freqPeriod 1 s, pulseLenRatio 100 ms, userConfigDelay -7 ns.
Bytes tp5_payload(std::uint32_t flags) {
    Bytes p(32, 0);
    p[1] = 1;
    p[4] = 50;
    const auto put32 = [&p](std::size_t at, std::uint32_t v) {
        for (std::size_t i = 0; i < 4; ++i) {
            p[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
        }
    };
    put32(8, 1'000'000);
    put32(12, 1'000'000);
    put32(16, 100'000);
    put32(20, 100'000);
    put32(24, static_cast<std::uint32_t>(-7));
    put32(28, flags);
    return p;
}

// A configurator before protocol 27 with its CFG-MSGs acknowledged: the
// CFG-TP5 poll is what it wrote last.
Actions to_tp5_poll(Configurator& configurator) {
    (void)configurator.start();
    Actions actions = configurator.answer(mon_ver_answer({"PROTVER=18.00"}));
    for (std::size_t i = 0; i < std::size(enabled_messages); ++i) {
        actions = configurator.answer(ack(true, 0x06, 0x01));
    }
    return actions;
}

} // namespace

TEST_CASE("configure: before protocol 27 -> CFG-MSG per message; a NAK is a warning", "[ubx]") {
    Configurator configurator(Ports{.uart1 = true, .usb = false});
    (void)configurator.start();
    Actions actions = configurator.answer(mon_ver_answer({"PROTVER=18.00", "GPS;GLO"}));
    // NAV-TIMEUTC, NAV-TIMELS, TIM-TP, NAV-TIMEGPS, NAV-PVT, one at a time:
    // (class, id, rate 1).
    const std::vector<std::vector<std::uint8_t>> expected = {
        {0x01, 0x21, 1}, {0x01, 0x26, 1}, {0x0D, 0x01, 1}, {0x01, 0x20, 1}, {0x01, 0x07, 1}};
    for (std::size_t i = 0; i < expected.size(); ++i) {
        INFO(i);
        const std::vector<Item> request = frames_of(actions.device_write);
        REQUIRE(request.size() == 1);
        CHECK(request[0].message_class == 0x06);
        CHECK(request[0].message_id == 0x01);
        CHECK(request[0].bytes == expected[i]);
        // The second is refused.
        actions = configurator.answer(ack(i != 1, 0x06, 0x01));
        if (i == 1) {
            CHECK(has_log(actions, "refused CFG-MSG (NAV-TIMELS at 1 Hz) (ACK-NAK)",
                          MessageLevel::warn));
        }
    }
    // Then the time pulse's settings are polled (CFG-TP5, tpIdx 0); the
    // receiver refuses that too, and its pulse is left alone.
    const std::vector<Item> poll = frames_of(actions.device_write);
    REQUIRE(poll.size() == 1);
    CHECK(poll[0].message_class == 0x06);
    CHECK(poll[0].message_id == 0x31);
    CHECK(poll[0].bytes == Bytes{0});
    actions = configurator.answer(ack(false, 0x06, 0x31));
    CHECK(has_log(actions, "refused the CFG-TP5 poll", MessageLevel::warn));
    CHECK(actions.device_write.empty());
    CHECK(configurator.state() == Configurator::State::done);
    CHECK(configurator.acknowledged() == 4);
    CHECK(configurator.refused() == 2);
    CHECK(has_log(actions, "4 request(s) acknowledged, 2 refused", MessageLevel::warn));
}

TEST_CASE("configure: CFG-TP5 sent back aligned to the UTC second, the owner's settings kept",
          "[ubx]") {
    Configurator configurator(Ports{.uart1 = true, .usb = false});
    (void)to_tp5_poll(configurator);
    // active, lockGnssFreq, isLength, polarity, on the GPS grid (bit 7), not
    // aligned to the time of week.
    const Bytes polled = tp5_payload(0x01 | 0x02 | 0x10 | 0x40 | 0x80);
    const bool ack_first = GENERATE(false, true);
    INFO("the poll's ACK " << (ack_first ? "before" : "after") << " its answer");
    Actions actions;
    if (ack_first) {
        // Nothing is sent until the answer is there.
        CHECK(configurator.answer(ack(true, 0x06, 0x31)).device_write.empty());
        actions = configurator.answer(as_item(ubx_test::frame(0x06, 0x31, polled)));
    } else {
        // Nor until the poll's ACK, so that it is not taken for the set's.
        CHECK(
            configurator.answer(as_item(ubx_test::frame(0x06, 0x31, polled))).device_write.empty());
        actions = configurator.answer(ack(true, 0x06, 0x31));
    }
    const std::vector<Item> set = frames_of(actions.device_write);
    REQUIRE(set.size() == 1);
    CHECK(set[0].message_class == 0x06);
    CHECK(set[0].message_id == 0x31);
    Bytes expected = polled;
    expected[28] = 0x01 | 0x02 | 0x10 | 0x20 | 0x40; // alignToTow set, grid UTC
    CHECK(set[0].bytes == expected);
    CHECK(configurator.state() == Configurator::State::configuring);
    actions = configurator.answer(ack(true, 0x06, 0x31));
    CHECK(configurator.state() == Configurator::State::done);
    CHECK(configurator.acknowledged() == 7); // 5 CFG-MSG, the poll, the set
    CHECK(
        has_log(actions, "7 request(s) acknowledged, 0 refused, 0 unanswered", MessageLevel::info));
}

TEST_CASE("configure: a time pulse already on the UTC second is not written", "[ubx]") {
    Configurator configurator(Ports{.uart1 = true, .usb = false});
    (void)to_tp5_poll(configurator);
    // Another time pulse's answer (tpIdx 1) is not the one asked for.
    Bytes other = tp5_payload(0x01);
    other[0] = 1;
    (void)configurator.answer(as_item(ubx_test::frame(0x06, 0x31, other)));
    // Bits 8-10 of the grid set (GLONASS, BeiDou, Galileo grids) count too.
    const std::uint32_t grid = GENERATE(0u, 0x100u, 0x400u);
    const Bytes polled = tp5_payload(0x01 | 0x20 | 0x40 | grid);
    (void)configurator.answer(ack(true, 0x06, 0x31));
    const Actions actions = configurator.answer(as_item(ubx_test::frame(0x06, 0x31, polled)));
    if (grid == 0) {
        CHECK(actions.device_write.empty());
        CHECK(configurator.state() == Configurator::State::done);
        CHECK(configurator.acknowledged() == 6); // 5 CFG-MSG, the poll
    } else {
        const std::vector<Item> set = frames_of(actions.device_write);
        REQUIRE(set.size() == 1);
        CHECK(set[0].bytes[28] == (0x01 | 0x20 | 0x40));
        CHECK(set[0].bytes[29] == 0);
    }
}

TEST_CASE("configure: a receiver that answers a poll without an ACK is configured after "
          "the timeout",
          "[ubx]") {
    Configurator configurator(Ports{.uart1 = true, .usb = false});
    (void)to_tp5_poll(configurator);
    CHECK(configurator.answer(as_item(ubx_test::frame(0x06, 0x31, tp5_payload(0x01))))
              .device_write.empty());
    // The timeout sends the set, not the poll again.
    const std::vector<Item> set = frames_of(configurator.timeout().device_write);
    REQUIRE(set.size() == 1);
    CHECK(set[0].bytes.size() == 32);
    CHECK(set[0].bytes[28] == (0x01 | 0x20));
    (void)configurator.answer(ack(true, 0x06, 0x31));
    CHECK(configurator.state() == Configurator::State::done);
    CHECK(configurator.unanswered() == 0);
}

TEST_CASE("configure: silence -> bounded tries, a warning, nothing more written", "[ubx]") {
    Configurator configurator(Ports{.uart1 = true, .usb = false});
    Actions actions = configurator.start();
    int writes = actions.device_write.empty() ? 0 : 1;
    for (int i = 0; i < 10; ++i) {
        actions = configurator.timeout();
        writes += actions.device_write.empty() ? 0 : 1;
    }
    CHECK(writes == Configurator::max_tries);
    CHECK(configurator.state() == Configurator::State::done);
    CHECK(configurator.unanswered() == 1);
    // No MON-VER: not configured, and a late one does not start it.
    CHECK(configurator.answer(mon_ver_answer({"PROTVER=27.00"})).device_write.empty());
}

TEST_CASE("configure: an answer after a timeout counts once; a request unanswered is left",
          "[ubx]") {
    Configurator configurator(Ports{.uart1 = true, .usb = false});
    (void)configurator.start();
    (void)configurator.timeout(); // MON-VER sent again
    Actions actions = configurator.answer(mon_ver_answer({"PROTVER=15.00"}));
    // The first CFG-MSG: no answer at all, three times.
    for (int i = 0; i < Configurator::max_tries; ++i) {
        actions = configurator.timeout();
    }
    CHECK(has_log(actions, "no answer to CFG-MSG (NAV-TIMEUTC at 1 Hz) after 3 tries",
                  MessageLevel::warn));
    // The next is sent; its ACK comes after one timeout and the resend:
    // counted once, and the third to fifth follow, acknowledged at once.
    (void)configurator.timeout();
    for (int i = 0; i < 4; ++i) {
        (void)configurator.answer(ack(true, 0x06, 0x01));
    }
    CHECK(configurator.acknowledged() == 4);
    CHECK(configurator.unanswered() == 1);
    // The CFG-TP5 poll is next: never answered, it is left after 3 tries.
    for (int i = 0; i < Configurator::max_tries; ++i) {
        actions = configurator.timeout();
    }
    CHECK(has_log(actions, "no answer to CFG-TP5 poll (TIMEPULSE) after 3 tries",
                  MessageLevel::warn));
    CHECK(configurator.state() == Configurator::State::done);
    CHECK(configurator.unanswered() == 2);
    // A restart (the device reopened) asks again from MON-VER.
    const Actions again = configurator.start();
    CHECK(configurator.state() == Configurator::State::asking_version);
    CHECK(frames_of(again.device_write).front().message_class == 0x0A);
}
