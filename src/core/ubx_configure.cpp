#include "core/ubx_configure.hpp"

#include <fmt/format.h>

namespace shmrefclock::ubx {

std::string make_frame(std::uint8_t message_class, std::uint8_t message_id,
                       std::span<const std::uint8_t> payload) {
    std::vector<std::uint8_t> body{message_class, message_id,
                                   static_cast<std::uint8_t>(payload.size() & 0xFF),
                                   static_cast<std::uint8_t>(payload.size() >> 8 & 0xFF)};
    body.insert(body.end(), payload.begin(), payload.end());
    const Checksum sum = checksum(body);
    std::string frame;
    frame.reserve(body.size() + 4);
    frame.push_back(static_cast<char>(sync_char_1));
    frame.push_back(static_cast<char>(sync_char_2));
    frame.append(reinterpret_cast<const char*>(body.data()), body.size());
    frame.push_back(static_cast<char>(sum.a));
    frame.push_back(static_cast<char>(sum.b));
    return frame;
}

namespace {

constexpr MessageType mon_ver_poll = mon_ver;
// CFG-VALSET: version 0, layers RAM (0x01) only -- never BBR (0x02) or
// flash (0x04) -- and two reserved bytes.
constexpr std::uint8_t valset_version = 0x00;
constexpr std::uint8_t layer_ram = 0x01;
// The first protocol version with the configuration interface (F9: 27.x).
constexpr int first_valset_protocol = 27;

std::string version_text(const std::optional<ProtocolVersion>& version) {
    return version ? fmt::format("{}.{:02}", version->major, version->minor) : "unknown";
}

} // namespace

Actions Configurator::start() {
    Actions actions;
    state_ = State::asking_version;
    protocol_.reset();
    requests_.clear();
    requests_.push_back(
        {mon_ver_poll, make_frame(mon_ver.message_class, mon_ver.message_id, {}), "MON-VER poll"});
    current_ = 0;
    tries_ = 0;
    send(actions);
    return actions;
}

void Configurator::send(Actions& actions) {
    const Request& request = requests_.at(current_);
    ++tries_;
    actions.device_write += request.bytes;
    actions.arm(TimerId::answer, answer_timeout_ns);
    actions.log(MessageLevel::debug, fmt::format("UBX configuration: sent {} (try {} of {})",
                                                 request.what, tries_, max_tries));
}

void Configurator::plan() {
    requests_.clear();
    current_ = 0;
    tries_ = 0;
    if (protocol_ && protocol_->major >= first_valset_protocol) {
        // One CFG-VALSET for every message on the ports the device may be.
        const bool both = ports_.uart1 == ports_.usb;
        std::vector<std::uint8_t> payload{valset_version, layer_ram, 0, 0};
        std::string names;
        for (const Enabled& message : enabled_messages) {
            for (const bool usb : {false, true}) {
                if (!both && usb != ports_.usb) {
                    continue;
                }
                const std::uint32_t key = usb ? message.key_usb : message.key_uart1;
                for (int shift = 0; shift < 32; shift += 8) {
                    payload.push_back(static_cast<std::uint8_t>(key >> shift));
                }
                payload.push_back(1); // once per navigation epoch
            }
            names += (names.empty() ? "" : ", ") + std::string(message.name);
        }
        requests_.push_back({cfg_valset,
                             make_frame(cfg_valset.message_class, cfg_valset.message_id, payload),
                             fmt::format("CFG-VALSET (RAM: {} at 1 Hz on {})", names,
                                         both ? "UART1 and USB" : (ports_.usb ? "USB" : "UART1"))});
        return;
    }
    // Before protocol 27 (or no version said): CFG-MSG, the short form that
    // sets the rate on the port the request came in on.
    for (const Enabled& message : enabled_messages) {
        const std::vector<std::uint8_t> payload{message.type.message_class, message.type.message_id,
                                                1};
        requests_.push_back({cfg_msg,
                             make_frame(cfg_msg.message_class, cfg_msg.message_id, payload),
                             fmt::format("CFG-MSG ({} at 1 Hz)", message.name)});
    }
}

Actions Configurator::answer(const Item& frame) {
    Actions actions;
    if (frame.kind != Item::Kind::frame) {
        return actions;
    }
    const Payload payload{frame.bytes};
    if (state_ == State::asking_version && is(mon_ver, frame.message_class, frame.message_id)) {
        const std::optional<MonVer> version = decode_mon_ver(payload);
        if (version) {
            protocol_ = protocol_version(*version);
        }
        actions.log(MessageLevel::info,
                    version ? fmt::format("u-blox receiver: software \"{}\", hardware \"{}\", "
                                          "protocol {}",
                                          version->sw_version, version->hw_version,
                                          version_text(protocol_))
                            : "u-blox receiver: MON-VER of a length no version has; "
                              "configuring as before protocol 27");
        state_ = State::configuring;
        plan();
        send(actions);
        return actions;
    }
    if (state_ != State::configuring || frame.message_class != ack_ack.message_class) {
        return actions;
    }
    const std::optional<Ack> ack = decode_ack(frame.message_id, payload);
    const Request& request = requests_.at(current_);
    if (!ack || ack->message_class != request.type.message_class ||
        ack->message_id != request.type.message_id) {
        return actions; // an answer to something else
    }
    if (ack->acknowledged) {
        ++acknowledged_;
        actions.log(MessageLevel::debug,
                    fmt::format("UBX configuration: {} acknowledged", request.what));
    } else {
        ++refused_;
        actions.log(
            MessageLevel::warn,
            fmt::format("the receiver refused {} (ACK-NAK); reading on without it", request.what));
    }
    next(actions);
    return actions;
}

Actions Configurator::timeout() {
    Actions actions;
    if (state_ != State::asking_version && state_ != State::configuring) {
        return actions;
    }
    if (tries_ < max_tries) {
        send(actions);
        return actions;
    }
    if (state_ == State::asking_version) {
        // Not a u-blox, UBX input switched off, or a line that only reads.
        state_ = State::done;
        ++unanswered_;
        actions.log(MessageLevel::warn,
                    fmt::format("no answer to MON-VER after {} tries: the receiver is not "
                                "configured (not a u-blox, or its UBX input is off); reading on",
                                max_tries));
        return actions;
    }
    ++unanswered_;
    actions.log(MessageLevel::warn, fmt::format("no answer to {} after {} tries; reading on",
                                                requests_.at(current_).what, max_tries));
    next(actions);
    return actions;
}

void Configurator::next(Actions& actions) {
    ++current_;
    tries_ = 0;
    if (current_ < requests_.size()) {
        send(actions);
        return;
    }
    state_ = State::done;
    actions.disarm(TimerId::answer);
    actions.log(refused_ + unanswered_ == 0 ? MessageLevel::info : MessageLevel::warn,
                fmt::format("receiver configured (protocol {}, RAM only): {} request(s) "
                            "acknowledged, {} refused, {} unanswered",
                            version_text(protocol_), acknowledged_, refused_, unanswered_));
}

} // namespace shmrefclock::ubx
