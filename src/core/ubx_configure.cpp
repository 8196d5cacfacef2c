#include "core/ubx_configure.hpp"

#include <variant>

#include <fmt/format.h>

#include "core/device_address.hpp"

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

Ports ports_for(const std::string& device) {
    const auto parsed = parse_device_address(device);
    const auto* address = std::get_if<DeviceAddress>(&parsed);
    const auto* serial = address != nullptr ? std::get_if<SerialAddress>(address) : nullptr;
    if (serial == nullptr) {
        return Ports{.uart1 = true, .usb = true};
    }
    const bool usb = serial->path.find("ttyACM") != std::string::npos ||
                     serial->path.find("/usb-") != std::string::npos;
    return Ports{.uart1 = !usb, .usb = usb};
}

std::optional<std::vector<std::uint8_t>> aligned_tp5(Payload polled) {
    if (polled.size() < tp5_size || polled[0] != 0) {
        return std::nullopt;
    }
    std::uint32_t flags = 0;
    for (std::size_t i = 0; i < 4; ++i) {
        flags |= std::uint32_t{polled[tp5_flags_offset + i]} << (8 * i);
    }
    const std::uint32_t aligned = (flags | tp5_align_to_tow) & ~tp5_grid_mask;
    if (aligned == flags) {
        return std::nullopt;
    }
    std::vector<std::uint8_t> set(polled.begin(), polled.begin() + tp5_size);
    for (std::size_t i = 0; i < 4; ++i) {
        set[tp5_flags_offset + i] = static_cast<std::uint8_t>(aligned >> (8 * i));
    }
    return set;
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
    tp5_polled_.reset();
    tp5_poll_acknowledged_ = false;
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
        for (const TimepulseKey& setting : timepulse_keys) {
            for (int shift = 0; shift < 32; shift += 8) {
                payload.push_back(static_cast<std::uint8_t>(setting.key >> shift));
            }
            payload.push_back(setting.value);
        }
        requests_.push_back(
            {cfg_valset, make_frame(cfg_valset.message_class, cfg_valset.message_id, payload),
             fmt::format("CFG-VALSET (RAM: {} at 1 Hz on {}, time pulse on the UTC second)", names,
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
    // The time pulse: its settings polled (tpIdx 0, TIMEPULSE), then sent
    // back with the alignment changed, if it must be (polled_tp5).
    const std::uint8_t timepulse = 0;
    requests_.push_back({cfg_tp5,
                         make_frame(cfg_tp5.message_class, cfg_tp5.message_id, {&timepulse, 1}),
                         "CFG-TP5 poll (TIMEPULSE)", true});
}

void Configurator::tp5_answer(Actions& actions, const Item& frame, const Payload& payload) {
    if (is(cfg_tp5, frame.message_class, frame.message_id)) {
        if (payload.size() >= tp5_size && payload[0] == 0) {
            tp5_polled_.emplace(payload.begin(), payload.begin() + tp5_size);
            if (tp5_poll_acknowledged_) {
                polled_tp5(actions);
            }
        }
        return;
    }
    const std::optional<Ack> ack = frame.message_class == ack_ack.message_class
                                       ? decode_ack(frame.message_id, payload)
                                       : std::nullopt;
    if (!ack || !is(cfg_tp5, ack->message_class, ack->message_id)) {
        return;
    }
    if (!ack->acknowledged) {
        ++refused_;
        actions.log(MessageLevel::warn,
                    "the receiver refused the CFG-TP5 poll (ACK-NAK); its time pulse is left as "
                    "it is");
        next(actions);
        return;
    }
    tp5_poll_acknowledged_ = true;
    if (tp5_polled_) {
        polled_tp5(actions);
    }
}

void Configurator::polled_tp5(Actions& actions) {
    ++acknowledged_;
    const std::optional<std::vector<std::uint8_t>> set = aligned_tp5(*tp5_polled_);
    tp5_polled_.reset();
    tp5_poll_acknowledged_ = false;
    if (!set) {
        actions.log(MessageLevel::debug,
                    "UBX configuration: the time pulse is already on the UTC second");
    } else {
        requests_.insert(
            requests_.begin() + static_cast<std::ptrdiff_t>(current_) + 1,
            {cfg_tp5, make_frame(cfg_tp5.message_class, cfg_tp5.message_id, *set),
             "CFG-TP5 (time pulse aligned to the UTC second, its other settings kept)"});
    }
    next(actions);
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
    if (state_ != State::configuring) {
        return actions;
    }
    if (requests_.at(current_).polls_tp5) {
        tp5_answer(actions, frame, payload);
        return actions;
    }
    if (frame.message_class != ack_ack.message_class) {
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
    if (state_ == State::configuring && requests_.at(current_).polls_tp5 && tp5_polled_) {
        // The answer came and its ACK did not: a receiver that does not
        // acknowledge polls.
        polled_tp5(actions);
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
