// Configuring a u-blox receiver, opt-in per refclock (`ubx-configure`,
// issue 21): on open, poll MON-VER for the protocol version, then enable the
// timing messages this daemon reads at 1 Hz and align the time pulse to the
// top of the UTC second -- CFG-VALSET in RAM for protocol 27 and later (F9,
// M10); before (M8 and older) CFG-MSG on the port in use, and CFG-TP5 polled
// and sent back with its alignment changed, if it must be -- and wait for
// ACK-ACK or ACK-NAK to each, with a timeout and a bounded number of tries.
// Never the receiver's flash or battery-backed RAM (no CFG-CFG, VALSET
// layer RAM only): a power cycle undoes it. A NAK or silence is a warning,
// and the daemon reads on whatever the answer.
//
// Pure: frames out as bytes for the shell to write, answers (frames) and
// timeouts in, Actions out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/source_rules.hpp"
#include "core/ubx_frame.hpp"
#include "core/ubx_messages.hpp"

namespace shmrefclock::ubx {

// A whole frame: sync, class, id, length, payload, checksum.
std::string make_frame(std::uint8_t message_class, std::uint8_t message_id,
                       std::span<const std::uint8_t> payload);

inline constexpr MessageType cfg_msg{0x06, 0x01};
inline constexpr MessageType cfg_valset{0x06, 0x8A};

// Which of the receiver's ports CFG-VALSET enables the messages on (a key
// per port; CFG-MSG's short form needs none: it sets the port it came in
// on). The shell picks by the device: USB for /dev/ttyACM*, UART1 for a
// serial port, both for TCP (ser2net in front of either).
struct Ports {
    bool uart1 = false;
    bool usb = false;
};
// The port `device` (a refclock's `device`) is on, as far as its name
// tells: a CDC-ACM tty or a by-id link of a USB device is the receiver's
// USB port, another path UART1; TCP (ser2net) may be in front of either.
Ports ports_for(const std::string& device);

// The timing messages enabled, each with its CFG-VALSET keys
// (CFG-MSGOUT-UBX_..._UART1 and _USB, from the F9 and M10 interface
// descriptions: U1 output rate per navigation epoch).
struct Enabled {
    MessageType type;
    const char* name;
    std::uint32_t key_uart1;
    std::uint32_t key_usb;
};
// All five of issue 21's timing messages: NAV-TIMEUTC, NAV-TIMEGPS and
// NAV-TIMELS say whether the leap-second count is known (any one is
// enough), TIM-TP labels the next pulse, NAV-PVT gives the fix type and
// tAcc. 208 bytes an epoch with their frames: 0.22 s of a 9600 Bd line.
inline constexpr Enabled enabled_messages[] = {
    {nav_timeutc, "NAV-TIMEUTC", 0x2091005c, 0x2091005e},
    {nav_timels, "NAV-TIMELS", 0x20910061, 0x20910063},
    {tim_tp, "TIM-TP", 0x2091017e, 0x20910180},
    {nav_timegps, "NAV-TIMEGPS", 0x20910048, 0x2091004a},
    {nav_pvt, "NAV-PVT", 0x20910007, 0x20910009},
};

// The time pulse (TIMEPULSE) on the top of the UTC second: aligned to the
// time of week (else it marks no second at all) on the UTC grid (TIM-TP then
// labels it in UTC; on the GPS grid it is labelled in GPS time, which the
// daemon converts only while the leap count is known). CFG-VALSET keys from
// the F9 and M10 interface descriptions, one byte each.
struct TimepulseKey {
    std::uint32_t key;
    std::uint8_t value;
};
inline constexpr TimepulseKey timepulse_keys[] = {
    {0x1005000a, 1}, // CFG-TP-ALIGN_TO_TOW_TP1
    {0x2005000c, 0}, // CFG-TP-TIMEGRID_TP1: 0 = UTC
};

// CFG-TP5 (M8 interface description): 32 bytes, tpIdx at 0 (0 = TIMEPULSE),
// flags (X4) at 28: alignToTow 0x20, gridUtcGnss in bits 7-10 (0 = UTC;
// bit 7 alone in older versions, the rest reserved and zero).
inline constexpr std::size_t tp5_size = 32;
inline constexpr std::size_t tp5_flags_offset = 28;
inline constexpr std::uint32_t tp5_align_to_tow = 0x20;
inline constexpr std::uint32_t tp5_grid_mask = 0x780;
// The CFG-TP5 to send back for a polled one, every other setting (cable
// delay, period, length, polarity) as the receiver had it; nullopt when the
// pulse is already aligned to the UTC second, or `polled` is not the
// TIMEPULSE's.
std::optional<std::vector<std::uint8_t>> aligned_tp5(Payload polled);

class Configurator {
public:
    // How long an answer is waited for, and how often a request is sent
    // (u-blox answers within a navigation epoch; a line at 9600 Bd carrying
    // a second of output may hold it back that long).
    static constexpr std::int64_t answer_timeout_ns = 1'500'000'000;
    static constexpr int max_tries = 3;

    explicit Configurator(Ports ports) : ports_(ports) {}

    // The device was opened: start again from MON-VER.
    Actions start();
    // A frame from the receiver: MON-VER, CFG-TP5, ACK-ACK or ACK-NAK
    // (others are ignored).
    Actions answer(const Item& frame);
    // The answer timer (TimerId::answer) fired.
    Actions timeout();

    enum class State { idle, asking_version, configuring, done };
    State state() const { return state_; }
    // The protocol version MON-VER reported, if it did.
    const std::optional<ProtocolVersion>& protocol() const { return protocol_; }
    // What the last configuration achieved, for the log and tests.
    std::uint64_t acknowledged() const { return acknowledged_; }
    std::uint64_t refused() const { return refused_; }
    std::uint64_t unanswered() const { return unanswered_; }

private:
    struct Request {
        MessageType type;  // CFG-VALSET, CFG-MSG or CFG-TP5: what the ACK names
        std::string bytes; // the frame to write
        std::string what;  // for the log
        // A CFG-TP5 poll: answered by the receiver's CFG-TP5 and (in the
        // receivers seen) an ACK-ACK naming CFG-TP5 too.
        bool polls_tp5 = false;
    };
    void send(Actions& actions);
    void next(Actions& actions);
    void plan();
    void tp5_answer(Actions& actions, const Item& frame, const Payload& payload);
    void polled_tp5(Actions& actions);

    Ports ports_;
    State state_ = State::idle;
    std::optional<ProtocolVersion> protocol_;
    std::vector<Request> requests_;
    std::size_t current_ = 0;
    int tries_ = 0;
    // The CFG-TP5 poll's answer and its ACK, each when it came: the set is
    // sent after both (or after the answer and a timeout), so that the
    // poll's ACK is never taken for the set's.
    std::optional<std::vector<std::uint8_t>> tp5_polled_;
    bool tp5_poll_acknowledged_ = false;
    std::uint64_t acknowledged_ = 0;
    std::uint64_t refused_ = 0;
    std::uint64_t unanswered_ = 0;
};

} // namespace shmrefclock::ubx
