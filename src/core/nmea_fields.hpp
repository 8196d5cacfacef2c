// How the NMEA parser (core/nmea_parser.hpp) reads the fields of one
// sentence: the comma-separated fields, numbers, the time of day, what a
// sentence says about its fix, where each sentence type keeps its fields,
// and the day numbers dates are judged in. Pure like the parser, and only
// the parser's: nmea_parser.cpp assembles sentences and cycles from these.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/nmea_parser.hpp"
#include "shmrefclock/sample.hpp"

namespace shmrefclock::nmea::fields {

// The parser works in 32-bit seconds of the day.
inline constexpr auto day_seconds = static_cast<std::int32_t>(seconds_per_day);
inline constexpr std::int32_t half_day = day_seconds / 2;

constexpr std::int64_t day_number(std::chrono::year_month_day date) noexcept {
    return std::chrono::sys_days{date}.time_since_epoch().count();
}

// GPS time starts on 1980-01-06. A receiver that lost any number of 1024-week
// rollovers still reports a date on or after it, so an earlier date is
// garbage, not something to repair.
inline constexpr std::int64_t gps_epoch_day =
    day_number(std::chrono::year{1980} / std::chrono::January / std::chrono::day{6});

// Whether a field is there, and if so whether it made sense.
enum class Field : std::uint8_t { empty, ok, bad };

bool all_digits(std::string_view text) noexcept;

// Precondition: all_digits(text) and text.size() <= 4.
int number(std::string_view text) noexcept;

// A checksum digit's value (either case), or -1.
int hex_digit(char c) noexcept;

bool is_upper(char c) noexcept;

// The comma-separated fields of a sentence body; field 0 is the address.
// Missing trailing fields read as empty.
class Fields {
public:
    explicit Fields(std::string_view body) noexcept;
    std::size_t count() const noexcept { return count_; }
    std::string_view operator[](std::size_t index) const noexcept {
        return index < count_ && index < stored_.size() ? stored_[index] : std::string_view{};
    }

private:
    // More than any field this parser reads (RMC's mode indicator is field 12).
    std::array<std::string_view, 16> stored_{};
    std::size_t count_ = 0;
};

// hhmmss[.f...]: receivers send anything from no fraction (Garmin, TomTom)
// to 2 or 3 digits (u-blox, SiRF) to more (Trimble RTK); all are kept to the
// nanosecond. 60 seconds is accepted only at 23:59, where UTC inserts leap
// seconds.
Field parse_time_of_day(std::string_view text, TimeOfDay& time) noexcept;

std::int32_t second_of_day(const TimeOfDay& time) noexcept;

// How far apart two seconds of the day are, going round midnight.
std::int32_t distance_round_the_clock(std::int32_t a, std::int32_t b) noexcept;

bool last_day_of_month(std::int64_t day) noexcept;

// A sentence's own statement about its fix.
struct FixReport {
    Field field = Field::ok;
    InvalidReason reason = InvalidReason::none;
};

FixReport rmc_or_gll_fix(std::string_view status, std::string_view mode) noexcept;
FixReport gga_fix(std::string_view quality, std::string_view satellites) noexcept;
// GNS has one mode character per constellation (GPS, GLONASS, Galileo,
// BeiDou, QZSS, NavIC): the time is good if any one of them has a fix.
FixReport gns_fix(std::string_view modes, std::string_view satellites) noexcept;

struct Layout {
    std::string_view formatter;
    SentenceType type;
    std::size_t time_field;
    // Fields up to the last one read must be there (counting the address as
    // field 0); later optional fields (RMC mode, nav status) may be absent.
    std::size_t required_fields;
};

// NMEA 0183 field positions (after the address field):
//   RMC  1 time, 2 status, 9 ddmmyy, 12 mode (2.3+), 13 nav status (4.1+)
//   GLL  5 time, 6 status, 7 mode (2.3+)
//   GGA  1 time, 6 quality, 7 satellites used
//   GNS  1 time, 6 modes (one per constellation), 7 satellites used, 13 nav status (4.1+)
//   ZDA  1 time, 2 day, 3 month, 4 year, 5-6 local zone (ignored: the time is UTC)
inline constexpr std::array<Layout, 5> layouts{{
    {"RMC", SentenceType::rmc, 1, 10},
    {"ZDA", SentenceType::zda, 1, 5},
    {"GGA", SentenceType::gga, 1, 7},
    {"GLL", SentenceType::gll, 5, 7},
    {"GNS", SentenceType::gns, 1, 7},
}};

} // namespace shmrefclock::nmea::fields
