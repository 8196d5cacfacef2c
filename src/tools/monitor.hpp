// `shmrefclock monitor`: watch SHM units written by anyone, read-only.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "shmrefclock/shm.hpp"

namespace shmrefclock {

struct MonitorOptions {
    std::vector<int> units;
    std::optional<std::uint64_t> count; // stop after this many samples
    bool json = false;
};

// "0-3", "0,2,5-7" -> units; std::nullopt (and `error` set) when malformed.
std::optional<std::vector<int>> parse_unit_list(const std::string& text, std::string& error);

// One line for `snap` of `unit`, as text or JSON. A segment holds whatever
// its writer put there: a time with a fraction outside [0, 1 s) (a negative
// microsecond field), before 1970 or after 9999 is shown raw and flagged
// ("INVALID: ..." in text, "invalid" in JSON), and clock-receive is left out
// ("-", null) rather than computed from it.
std::string format_snapshot(int unit, const ShmSnapshot& snap, bool json);

// Print one line per new sample until `count` samples or SIGINT/SIGTERM.
int run_monitor(const MonitorOptions& options, std::ostream& out);

} // namespace shmrefclock
