#include "core/ubx_messages.hpp"

#include <chrono>
#include <string_view>

#include "shmrefclock/sample.hpp"

namespace shmrefclock::ubx {

namespace {

// Little-endian fields, assembled byte by byte. Preconditions: the caller
// checked the payload's length.
std::uint8_t u1(Payload p, std::size_t at) noexcept {
    return p[at];
}
std::int8_t i1(Payload p, std::size_t at) noexcept {
    return static_cast<std::int8_t>(p[at]);
}
std::uint16_t u2(Payload p, std::size_t at) noexcept {
    return static_cast<std::uint16_t>(p[at] | p[at + 1] << 8);
}
std::int16_t i2(Payload p, std::size_t at) noexcept {
    return static_cast<std::int16_t>(u2(p, at));
}
std::uint32_t u4(Payload p, std::size_t at) noexcept {
    return static_cast<std::uint32_t>(p[at]) | static_cast<std::uint32_t>(p[at + 1]) << 8 |
           static_cast<std::uint32_t>(p[at + 2]) << 16 |
           static_cast<std::uint32_t>(p[at + 3]) << 24;
}
std::int32_t i4(Payload p, std::size_t at) noexcept {
    return static_cast<std::int32_t>(u4(p, at));
}

// Floored division and its remainder, for times before a boundary.
constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
    return a / b - (a % b != 0 && (a % b < 0) != (b < 0) ? 1 : 0);
}
constexpr std::int64_t floor_mod(std::int64_t a, std::int64_t b) noexcept {
    return a - floor_div(a, b) * b;
}

constexpr std::int64_t ns_per_ms = 1'000'000;

// Nanoseconds to the nearest millisecond (halves up).
constexpr std::int64_t round_to_ms(std::int64_t ns) noexcept {
    return floor_div(ns + ns_per_ms / 2, ns_per_ms);
}

// The date and time of NAV-PVT (at 4) and NAV-TIMEUTC (at 12): year,
// month, day, hour, minute, second.
UtcDateTime date_time(Payload p, std::size_t at, std::int32_t nano) noexcept {
    UtcDateTime time;
    time.year = u2(p, at);
    time.month = u1(p, at + 2);
    time.day = u1(p, at + 3);
    time.hour = u1(p, at + 4);
    time.minute = u1(p, at + 5);
    time.second = u1(p, at + 6);
    time.nano = nano;
    return time;
}

} // namespace

// The epoch's second: rounded to the millisecond first.
std::optional<EpochTime> epoch_time(const UtcDateTime& utc) noexcept {
    const std::chrono::year_month_day date{
        std::chrono::year{utc.year}, std::chrono::month{utc.month}, std::chrono::day{utc.day}};
    const unsigned second = utc.second;
    if (!date.ok() || utc.hour > 23 || utc.minute > 59 || second > 60 ||
        (second == 60 && (utc.hour != 23 || utc.minute != 59)) || utc.nano < -ns_per_s ||
        utc.nano > ns_per_s) {
        return std::nullopt;
    }
    const std::int64_t minute_start =
        std::chrono::sys_days{date}.time_since_epoch().count() * seconds_per_day +
        std::int64_t{utc.hour} * 3600 + std::int64_t{utc.minute} * 60;
    const std::int64_t ms = std::int64_t{second} * 1000 + round_to_ms(utc.nano);
    const std::int64_t rounded_second = floor_div(ms, 1000);
    EpochTime time;
    time.millisecond = static_cast<std::int32_t>(floor_mod(ms, 1000));
    if (second == 60 && rounded_second == 60) {
        // Inside the inserted second: POSIX time reads 23:59:59 again.
        time.posix_seconds = minute_start + 59;
        time.leap_second = true;
    } else if (second == 60 && rounded_second > 60) {
        // Rounded out of the inserted second: this minute had 61 seconds.
        time.posix_seconds = minute_start + rounded_second - 1;
    } else {
        time.posix_seconds = minute_start + rounded_second;
    }
    return time;
}

