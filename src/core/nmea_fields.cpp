#include "core/nmea_fields.hpp"

#include <algorithm>

namespace shmrefclock::nmea::fields {
namespace {

std::chrono::year_month_day civil(std::int64_t day) noexcept {
    return std::chrono::year_month_day{std::chrono::sys_days{std::chrono::days{day}}};
}

bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}

// A mode indicator character (NMEA 2.3+ RMC/GLL field, one per constellation
// in GNS). 'E' (dead reckoning) still keeps time from a receiver that had a
// fix; 'M' and 'S' are times someone typed in or a simulator made up.
InvalidReason mode_indicator(char mode) noexcept {
    switch (mode) {
    case 'A': // autonomous
    case 'D': // differential
    case 'E': // estimated (dead reckoning)
    case 'F': // RTK float
    case 'R': // RTK fixed
    case 'P': // precise
        return InvalidReason::none;
    case 'M': // manual input
    case 'S': // simulator
        return InvalidReason::not_gnss;
    default: // 'N' data not valid, and anything we cannot vouch for
        return InvalidReason::no_fix;
    }
}

// Quality 1 with "00" satellites used: the Hemisphere in hemi.log and the
// SiRF in haicom-305N.log say so for seconds while acquiring, and gpsd calls
// it no fix. But the Furuno GT-88 (furuno_gl_ga.log) counts only GPS
// satellites here and sends "00" with a GLONASS+Galileo fix, so this vouches
// for nothing without vetoing the rest of the cycle.
bool no_satellites_used(std::string_view satellites) noexcept {
    return !satellites.empty() && satellites.size() <= 2 && all_digits(satellites) &&
           number(satellites) == 0;
}

} // namespace

bool all_digits(std::string_view text) noexcept {
    return std::all_of(text.begin(), text.end(), is_digit);
}

int number(std::string_view text) noexcept {
    int value = 0;
    for (const char c : text) {
        value = value * 10 + (c - '0');
    }
    return value;
}

int hex_digit(char c) noexcept {
    if (is_digit(c)) {
        return c - '0';
    }
    // Upper case is the standard; the Magellan EC-10X sends lower case.
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

bool is_upper(char c) noexcept {
    return c >= 'A' && c <= 'Z';
}

Fields::Fields(std::string_view body) noexcept {
    std::size_t start = 0;
    while (true) {
        const std::size_t comma = body.find(',', start);
        const std::string_view field = body.substr(
            start, comma == std::string_view::npos ? body.size() - start : comma - start);
        if (count_ < stored_.size()) {
            stored_[count_] = field;
        }
        ++count_;
        if (comma == std::string_view::npos) {
            break;
        }
        start = comma + 1;
    }
}

Field parse_time_of_day(std::string_view text, TimeOfDay& time) noexcept {
    if (text.empty()) {
        return Field::empty;
    }
    if (text.size() < 6 || !all_digits(text.substr(0, 6))) {
        return Field::bad;
    }
    std::uint32_t nanosecond = 0;
    if (text.size() > 6) {
        const std::string_view fraction = text.substr(7);
        if (text[6] != '.' || !all_digits(fraction)) {
            return Field::bad;
        }
        for (std::size_t i = 0; i < 9; ++i) {
            nanosecond = nanosecond * 10 + (i < fraction.size() ? fraction[i] - '0' : 0);
        }
    }
    time.hour = number(text.substr(0, 2));
    time.minute = number(text.substr(2, 2));
    time.second = number(text.substr(4, 2));
    time.nanosecond = nanosecond;
    if (time.hour > 23 || time.minute > 59 || time.second > 60) {
        return Field::bad;
    }
    if (time.second == 60 && (time.hour != 23 || time.minute != 59)) {
        return Field::bad;
    }
    return Field::ok;
}

std::int32_t second_of_day(const TimeOfDay& time) noexcept {
    return time.hour * 3600 + time.minute * 60 + time.second;
}

std::int32_t distance_round_the_clock(std::int32_t a, std::int32_t b) noexcept {
    const std::int32_t apart = a > b ? a - b : b - a;
    return std::min(apart, day_seconds - apart);
}

bool last_day_of_month(std::int64_t day) noexcept {
    return civil(day + 1).day() == std::chrono::day{1};
}

FixReport rmc_or_gll_fix(std::string_view status, std::string_view mode) noexcept {
    if (status != "A") {
        return {Field::ok, InvalidReason::status_void};
    }
    // The mode field is absent before NMEA 2.3 (SiRF, TomTom, Meinberg).
    if (!mode.empty()) {
        return {Field::ok, mode_indicator(mode[0])};
    }
    return {};
}

FixReport gga_fix(std::string_view quality, std::string_view satellites) noexcept {
    if (quality.empty()) {
        return {Field::ok, InvalidReason::no_fix};
    }
    if (quality.size() > 2 || !all_digits(quality)) {
        return {Field::bad, InvalidReason::no_fix};
    }
    switch (number(quality)) {
    case 1: // GPS
    case 2: // differential
    case 3: // PPS (precise positioning service)
    case 4: // RTK fixed
    case 5: // RTK float
    case 6: // estimated (dead reckoning)
        break;
    case 7: // manual input
    case 8: // simulator (Garmin demo mode, garmin-geko201.log)
        return {Field::ok, InvalidReason::not_gnss};
    default: // 0: no fix
        return {Field::ok, InvalidReason::no_fix};
    }
    if (no_satellites_used(satellites)) {
        return {Field::ok, InvalidReason::no_satellites};
    }
    return {};
}

FixReport gns_fix(std::string_view modes, std::string_view satellites) noexcept {
    InvalidReason reason = InvalidReason::no_fix;
    for (const char mode : modes) {
        const InvalidReason one = mode_indicator(mode);
        if (one == InvalidReason::none) {
            reason = InvalidReason::none;
            break;
        }
        if (one == InvalidReason::not_gnss) {
            reason = one;
        }
    }
    if (reason == InvalidReason::none && no_satellites_used(satellites)) {
        reason = InvalidReason::no_satellites;
    }
    return {Field::ok, reason};
}

} // namespace shmrefclock::nmea::fields
