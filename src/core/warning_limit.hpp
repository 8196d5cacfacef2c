// Rate limit for a warning that the input can cause every cycle (a
// receiver whose time jumps each second, one that repeats every cycle): the
// first is logged, then at most one a minute, saying how many were left out
// since. The journal is not flooded and the first one is never late.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "shmrefclock/sample.hpp"

namespace shmrefclock {

class WarningLimit {
public:
    static constexpr std::int64_t interval_ns = 60 * ns_per_s;

    // What to log at `now_ns` (monotonic) for `message`, or nothing.
    std::optional<std::string> admit(std::int64_t now_ns, std::string_view message) {
        if (last_ns_ && now_ns - *last_ns_ < interval_ns) {
            ++left_out_;
            return std::nullopt;
        }
        last_ns_ = now_ns;
        std::string text(message);
        if (left_out_ > 0) {
            text += fmt::format(" ({} more like it in the last minute not logged)", left_out_);
            left_out_ = 0;
        }
        return text;
    }

private:
    std::optional<std::int64_t> last_ns_;
    std::uint64_t left_out_ = 0;
};

} // namespace shmrefclock
