#include "core/time_format.hpp"

#include <fmt/format.h>

namespace shmrefclock {

std::string format_utc(const timespec& t) {
    std::tm tm{};
    const time_t seconds = t.tv_sec;
    if (gmtime_r(&seconds, &tm) == nullptr) {
        return format_seconds(t);
    }
    return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:09d}Z", tm.tm_year + 1900,
                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, t.tv_nsec);
}

std::string format_seconds(const timespec& t) {
    return fmt::format("{}.{:09d}", t.tv_sec, t.tv_nsec);
}

} // namespace shmrefclock
