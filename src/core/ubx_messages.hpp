// The u-blox UBX messages that say what time it is and whether the receiver
// knows it: typed fields and pure decoders over a frame's payload (from
// core/ubx_frame.hpp), and the rules with a meaning for the time published
// (docs/design.md, "UBX framing and messages").
//
// Offsets and bits are those of u-blox's interface descriptions for M8
// (protocol 15-23), F9 (27+) and M10 (34+), as gpsd's driver_ubx.c reads
// them; each of these messages has the same layout in all three. A payload
// shorter than the message is refused (std::nullopt). A longer one is read
// by the fields it begins with: u-blox extends a message at its end (NAV-PVT
// went from 84 to 92 bytes between protocol 14 and 15 with the first 84
// unchanged); a message with a version field is read only in the versions
// described. Every field is assembled from its bytes (little-endian), never
// read through a cast.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace shmrefclock::ubx {

using Payload = std::span<const std::uint8_t>;

// GPS weeks (and u-blox's UTC weeks) have no leap seconds.
inline constexpr std::int64_t seconds_per_week = 7 * 86400;

// Class and id of each message decoded here.
struct MessageType {
    std::uint8_t message_class;
    std::uint8_t message_id;
};
inline constexpr MessageType nav_pvt{0x01, 0x07};
inline constexpr MessageType nav_timegps{0x01, 0x20};
inline constexpr MessageType nav_timeutc{0x01, 0x21};
inline constexpr MessageType nav_timels{0x01, 0x26};
inline constexpr MessageType tim_tp{0x0D, 0x01};
inline constexpr MessageType mon_ver{0x0A, 0x04};
// The answer to a CFG-TP5 poll (core/ubx_configure.hpp reads it).
inline constexpr MessageType cfg_tp5{0x06, 0x31};
inline constexpr MessageType ack_nak{0x05, 0x00};
inline constexpr MessageType ack_ack{0x05, 0x01};

constexpr bool is(MessageType type, std::uint8_t message_class, std::uint8_t message_id) noexcept {
    return type.message_class == message_class && type.message_id == message_id;
}

// Whether a class/id is one of the messages above (the framer counts the
// others as unknown).
bool decoded_message(std::uint8_t message_class, std::uint8_t message_id) noexcept;

// A UTC date and time as NAV-PVT and NAV-TIMEUTC report it: the fields as
// sent, `nano` (-1e9..1e9, may be negative) added to the rest.
struct UtcDateTime {
    std::uint16_t year = 0;
    std::uint8_t month = 0;
    std::uint8_t day = 0;
    std::uint8_t hour = 0;
    std::uint8_t minute = 0;
    std::uint8_t second = 0; // 0..60
    std::int32_t nano = 0;
};

// UBX-NAV-PVT, 92 bytes: the navigation solution, with UTC date and time.
struct NavPvt {
    static constexpr std::size_t size = 92;
    std::uint32_t itow_ms = 0; // GPS time of week of the navigation epoch
    UtcDateTime utc;
    std::uint8_t valid = 0; // validDate 0x01, validTime 0x02, fullyResolved 0x04
    std::uint32_t t_acc_ns = 0;
    std::uint8_t fix_type = 0; // 0 none, 1 DR, 2 2D, 3 3D, 4 GNSS+DR, 5 time only
    std::uint8_t flags = 0;    // gnssFixOK 0x01
    std::uint8_t flags2 = 0;   // confirmedAvai 0x20, confirmedDate 0x40, confirmedTime 0x80

    bool valid_date() const noexcept { return (valid & 0x01) != 0; }
    bool valid_time() const noexcept { return (valid & 0x02) != 0; }
    // UTC time of day fully resolved: no seconds ambiguity. It does NOT say
    // that the leap-second count is known (ublox-glo.log: set at a cold
    // start while NAV-TIMEGPS says leapS is not valid).
    bool fully_resolved() const noexcept { return (valid & 0x04) != 0; }
    bool gnss_fix_ok() const noexcept { return (flags & 0x01) != 0; }
    bool confirmed_available() const noexcept { return (flags2 & 0x20) != 0; }
    bool confirmed_date() const noexcept { return (flags2 & 0x40) != 0; }
    bool confirmed_time() const noexcept { return (flags2 & 0x80) != 0; }
};

// UBX-NAV-TIMEUTC, 20 bytes.
struct NavTimeUtc {
    static constexpr std::size_t size = 20;
    std::uint32_t itow_ms = 0;
    std::uint32_t t_acc_ns = 0;
    UtcDateTime utc;
    std::uint8_t valid = 0; // validTOW 0x01, validWKN 0x02, validUTC 0x04, utcStandard << 4