namespace {

bool length_fits(Payload p, std::size_t size, Lengths lengths) noexcept {
    return lengths == Lengths::exact ? p.size() == size : p.size() >= size;
}

} // namespace

Lengths length_rule(const std::optional<ProtocolVersion>& version) noexcept {
    if (!version) {
        return Lengths::at_least;
    }
    const int major = version->major;
    const bool m8 = major >= 15 && major <= 23;
    const bool f9 = major >= 27 && major <= 33;
    const bool m10 = major == 34;
    return m8 || f9 || m10 ? Lengths::exact : Lengths::at_least;
}

bool decoded_message(std::uint8_t message_class, std::uint8_t message_id) noexcept {
    for (const MessageType type : {nav_pvt, nav_timegps, nav_timeutc, nav_timels, tim_tp, mon_ver,
                                   cfg_tp5, ack_nak, ack_ack}) {
        if (is(type, message_class, message_id)) {
            return true;
        }
    }
    return false;
}

std::optional<NavPvt> decode_nav_pvt(Payload p, Lengths lengths) noexcept {
    if (!length_fits(p, NavPvt::size, lengths)) {
        return std::nullopt;
    }
    NavPvt m;
    m.itow_ms = u4(p, 0);
    m.utc = date_time(p, 4, i4(p, 16));
    m.valid = u1(p, 11);
    m.t_acc_ns = u4(p, 12);
    m.fix_type = u1(p, 20);
    m.flags = u1(p, 21);
    m.flags2 = u1(p, 22);
    return m;
}

std::optional<NavTimeUtc> decode_nav_timeutc(Payload p, Lengths lengths) noexcept {
    if (!length_fits(p, NavTimeUtc::size, lengths)) {
        return std::nullopt;
    }
    NavTimeUtc m;
    m.itow_ms = u4(p, 0);
    m.t_acc_ns = u4(p, 4);
    m.utc = date_time(p, 12, i4(p, 8));
    m.valid = u1(p, 19);
    return m;
}

std::optional<NavTimeGps> decode_nav_timegps(Payload p, Lengths lengths) noexcept {
    if (!length_fits(p, NavTimeGps::size, lengths)) {
        return std::nullopt;
    }
    NavTimeGps m;
    m.itow_ms = u4(p, 0);
    m.ftow_ns = i4(p, 4);
    m.week = i2(p, 8);
    m.leap_s = i1(p, 10);
    m.valid = u1(p, 11);
    m.t_acc_ns = u4(p, 12);
    return m;
}

std::optional<NavTimeLs> decode_nav_timels(Payload p, Lengths lengths) noexcept {
    if (!length_fits(p, NavTimeLs::size, lengths) || u1(p, 4) != 0) {
        return std::nullopt;
    }
    NavTimeLs m;
    m.itow_ms = u4(p, 0);
    m.version = u1(p, 4);
    m.src_of_curr_ls = u1(p, 8);
    m.curr_ls = i1(p, 9);
    m.src_of_ls_change = u1(p, 10);
    m.ls_change = i1(p, 11);
    m.time_to_ls_event = i4(p, 12);
    m.date_of_ls_gps_wn = u2(p, 16);
    m.date_of_ls_gps_dn = u2(p, 18);
    m.valid = u1(p, 23);
    return m;
}

std::optional<TimTp> decode_tim_tp(Payload p, Lengths lengths) noexcept {
    if (!length_fits(p, TimTp::size, lengths)) {
        return std::nullopt;
    }
    TimTp m;
    m.tow_ms = u4(p, 0);
    m.tow_sub_ms = u4(p, 4);
    m.q_err_ps = i4(p, 8);
    m.week = u2(p, 12);
    m.flags = u1(p, 14);
    m.ref_info = u1(p, 15);
    return m;
}

