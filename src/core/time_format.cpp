#include "core/time_format.hpp"

#include <chrono>
#include <cstdint>

#include <fmt/format.h>

#include "shmrefclock/sample.hpp"

namespace shmrefclock {

std::string format_utc(const timespec& t, int digits, bool leap_second) {
    // Days and seconds of the day by floor division: no gmtime_r, so any
    // time_t a receiver or a segment holds can be shown.
    std::int64_t day = t.tv_sec / seconds_per_day;
    std::int64_t second = t.tv_sec % seconds_per_day;
    if (second < 0) {
        second += seconds_per_day;
        --day;
    }
    const std::chrono::year_month_day date{std::chrono::sys_days{std::chrono::days{day}}};
    std::string text =
        fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", static_cast<int>(date.year()),
                    static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                    second / 3600, second / 60 % 60, second % 60 + (leap_second ? 1 : 0));
    if (digits > 0) {
        text += fmt::format(".{:09d}", t.tv_nsec).substr(0, static_cast<std::size_t>(digits) + 1);
    }
    return text + 'Z';
}

std::string format_seconds(const timespec& t) {
    return fmt::format("{}.{:09d}", t.tv_sec, t.tv_nsec);
}

} // namespace shmrefclock
