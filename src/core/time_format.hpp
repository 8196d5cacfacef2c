// How times are written in logs and tool output, in one place.
#pragma once

#include <ctime>
#include <string>

namespace shmrefclock {

// ISO 8601 UTC with `digits` (0-9) of the fraction, truncated:
// 2026-11-21T19:30:01.000123456Z. With `leap_second`, the second of a time
// the NMEA parser reports as 23:59:59 is shown as 60, its real name.
std::string format_utc(const timespec& t, int digits = 9, bool leap_second = false);

// POSIX seconds with nanoseconds, as the logs print sample times:
// 1763753401.000123456
std::string format_seconds(const timespec& t);

} // namespace shmrefclock
