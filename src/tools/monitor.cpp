#include "tools/monitor.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <csignal>
#include <map>
#include <optional>
#include <string_view>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/time_format.hpp"
#include "shmrefclock/shm.hpp"

namespace shmrefclock {

namespace {

std::atomic<bool> interrupted{false};

std::optional<int> parse_unit(std::string_view text) {
    int value = -1;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < 0 ||
        value > shm_unit_max) {
        return std::nullopt;
    }
    return value;
}

// What identifies one write: a mode-0 writer does not bump count.
struct SampleId {
    int count;
    timespec receive;
    timespec reference;
    bool operator==(const SampleId& o) const {
        return count == o.count && receive.tv_sec == o.receive.tv_sec &&
               receive.tv_nsec == o.receive.tv_nsec && reference.tv_sec == o.reference.tv_sec &&
               reference.tv_nsec == o.reference.tv_nsec;
    }
};

// The latest time format_utc() is asked to show: 9999-12-31T23:59:59Z. A
// segment can hold any bit pattern; a time outside 1970..9999 or with a
// fraction outside [0, 1 s) is no time a writer meant.
constexpr std::int64_t last_shown_second = 253402300799;

// What is wrong with `t` as a segment time, or nothing.
std::optional<std::string> time_problem(const timespec& t) {
    if (t.tv_nsec < 0 || t.tv_nsec >= ns_per_s) {
        return fmt::format("fraction {} ns outside 0..999999999", t.tv_nsec);
    }
    if (t.tv_sec < 0) {
        return "before 1970";
    }
    if (t.tv_sec > last_shown_second) {
        return "after 9999";
    }
    return std::nullopt;
}

} // namespace

std::string format_snapshot(int unit, const ShmSnapshot& snap, bool json) {
    const Sample& s = snap.sample;
    const auto clock_problem = time_problem(s.reference_time);
    const auto receive_problem = time_problem(s.receive_time);
    std::string problems;
    auto note = [&problems](std::string_view which, const std::optional<std::string>& problem) {
        if (problem) {
            problems += fmt::format("{}{} time {}", problems.empty() ? "" : "; ", which, *problem);
        }
    };
    note("clock", clock_problem);
    note("receive", receive_problem);
    // Shown only between two sane times. Seconds and nanoseconds apart:
    // 1970 and 9999 are further apart than int64 nanoseconds reach.
    auto shown = [](const timespec& t, const std::optional<std::string>& problem) {
        return problem ? std::string("invalid") : format_utc(t);
    };
    const bool both = !clock_problem && !receive_problem;
    const double difference =
        both ? static_cast<double>(s.reference_time.tv_sec - s.receive_time.tv_sec) +
                   ns_to_seconds(s.reference_time.tv_nsec - s.receive_time.tv_nsec)
             : 0.0;
    if (json) {
        nlohmann::ordered_json line = {
            {"unit", unit},
            {"clock", shown(s.reference_time, clock_problem)},
            {"receive", shown(s.receive_time, receive_problem)},
            {"clock_sec", s.reference_time.tv_sec},
            {"clock_nsec", s.reference_time.tv_nsec},
            {"receive_sec", s.receive_time.tv_sec},
            {"receive_nsec", s.receive_time.tv_nsec},
            // Rounded to the nanosecond the segment carries, so that the
            // double's shortest form does not show binary noise.
            {"clock_minus_receive",
             both ? nlohmann::ordered_json(std::round(difference * 1e9) / 1e9) : nullptr},
            {"leap", static_cast<int>(s.leap)},
            {"precision", s.precision},
            {"mode", snap.mode},
            {"count", snap.count},
            {"valid", snap.valid},
        };
        if (!problems.empty()) {
            line["invalid"] = problems;
        }
        return line.dump() + "\n";
    }
    auto raw = [](const timespec& t) { return fmt::format("{}s {}ns", t.tv_sec, t.tv_nsec); };
    return fmt::format("unit {:<3} clock {}  receive {}  clock-receive {}  leap {}  "
                       "precision {}{}\n",
                       unit, clock_problem ? raw(s.reference_time) : format_utc(s.reference_time),
                       receive_problem ? raw(s.receive_time) : format_utc(s.receive_time),
                       both ? fmt::format("{:+.9f}", difference) : "-", static_cast<int>(s.leap),
                       s.precision, problems.empty() ? "" : "  INVALID: " + problems);
}

std::optional<std::vector<int>> parse_unit_list(const std::string& text, std::string& error) {
    std::vector<int> units;
    std::string_view rest = text;
    while (true) {
        const auto comma = rest.find(',');
        const std::string_view item = rest.substr(0, comma);
        const auto dash = item.find('-');
        auto first = parse_unit(item.substr(0, dash));
        auto last = dash == std::string_view::npos ? first : parse_unit(item.substr(dash + 1));
        if (!first || !last || *last < *first) {
            error = fmt::format("\"{}\" is not a unit or a range of units (0..{}, e.g. 0-3 or "
                                "0,2,5-7)",
                                item, shm_unit_max);
            return std::nullopt;
        }
        for (int u = *first; u <= *last; ++u) {
            if (std::find(units.begin(), units.end(), u) == units.end()) {
                units.push_back(u);
            }
        }
        if (comma == std::string_view::npos) {
            break;
        }
        rest = rest.substr(comma + 1);
    }
    return units;
}

int run_monitor(const MonitorOptions& options, std::ostream& out) {
    std::signal(SIGINT, [](int) { interrupted = true; });
    std::signal(SIGTERM, [](int) { interrupted = true; });

    std::map<int, std::optional<ShmReader>> readers;
    std::map<int, SampleId> seen;
    std::uint64_t printed = 0;
    // The NTP daemons poll once a second; 20 ms sees every write of a
    // once-a-second source before they clear `valid`, at negligible cost.
    constexpr auto poll = std::chrono::milliseconds(20);
    while (!interrupted) {
        for (int unit : options.units) {
            auto& reader = readers[unit];
            if (!reader) {
                try {
                    reader = ShmReader::open(unit);
                } catch (const ShmError& e) {
                    spdlog::error("{}", e.what());
                    return 3;
                }
                if (!reader) {
                    continue; // not created yet: keep looking
                }
            }
            auto snap = reader->read();
            if (!snap) {
                continue; // being written: next round
            }
            const SampleId id{snap->count, snap->sample.receive_time, snap->sample.reference_time};
            auto it = seen.find(unit);
            const bool first = it == seen.end();
            if (!first && it->second == id) {
                continue;
            }
            seen[unit] = id;
            // What was there before we looked is only a sample if still valid.
            if (first && snap->valid != 1) {
                continue;
            }
            out << format_snapshot(unit, *snap, options.json);
            out.flush();
            if (options.count && ++printed >= *options.count) {
                return 0;
            }
        }
        std::this_thread::sleep_for(poll);
    }
    return 0;
}

} // namespace shmrefclock
