#include "config/cross_checks.hpp"

#include <map>
#include <string>

#include <fmt/format.h>

namespace shmrefclock {

void check_refclocks_together(Validator& v, const toml::Array& tables, const Config& config,
                              const std::vector<bool>& usable) {
    std::map<std::string, const RefclockConfig*> by_name;
    std::map<int, const RefclockConfig*> by_unit;
    // Two SOCK outputs on one path: the second would connect to the same
    // chronyd socket and its samples would be taken for the first's.
    std::map<std::string, const RefclockConfig*> by_sock;
    for (std::size_t i = 0; i < config.refclocks.size(); ++i) {
        if (!usable[i]) {
            continue;
        }
        const RefclockConfig& rc = config.refclocks[i];
        const toml::Table& table = *tables.items[i].as_table();
        if (auto [it, added] = by_name.emplace(rc.name, &rc); !added) {
            v.error(table.find("name")->position,
                    fmt::format("name \"{}\" is already used by the refclock at line {}", rc.name,
                                it->second->line));
        }
        if (!rc.sock.empty()) {
            if (auto [it, added] = by_sock.emplace(rc.sock, &rc); !added) {
                v.error(table.find("sock")->position,
                        fmt::format("sock = \"{}\" is already used by refclock \"{}\" (line {})",
                                    toml::excerpt(rc.sock), it->second->name, it->second->line));
            } else if (rc.sock == config.daemon.control) {
                v.error(table.find("sock")->position,
                        fmt::format("sock = \"{}\" is the daemon's control socket",
                                    toml::excerpt(rc.sock)));
            }
        }
        if (!rc.unit) {
            continue;
        }
        if (auto [it, added] = by_unit.emplace(*rc.unit, &rc); !added) {
            v.error(table.find("unit")->position,
                    fmt::format("unit {} is already used by refclock \"{}\" (line {})", *rc.unit,
                                it->second->name, it->second->line));
        }
    }
    for (std::size_t i = 0; i < config.refclocks.size(); ++i) {
        const RefclockConfig& rc = config.refclocks[i];
        if (!usable[i] || rc.source != SourceKind::pps || rc.lock == "system") {
            continue;
        }
        const toml::Value& where = *tables.items[i].as_table()->find("lock");
        auto it = by_name.find(rc.lock);
        if (it == by_name.end()) {
            v.error(where.position, fmt::format("lock = \"{}\" names no refclock (use the name of "
                                                "an nmea or system refclock, or \"system\")",
                                                toml::excerpt(rc.lock)));
        } else if (it->second->source == SourceKind::pps) {
            v.error(where.position,
                    fmt::format("lock = \"{}\" is a pps refclock; a pulse must be numbered by a "
                                "source that tells the time (nmea or system)",
                                rc.lock));
        }
    }
    for (std::size_t i = 0; i < config.refclocks.size(); ++i) {
        const RefclockConfig& rc = config.refclocks[i];
        if (!usable[i] || rc.source != SourceKind::pps || !rc.device.empty()) {
            continue;
        }
        auto it = by_name.find(rc.lock);
        if (it == by_name.end() || !it->second->pps_dcd) {
            v.error(tables.items[i].position,
                    fmt::format("[[refclock]] \"{}\" is missing the required key 'device' (it "
                                "may be left out only when lock names an nmea refclock with pps "
                                "= \"dcd\")",
                                rc.name));
        }
    }
}

} // namespace shmrefclock