std::optional<MonVer> decode_mon_ver(Payload p) {
    constexpr std::size_t sw_size = 30;
    constexpr std::size_t hw_size = 10;
    constexpr std::size_t extension_size = 30;
    if (p.size() < sw_size + hw_size || (p.size() - sw_size - hw_size) % extension_size != 0) {
        return std::nullopt;
    }
    // A fixed-size field: the text up to its first NUL.
    const auto text = [&](std::size_t at, std::size_t size) {
        const std::string_view field{reinterpret_cast<const char*>(p.data() + at), size};
        return std::string{field.substr(0, field.find('\0'))};
    };
    MonVer m;
    m.sw_version = text(0, sw_size);
    m.hw_version = text(sw_size, hw_size);
    for (std::size_t at = sw_size + hw_size; at < p.size(); at += extension_size) {
        m.extensions.push_back(text(at, extension_size));
    }
    return m;
}

std::optional<Ack> decode_ack(std::uint8_t message_id, Payload p) noexcept {
    if (p.size() < 2 || message_id > 1) {
        return std::nullopt;
    }
    Ack m;
    m.acknowledged = message_id == ack_ack.message_id;
    m.message_class = u1(p, 0);
    m.message_id = u1(p, 1);
    return m;
}

std::optional<ProtocolVersion> protocol_version(const MonVer& version) {
    constexpr std::string_view key = "PROTVER";
    for (const std::string& extension : version.extensions) {
        std::string_view rest{extension};
        if (rest.substr(0, key.size()) != key) {
            continue;
        }
        rest.remove_prefix(key.size());
        if (rest.empty() || (rest.front() != '=' && rest.front() != ' ')) {
            continue;
        }
        rest.remove_prefix(1);
        // MAJOR.MINOR, one to three digits each.
        const auto number = [&rest]() -> std::optional<int> {
            int value = 0;
            std::size_t digits = 0;
            while (digits < rest.size() && digits < 4 && rest[digits] >= '0' &&
                   rest[digits] <= '9') {
                value = value * 10 + (rest[digits] - '0');
                ++digits;
            }
            if (digits == 0 || digits > 3) {
                return std::nullopt;
            }
            rest.remove_prefix(digits);
            return value;
        };
        const std::optional<int> major = number();
        if (!major || rest.empty() || rest.front() != '.') {
            continue;
        }
        rest.remove_prefix(1);
        const std::optional<int> minor = number();
        if (!minor) {
            continue;
        }
        return ProtocolVersion{*major, *minor};
    }
    return std::nullopt;
}

bool leap_count_known(const NavTimeUtc& message) noexcept {
    return message.valid_utc();
}

bool leap_count_known(const NavTimeGps& message) noexcept {
    return message.tow_valid() && message.week_valid() && message.leap_s_valid();
}

bool leap_count_known(const NavTimeLs& message) noexcept {
    // Satellite sources: GPS-GLONASS difference (1), GPS (2), SBAS (3),
    // BeiDou (4), Galileo (5).
    return message.valid_curr_ls() && message.src_of_curr_ls >= 1 && message.src_of_curr_ls <= 5;
}

std::optional<GpsTime> gps_time(const NavTimeGps& m) noexcept {
    if (m.week < 0 || m.itow_ms >= seconds_per_week * 1000) {
        return std::nullopt;
    }
    const std::int64_t ms =
        round_to_ms(static_cast<std::int64_t>(m.itow_ms) * ns_per_ms + m.ftow_ns);
    GpsTime time;
    time.seconds = m.week * seconds_per_week + floor_div(ms, 1000);
    time.millisecond = static_cast<std::int32_t>(floor_mod(ms, 1000));
    return time;
}

PulseTime pulse_time(const TimTp& m) noexcept {
    PulseTime time;
    time.week = m.week;
    time.utc = m.utc_time_base();
    // towSubMS is in 2^-32 ms: to ns, rounded to the nearest.
    const std::uint64_t sub_ns =
        (static_cast<std::uint64_t>(m.tow_sub_ms) * ns_per_ms + (std::uint64_t{1} << 31)) >> 32;
    time.tow_ns =
        static_cast<std::int64_t>(m.tow_ms) * ns_per_ms + static_cast<std::int64_t>(sub_ns);
    return time;
}

} // namespace shmrefclock::ubx