    bool valid_tow() const noexcept { return (valid & 0x01) != 0; }
    bool valid_week() const noexcept { return (valid & 0x02) != 0; }
    bool valid_utc() const noexcept { return (valid & 0x04) != 0; }
    // The UTC realisation the receiver follows (3 USNO, 6 SU, 7 NTSC, ...;
    // 0 not available, 15 unknown).
    std::uint8_t utc_standard() const noexcept { return static_cast<std::uint8_t>(valid >> 4); }
};

// UBX-NAV-TIMEGPS, 16 bytes.
struct NavTimeGps {
    static constexpr std::size_t size = 16;
    std::uint32_t itow_ms = 0;
    std::int32_t ftow_ns = 0; // -500000..500000: iTOW's fraction
    std::int16_t week = 0;
    std::int8_t leap_s = 0; // GPS - UTC
    std::uint8_t valid = 0; // towValid 0x01, weekValid 0x02, leapSValid 0x04
    std::uint32_t t_acc_ns = 0;

    bool tow_valid() const noexcept { return (valid & 0x01) != 0; }
    bool week_valid() const noexcept { return (valid & 0x02) != 0; }
    bool leap_s_valid() const noexcept { return (valid & 0x04) != 0; }
};

// UBX-NAV-TIMELS, 24 bytes, version 0 (the only one described).
struct NavTimeLs {
    static constexpr std::size_t size = 24;
    std::uint32_t itow_ms = 0;
    std::uint8_t version = 0;
    // 0 default (firmware), 1 GPS-GLONASS time difference, 2 GPS, 3 SBAS,
    // 4 BeiDou, 5 Galileo, 6 aided data, 7 configured, 255 unknown.
    std::uint8_t src_of_curr_ls = 0;
    std::int8_t curr_ls = 0; // TAI - UTC - 19: the GPS - UTC offset
    // 0 none, 2 GPS, 3 SBAS, 4 BeiDou, 5 Galileo, 6 GLONASS.
    std::uint8_t src_of_ls_change = 0;
    std::int8_t ls_change = 0;         // -1, 0, +1 at the next event
    std::int32_t time_to_ls_event = 0; // s; negative: the last event is past
    std::uint16_t date_of_ls_gps_wn = 0;
    std::uint16_t date_of_ls_gps_dn = 0; // 1..7
    // validCurrLs 0x01, validTimeToLsEvent 0x02. (gpsd tests 0x01 for both:
    // its "time to event valid" mask is wrong.)
    std::uint8_t valid = 0;

    bool valid_curr_ls() const noexcept { return (valid & 0x01) != 0; }
    bool valid_time_to_ls_event() const noexcept { return (valid & 0x02) != 0; }
};

// UBX-TIM-TP, 16 bytes: sent before each time pulse, about the NEXT pulse.
struct TimTp {
    static constexpr std::size_t size = 16;
    std::uint32_t tow_ms = 0;     // the pulse's time of week, in the time base
    std::uint32_t tow_sub_ms = 0; // its fraction of a millisecond, in 2^-32 ms
    std::int32_t q_err_ps = 0;    // quantization error of the pulse, ps
    std::uint16_t week = 0;       // in the time base
    // timeBase 0x01 (0 GNSS, 1 UTC), utc available 0x02, raim 0x0C (0 no
    // information, 1 not active, 2 active), qErrInvalid 0x10 (newer protocol
    // versions; reserved 0 before), TpNotLocked 0x20 (F9 timing).
    std::uint8_t flags = 0;
    // timeRefGnss 0x0F (0 GPS, 1 GLONASS, 2 BeiDou, 3 Galileo, 15
    // unknown), utcStandard << 4 (as NAV-TIMEUTC).
    std::uint8_t ref_info = 0;

    bool utc_time_base() const noexcept { return (flags & 0x01) != 0; }
    bool utc_available() const noexcept { return (flags & 0x02) != 0; }
    std::uint8_t raim() const noexcept { return static_cast<std::uint8_t>(flags >> 2 & 0x03); }
    // qErr may be used: the receiver did not mark it invalid. A receiver
    // whose protocol predates the bit has it reserved (0) and cannot say.
    bool q_err_valid() const noexcept { return (flags & 0x10) == 0; }
    bool tp_not_locked() const noexcept { return (flags & 0x20) != 0; }
    std::uint8_t time_ref_gnss() const noexcept { return ref_info & 0x0F; }
};

// UBX-MON-VER, 40 + 30 * N bytes: software, hardware, N extension strings.
struct MonVer {
    std::string sw_version;
    std::string hw_version;
    std::vector<std::string> extensions;
};

// UBX-ACK-ACK / UBX-ACK-NAK, 2 bytes: the class and id of the message
// acknowledged.
struct Ack {
    bool acknowledged = false; // ACK-ACK; false: ACK-NAK
    std::uint8_t message_class = 0;
    std::uint8_t message_id = 0;
};

