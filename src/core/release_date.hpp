// The earliest date a receiver can truly report: no GNSS receiver tells a
// time before this release was made. It is the NMEA parser's floor for
// two-digit years and GPS week-rollover repair (core/nmea_parser.hpp),
// fixed in meson.build rather than taken from the build time so that builds
// are reproducible.
#pragma once

#include <chrono>

#include "config_h.hpp"

namespace shmrefclock {

constexpr std::chrono::year_month_day release_date() {
    return std::chrono::year{SHMREFCLOCK_RELEASE_YEAR} / SHMREFCLOCK_RELEASE_MONTH /
           SHMREFCLOCK_RELEASE_DAY;
}

} // namespace shmrefclock
