#pragma once

#include <ctime>
#include <string>

namespace shmrefclock {

// ISO 8601 UTC with nanoseconds: 2026-11-21T19:30:01.000123456Z
std::string format_utc(const timespec& t);

// POSIX seconds with nanoseconds, as the logs print sample times:
// 1763753401.000123456
std::string format_seconds(const timespec& t);

} // namespace shmrefclock
