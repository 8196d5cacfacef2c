// The walk over the TOML tree: the root's two tables, each [daemon] and
// [[refclock]] key handed to its rule in the key table (keys.hpp), the keys
// a refclock needs together, then the checks across refclocks
// (cross_checks.hpp). All problems are collected, in file order.
#include "config/config.hpp"

#include <algorithm>
#include <optional>
#include <variant>

#include <fmt/format.h>

#include "config/cross_checks.hpp"
#include "config/keys.hpp"
#include "config/toml_reader.hpp"
#include "config/validator.hpp"
#include "core/device_address.hpp"
#include "core/printable.hpp"

namespace shmrefclock {

std::string_view to_string(SourceKind kind) {
    switch (kind) {
    case SourceKind::nmea:
        return "nmea";
    case SourceKind::pps:
        return "pps";
    case SourceKind::system:
        return "system";
    }
    return "?";
}

int default_precision(SourceKind kind) {
    switch (kind) {
    case SourceKind::nmea:
        return -1;
    case SourceKind::pps:
    case SourceKind::system:
        return -20;
    }
    return -1;
}

bool is_log_level(std::string_view name) {
    return std::find(std::begin(log_level_names), std::end(log_level_names), name) !=
           std::end(log_level_names);
}

namespace {

void parse_daemon(Validator& v, const toml::Value& node, DaemonConfig& daemon) {
    const toml::Table* table = node.as_table();
    if (table == nullptr) {
        v.error(node.position, "daemon must be a table ([daemon])");
        return;
    }
    RefclockConfig unused; // no [daemon] key sets one
    for (const toml::Member& member : table->members) {
        const KeyRule* rule = find_key(Section::daemon, member.key);
        if (rule == nullptr) {
            v.error(member.key_position,
                    fmt::format("unknown key '{}' in [daemon]", toml::excerpt(member.key)));
            continue;
        }
        KeyTarget target{v, member.value, daemon, unused};
        apply_key(*rule, target);
    }
}

// Parse one [[refclock]]; returns false if it is unusable for the
// cross-refclock checks.
bool parse_refclock(Validator& v, const toml::Value& item, DaemonConfig& daemon,
                    RefclockConfig& rc) {
    const toml::Table& table = *item.as_table();
    rc.line = static_cast<int>(item.position.line);
    bool ok = true;

    // The source decides which keys apply, so read it first.
    const KeyRule& source_rule = *find_key(Section::refclock, "source");
    std::optional<SourceKind> source;
    if (const toml::Value* node = table.find("source")) {
        KeyTarget target{v, *node, daemon, rc};
        if (apply_key(source_rule, target)) {
            source = rc.source;
        } else {
            ok = false;
        }
    } else {
        v.error(item.position, "[[refclock]] is missing the required key 'source'");
        ok = false;
    }
    rc.precision = default_precision(rc.source);

    for (const toml::Member& member : table.members) {
        const std::string_view k = member.key;
        const KeyRule* rule = find_key(Section::refclock, k);
        if (rule == nullptr) {
            v.error(member.key_position,
                    fmt::format("unknown key '{}' in [[refclock]]", toml::excerpt(k)));
            ok = false;
            continue;
        }
        if (source && !applies(*rule, *source)) {
            v.error(member.key_position,
                    fmt::format("key '{}' does not apply to source \"{}\"", k, to_string(*source)));
            ok = false;
            continue;
        }
        if (rule == &source_rule) {
            continue;
        }
        KeyTarget target{v, member.value, daemon, rc};
        if (!apply_key(*rule, target) && rule->needed) {
            ok = false;
        }
    }

    // A name is there once accepted (a valid name is never empty); a device
    // is there even when refused: its own message says what is wrong, not a
    // second one saying that it is missing; a lock is there once it is a
    // string, even "" (which names no refclock, said across refclocks).
    const bool have_name = !rc.name.empty();
    const bool have_device = table.find("device") != nullptr;
    const toml::Value* lock = table.find("lock");
    const bool have_lock = lock != nullptr && lock->as_string() != nullptr;
    auto require = [&](bool present, std::string_view key) {
        if (!present) {
            v.error(item.position,
                    fmt::format("[[refclock]]{} is missing the required key '{}'",
                                have_name ? fmt::format(" \"{}\"", rc.name) : "", key));
            ok = false;
        }
    };
    require(have_name, "name");
    if (!rc.unit && table.find("sock") == nullptr && ok) {
        v.error(item.position,
                fmt::format("[[refclock]]{} has neither 'unit' nor 'sock': it would publish "
                            "nowhere",
                            have_name ? fmt::format(" \"{}\"", rc.name) : ""));
        ok = false;
    }
    // A pps refclock may leave `device` out when its lock is an nmea refclock
    // with pps = "dcd": the device is the one the line discipline creates,
    // whose number is only known at run time (checked in
    // check_refclocks_together).
    if (source && *source == SourceKind::nmea) {
        require(have_device, "device");
    }
    if (source && *source == SourceKind::pps) {
        require(have_lock, "lock");
    }
    if (rc.pps_dcd && !rc.device.empty() &&
        std::holds_alternative<TcpAddress>(
            std::get<DeviceAddress>(parse_device_address(rc.device)))) {
        // The DCD line is a serial port's modem line: a networked receiver
        // has none, and the line discipline cannot be set on a socket. Said
        // here rather than when the daemon first opens the device.
        v.error(table.find("pps")->position,
                fmt::format("pps = \"dcd\" needs a serial device, and device = \"{}\" is a TCP "
                            "address (a networked receiver has no DCD line)",
                            toml::excerpt(rc.device)));
        ok = false;
    }
    if (rc.ubx_configure && rc.protocol == ReceiverProtocol::nmea) {
        // The configuration is UBX, and its answers are UBX frames, which
        // protocol = "nmea" does not read.
        v.error(table.find("ubx-configure")->position,
                "ubx-configure = true needs protocol = \"auto\" or \"ubx\": the answers are "
                "UBX frames, which protocol = \"nmea\" does not read");
        ok = false;
    }
    return ok;
}

} // namespace

Config parse_config(std::string_view text, const std::string& path) {
    auto read = toml::read(text);
    if (const auto* problem = std::get_if<toml::Error>(&read)) {
        if (problem->where.line == 0) {
            throw ConfigError(fmt::format("{}: {}", path, printable(problem->message)));
        }
        throw ConfigError(fmt::format("{}:{}:{}: {}", path, problem->where.line,
                                      problem->where.column, printable(problem->message)));
    }
    const toml::Table& root = std::get<toml::Table>(read);

    Validator v(path);
    Config config;
    config.path = path;
    const toml::Array* tables = nullptr;
    for (const toml::Member& member : root.members) {
        const toml::Value& node = member.value;
        if (member.key == "daemon") {
            parse_daemon(v, node, config.daemon);
        } else if (member.key == "refclock") {
            tables = node.as_array();
            const bool of_tables =
                tables != nullptr && !tables->items.empty() &&
                std::all_of(tables->items.begin(), tables->items.end(),
                            [](const toml::Value& item) { return item.as_table() != nullptr; });
            if (!of_tables) {
                v.error(node.position, "refclock must be an array of tables ([[refclock]])");
                tables = nullptr;
            }
        } else {
            v.error(member.key_position, fmt::format("unknown key '{}' (expected [daemon] or "
                                                     "[[refclock]])",
                                                     toml::excerpt(member.key)));
        }
    }
    if (tables == nullptr) {
        if (!v.failed()) {
            v.error({1, 1}, "no [[refclock]] is configured: there is nothing to run");
        }
        throw ConfigError(v.report());
    }

    std::vector<bool> usable;
    for (const toml::Value& item : tables->items) {
        RefclockConfig rc;
        usable.push_back(parse_refclock(v, item, config.daemon, rc));
        config.refclocks.push_back(std::move(rc));
    }
    check_refclocks_together(v, *tables, config, usable);
    if (v.failed()) {
        throw ConfigError(v.report());
    }
    return config;
}

} // namespace shmrefclock
