// Configuring a u-blox receiver, opt-in per refclock (`ubx-configure`,
// issue 21): on open, poll MON-VER for the protocol version, then enable the
// timing messages this daemon reads at 1 Hz -- CFG-VALSET in RAM for
// protocol 27 and later (F9, M10), CFG-MSG on the port in use before (M8
// and older) -- and wait for ACK-ACK or ACK-NAK to each, with a timeout and
// a bounded number of tries. Never the receiver's flash or battery-backed
// RAM (no CFG-CFG, VALSET layer RAM only): a power cycle undoes it. A NAK or
// silence is a warning, and the daemon reads on whatever the answer.
//
// Pure: frames out as bytes for the shell to write, answers (frames) and
// timeouts in, Actions out.
#pragma once

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

// The timing messages enabled, each with its CFG-VALSET keys
// (CFG-MSGOUT-UBX_..._UART1 and _USB, from the F9 and M10 interface
// descriptions: U1 output rate per navigation epoch).
struct Enabled {
    MessageType type;
    const char* name;
    std::uint32_t key_uart1;
    std::uint32_t key_usb;
};
inline constexpr Enabled enabled_messages[] = {
    {nav_timeutc, "NAV-TIMEUTC", 0x2091005c, 0x2091005e},
    {nav_timels, "NAV-TIMELS", 0x20910061, 0x20910063},
    {tim_tp, "TIM-TP", 0x2091017e, 0x20910180},
};

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
    // A frame from the receiver: MON-VER, ACK-ACK or ACK-NAK (others are
    // ignored).
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
        MessageType type;  // CFG-VALSET or CFG-MSG: what the ACK names
        std::string bytes; // the frame to write
        std::string what;  // for the log
    };
    void send(Actions& actions);
    void next(Actions& actions);
    void plan();

    Ports ports_;
    State state_ = State::idle;
    std::optional<ProtocolVersion> protocol_;
    std::vector<Request> requests_;
    std::size_t current_ = 0;
    int tries_ = 0;
    std::uint64_t acknowledged_ = 0;
    std::uint64_t refused_ = 0;
    std::uint64_t unanswered_ = 0;
};

} // namespace shmrefclock::ubx