// How a timing message's length is checked (issue 21: "lengths checked per
// protocol version"). `exact`: the receiver's protocol version is one whose
// interface description gives the length (length_rule), and a payload of
// any other length is malformed. `at_least`: the version is not known (no
// MON-VER seen) or not one of those: the message is read by the fields
// every version has, and a longer payload is taken.
enum class Lengths : std::uint8_t { at_least, exact };
std::optional<NavPvt> decode_nav_pvt(Payload payload, Lengths lengths = Lengths::at_least) noexcept;
std::optional<NavTimeUtc> decode_nav_timeutc(Payload payload,
                                             Lengths lengths = Lengths::at_least) noexcept;
std::optional<NavTimeGps> decode_nav_timegps(Payload payload,
                                             Lengths lengths = Lengths::at_least) noexcept;
// Version 0 only.
std::optional<NavTimeLs> decode_nav_timels(Payload payload,
                                           Lengths lengths = Lengths::at_least) noexcept;
std::optional<TimTp> decode_tim_tp(Payload payload, Lengths lengths = Lengths::at_least) noexcept;
// Refuses a length that is not 40 + 30 * N.
std::optional<MonVer> decode_mon_ver(Payload payload);
// `message_id`: the frame's (0x01 ACK-ACK, 0x00 ACK-NAK).
std::optional<Ack> decode_ack(std::uint8_t message_id, Payload payload) noexcept;

struct ProtocolVersion {
    int major = 0;
    int minor = 0;
};
// From MON-VER's extension "PROTVER=27.10" (protocol 18 and later) or
// "PROTVER 15.00" (earlier M8 firmware).
std::optional<ProtocolVersion> protocol_version(const MonVer& version);
// The length rule for a receiver of `version`: exact for the versions whose
// interface descriptions this reader follows -- u-blox 8 / M8 (protocol 15
// to 23), F9 (27 to 33), M10 (34) -- where NAV-PVT is 92 bytes, NAV-TIMEUTC
// 20, NAV-TIMEGPS 16, NAV-TIMELS 24 and TIM-TP 16; at_least for any other
// version (u-blox 7's 84-byte NAV-PVT is refused as short either way) and
// without one.
Lengths length_rule(const std::optional<ProtocolVersion>& version) noexcept;

// Whether the receiver says it knows the leap-second count (GPS - UTC), so
// that the UTC it reports is not built on its firmware's default. Any one of
// these is enough; NAV-PVT's validity bits never are.
// - NAV-TIMEUTC: validUTC.
bool leap_count_known(const NavTimeUtc& message) noexcept;
// - NAV-TIMEGPS: time of week, week and leapS all valid.
bool leap_count_known(const NavTimeGps& message) noexcept;
// - NAV-TIMELS: validCurrLs, with the count from a satellite system (GPS,
//   SBAS, BeiDou, Galileo, or the GPS-GLONASS time difference): not the
//   firmware default (0), aided data or configuration (6, 7: not the sky)
//   or unknown (255).
bool leap_count_known(const NavTimeLs& message) noexcept;

// A navigation epoch's UTC time named by the second: the reported time
// rounded to the millisecond first, then split (epochs are not exactly on
// the second: NAV-TIMEUTC's nano is about +321 us in u-blox-m8t-time.log,
// and may be negative). As POSIX time: 23:59:60 is reported as 23:59:59
// with `leap_second` set, like the NMEA parser does; a time rounded up from
// 23:59:59.9995 is the next day's 00:00:00 (a receiver in an inserted leap
// second reports second 60 itself).
struct EpochTime {
    std::int64_t posix_seconds = 0;
    std::int32_t millisecond = 0; // 0..999, after rounding
    bool leap_second = false;
};
// std::nullopt when a field is out of range (month 13, second 61, nano
// beyond +-1e9). Whether the time may be used is the validity bits' to say.
std::optional<EpochTime> epoch_time(const UtcDateTime& time) noexcept;

// NAV-TIMEGPS's time as GPS seconds since 1980-01-06 (week * 604800 + the
// time of week, iTOW + fTOW rounded to the millisecond) and the millisecond.
struct GpsTime {
    std::int64_t seconds = 0;
    std::int32_t millisecond = 0;
};
// std::nullopt for a negative week or a time of week past the week's end.
std::optional<GpsTime> gps_time(const NavTimeGps& message) noexcept;

// TIM-TP's pulse: towMS + towSubMS * 2^-32 ms into `week`, in the time base
// of the flags (UTC or the GNSS of ref_info), as nanoseconds of the week,
// rounded to the nearest.
struct PulseTime {
    std::uint16_t week = 0;
    std::int64_t tow_ns = 0;
    bool utc = false; // time base UTC; false: GNSS time
};
PulseTime pulse_time(const TimTp& message) noexcept;

} // namespace shmrefclock::ubx
