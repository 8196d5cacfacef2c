// `shmrefclock monitor`: watch SHM units written by anyone, read-only.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace shmrefclock {

struct MonitorOptions {
    std::vector<int> units;
    std::optional<std::uint64_t> count; // stop after this many samples
    bool json = false;
};

// "0-3", "0,2,5-7" -> units; std::nullopt (and `error` set) when malformed.
std::optional<std::vector<int>> parse_unit_list(const std::string& text, std::string& error);

// Print one line per new sample until `count` samples or SIGINT/SIGTERM.
int run_monitor(const MonitorOptions& options, std::ostream& out);

} // namespace shmrefclock
