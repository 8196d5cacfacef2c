#include "config/config.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <variant>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "config/toml_reader.hpp"
#include "core/device_address.hpp"
#include "core/printable.hpp"
#include "shmrefclock/unit.hpp"

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

constexpr double max_offset = 86400.0;
constexpr double max_step_probation = 86400.0;
constexpr int max_name_length = 32;

// Which keys a [[refclock]] may have, and for which sources.
struct KeyRule {
    std::string_view key;
    bool nmea, pps, system;
};
constexpr KeyRule refclock_keys[] = {
    {"name", true, true, true},       {"source", true, true, true},
    {"unit", true, true, true},       {"offset", true, true, true},
    {"precision", true, true, true},  {"perm", true, true, true},
    {"interval", false, false, true}, {"device", true, true, false},
    {"baud", true, false, false},     {"min-fixes", true, false, false},
    {"lock", false, true, false},     {"edge", false, true, false},
    {"sock", true, true, true},       {"pps", true, false, false},
    {"witness", true, true, false},   {"step-probation", true, false, false},
};

// Messages quote what the file says, and a file can hold any byte: each
// message goes through printable() (core/printable.hpp) so that each problem
// stays one line, and a key or a string is quoted through toml::excerpt(), so
// that a long one cannot make a message long.

// At most this many problems are reported; the rest are counted.
constexpr std::size_t max_problems = 20;

class Validator {
public:
    explicit Validator(std::string path) : path_(std::move(path)) {}

    void error(toml::Position where, const std::string& message) {
        ++count_;
        if (errors_.size() < max_problems) {
            errors_.push_back(
                fmt::format("{}:{}:{}: {}", path_, where.line, where.column, printable(message)));
        }
    }
    bool failed() const { return count_ != 0; }
    std::string report() const {
        std::string joined;
        for (const auto& e : errors_) {
            if (!joined.empty()) {
                joined += '\n';
            }
            joined += e;
        }
        if (count_ > errors_.size()) {
            joined +=
                fmt::format("\n{}: {} more problems not shown", path_, count_ - errors_.size());
        }
        return joined;
    }

    std::optional<std::string> string(const toml::Value& node, std::string_view key) {
        if (auto v = node.as_string()) {
            return *v;
        }
        type_error(node, key, "a string");
        return std::nullopt;
    }

    std::optional<bool> boolean(const toml::Value& node, std::string_view key) {
        if (auto v = node.as_boolean()) {
            return *v;
        }
        type_error(node, key, "a boolean (true or false)");
        return std::nullopt;
    }

    std::optional<std::int64_t> integer(const toml::Value& node, std::string_view key,
                                        std::int64_t min, std::int64_t max) {
        auto v = node.as_integer();
        if (v == nullptr) {
            type_error(node, key, "an integer");
            return std::nullopt;
        }
        if (*v < min || *v > max) {
            error(node.position,
                  fmt::format("{} = {} is out of range ({}..{})", key, *v, min, max));
            return std::nullopt;
        }
        return *v;
    }

    std::optional<double> number(const toml::Value& node, std::string_view key, double min,
                                 double max) {
        double value = 0;
        std::string text;
        if (auto f = node.as_float()) {
            value = *f;
            text = float_text(value);
        } else if (auto i = node.as_integer()) {
            value = static_cast<double>(*i);
            text = fmt::format("{}", *i);
        } else {
            type_error(node, key, "a number");
            return std::nullopt;
        }
        if (!std::isfinite(value) || value < min || value > max) {
            error(node.position,
                  fmt::format("{} = {} is out of range ({}..{})", key, text, min, max));
            return std::nullopt;
        }
        return value;
    }

    std::optional<std::string> choice(const toml::Value& node, std::string_view key,
                                      std::initializer_list<std::string_view> allowed) {
        auto text = string(node, key);
        if (!text) {
            return std::nullopt;
        }
        if (std::find(allowed.begin(), allowed.end(), *text) == allowed.end()) {
            error(node.position, fmt::format("{} = \"{}\" is not one of: {}", key,
                                             toml::excerpt(*text), fmt::join(allowed, ", ")));
            return std::nullopt;
        }
        return text;
    }

private:
    // As TOML writes it, with a decimal point: "1000000.0", "0.001", "nan".
    static std::string float_text(double value) {
        std::string text = fmt::format("{}", value);
        if (std::isfinite(value) && text.find_first_of(".e") == std::string::npos) {
            text += ".0";
        }
        return text;
    }
    void type_error(const toml::Value& node, std::string_view key, std::string_view wanted) {
        error(node.position, fmt::format("{} must be {}, not {}", key, wanted, node.type_name()));
    }

    std::string path_;
    std::vector<std::string> errors_;
    std::size_t count_ = 0;
};

bool valid_name(std::string_view name) {
    return !name.empty() && name.size() <= max_name_length &&
           std::all_of(name.begin(), name.end(), [](char c) {
               return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
           });
}

std::optional<unsigned> parse_perm(std::string_view text) {
    if (text.size() < 3 || text.size() > 4) {
        return std::nullopt;
    }
    unsigned value = 0;
    for (char c : text) {
        if (c < '0' || c > '7') {
            return std::nullopt;
        }
        value = value * 8 + static_cast<unsigned>(c - '0');
    }
    if (value > 0777) {
        return std::nullopt;
    }
    return value;
}

} // namespace

std::variant<ListenAddress, std::string> parse_listen_address(std::string_view text) {
    const std::string_view expected =
        "expected IPV4:PORT or [IPV6]:PORT, e.g. \"127.0.0.1:9463\" or \"[::1]:9463\"";
    ListenAddress address;
    std::string_view port;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return std::string(expected);
        }
        address.host = std::string(text.substr(1, close - 1));
        address.ipv6 = true;
        port = text.substr(close + 2);
        in6_addr binary{};
        if (inet_pton(AF_INET6, address.host.c_str(), &binary) != 1) {
            return fmt::format("\"{}\" is not an IPv6 address (no names: the daemon does not "
                               "resolve the address it listens on)",
                               toml::excerpt(address.host));
        }
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            return std::string(expected);
        }
        address.host = std::string(text.substr(0, colon));
        port = text.substr(colon + 1);
        if (address.host.find(':') != std::string::npos) {
            return fmt::format("an IPv6 address needs brackets: [{}]:{}",
                               toml::excerpt(address.host), toml::excerpt(port));
        }
        in_addr binary{};
        // inet_pton(AF_INET) takes only the dotted quad: no "127.1", no octal.
        if (inet_pton(AF_INET, address.host.c_str(), &binary) != 1) {
            return fmt::format("\"{}\" is not an IPv4 address (no names: the daemon does not "
                               "resolve the address it listens on)",
                               toml::excerpt(address.host));
        }
    }
    unsigned value = 0;
    const bool digits =
        !port.empty() && port.size() <= 5 &&
        std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits) {
        for (char c : port) {
            value = value * 10 + static_cast<unsigned>(c - '0');
        }
    }
    if (!digits || value == 0 || value > 65535) {
        return fmt::format("port \"{}\" must be a number from 1 to 65535", toml::excerpt(port));
    }
    address.port = static_cast<std::uint16_t>(value);
    address.text = address.ipv6 ? fmt::format("[{}]:{}", address.host, value)
                                : fmt::format("{}:{}", address.host, value);
    return address;
}

namespace {

void parse_daemon(Validator& v, const toml::Value& node, DaemonConfig& daemon) {
    const toml::Table* table = node.as_table();
    if (table == nullptr) {
        v.error(node.position, "daemon must be a table ([daemon])");
        return;
    }
    for (const toml::Member& member : table->members) {
        const std::string& key = member.key;
        const toml::Value& value = member.value;
        if (key == "log-level") {
            if (auto level =
                    v.choice(value, "log-level",
                             {"trace", "debug", "info", "warn", "error", "critical", "off"})) {
                daemon.log_level = *level;
            }
        } else if (key == "leap-seconds") {
            if (auto path = v.string(value, "leap-seconds")) {
                // Absolute, so that it does not depend on the daemon's working
                // directory; no control characters, so that the path cannot
                // split the log lines that name it.
                const bool control = std::any_of(path->begin(), path->end(), [](char c) {
                    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
                });
                if (!path->empty() && (path->front() != '/' || control)) {
                    v.error(value.position,
                            fmt::format("leap-seconds = \"{}\" must be an absolute path without "
                                        "control characters, or \"\" for none",
                                        toml::excerpt(*path)));
                } else {
                    daemon.leap_seconds = *path;
                }
            }
        } else if (key == "control") {
            if (auto path = v.string(value, "control")) {
                // A Unix socket path: absolute (the daemon's working
                // directory is no place for it), within sun_path's 108
                // bytes with its NUL, no control characters (it is logged).
                if (!path->empty() && (path->front() != '/' || path->size() > 107 ||
                                       has_control_characters(*path) || path->back() == '/')) {
                    v.error(value.position,
                            fmt::format("control = \"{}\" must be an absolute path of a socket "
                                        "file (at most 107 bytes, no control characters), or "
                                        "\"\" for no control socket",
                                        toml::excerpt(*path)));
                } else {
                    daemon.control = *path;
                }
            }
        } else if (key == "metrics") {
            if (auto text = v.string(value, "metrics")) {
                auto parsed = parse_listen_address(*text);
                if (auto* address = std::get_if<ListenAddress>(&parsed)) {
                    daemon.metrics = *address;
                } else {
                    v.error(value.position,
                            fmt::format("metrics = \"{}\": {}", toml::excerpt(*text),
                                        std::get<std::string>(parsed)));
                }
            }
        } else {
            v.error(member.key_position,
                    fmt::format("unknown key '{}' in [daemon]", toml::excerpt(key)));
        }
    }
}

const KeyRule* find_rule(std::string_view key) {
    for (const auto& rule : refclock_keys) {
        if (rule.key == key) {
            return &rule;
        }
    }
    return nullptr;
}

bool applies(const KeyRule& rule, SourceKind source) {
    switch (source) {
    case SourceKind::nmea:
        return rule.nmea;
    case SourceKind::pps:
        return rule.pps;
    case SourceKind::system:
        return rule.system;
    }
    return false;
}

// Parse one [[refclock]]; returns false if it is unusable for the
// cross-refclock checks.
bool parse_refclock(Validator& v, const toml::Value& item, RefclockConfig& rc) {
    const toml::Table& table = *item.as_table();
    rc.line = static_cast<int>(item.position.line);
    bool ok = true;

    // The source decides which keys apply, so read it first.
    std::optional<SourceKind> source;
    if (const toml::Value* node = table.find("source")) {
        if (auto text = v.choice(*node, "source", {"nmea", "pps", "system"})) {
            source = *text == "nmea"  ? SourceKind::nmea
                     : *text == "pps" ? SourceKind::pps
                                      : SourceKind::system;
            rc.source = *source;
        } else {
            ok = false;
        }
    } else {
        v.error(item.position, "[[refclock]] is missing the required key 'source'");
        ok = false;
    }
    rc.precision = default_precision(rc.source);

    bool have_name = false, have_device = false, have_lock = false;
    for (const toml::Member& member : table.members) {
        const std::string_view k = member.key;
        const toml::Value& node = member.value;
        const KeyRule* rule = find_rule(k);
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
        if (k == "source") {
            continue;
        } else if (k == "name") {
            if (auto name = v.string(node, k)) {
                if (!valid_name(*name)) {
                    v.error(node.position,
                            fmt::format("name \"{}\" must be 1 to {} characters of A-Z a-z 0-9 . "
                                        "_ -",
                                        toml::excerpt(*name), max_name_length));
                    ok = false;
                } else if (*name == "system") {
                    v.error(node.position, "name \"system\" is reserved: lock = \"system\" means "
                                           "the system clock");
                    ok = false;
                } else {
                    rc.name = *name;
                    have_name = true;
                }
            } else {
                ok = false;
            }
        } else if (k == "unit") {
            if (auto unit = v.integer(node, k, 0, shm_unit_max)) {
                rc.unit = static_cast<int>(*unit);
            } else {
                ok = false;
            }
        } else if (k == "sock") {
            if (auto sock = v.string(node, k)) {
                // sun_path holds 108 bytes with the terminating NUL.
                if (sock->empty() || sock->front() != '/' || sock->size() > 107 ||
                    has_control_characters(*sock)) {
                    v.error(node.position, fmt::format("sock = \"{}\" must be an absolute path "
                                                       "of at most 107 characters, without "
                                                       "control characters",
                                                       toml::excerpt(*sock)));
                } else {
                    rc.sock = *sock;
                }
            }
        } else if (k == "witness") {
            if (auto witness = v.boolean(node, k)) {
                rc.witness = *witness;
            }
        } else if (k == "pps") {
            if (auto pps = v.choice(node, k, {"dcd"})) {
                rc.pps_dcd = true;
            }
        } else if (k == "offset") {
            if (auto offset = v.number(node, k, -max_offset, max_offset)) {
                rc.offset = *offset;
            }
        } else if (k == "precision") {
            if (auto precision = v.integer(node, k, -30, 0)) {
                rc.precision = static_cast<int>(*precision);
            }
        } else if (k == "perm") {
            if (auto text = v.string(node, k)) {
                auto perm = parse_perm(*text);
                if (!perm) {
                    v.error(node.position,
                            fmt::format("perm = \"{}\" is not an octal mode like \"0600\"",
                                        toml::excerpt(*text)));
                } else if ((*perm & 0600) != 0600) {
                    v.error(node.position, fmt::format("perm = \"{}\" must let the owner read and "
                                                       "write the segment (0600)",
                                                       toml::excerpt(*text)));
                } else {
                    rc.perm = *perm;
                }
            }
        } else if (k == "step-probation") {
            // Seconds a new timeline must hold before it is believed without
            // the kernel witness (core/timeline.hpp). Under 10 minutes is for
            // tests and for users who accept the risk: the man page says so.
            if (auto probation = v.number(node, k, 1.0, max_step_probation)) {
                rc.step_probation = *probation;
            }
        } else if (k == "interval") {
            if (auto interval = v.number(node, k, 0.1, 3600.0)) {
                rc.interval = *interval;
            }
        } else if (k == "device") {
            // Present, even when refused: its own message says what is wrong,
            // not a second one saying that it is missing.
            have_device = true;
            if (auto device = v.string(node, k)) {
                const auto address = parse_device_address(*device);
                if (device->empty()) {
                    v.error(node.position, "device must not be empty");
                } else if (has_control_characters(*device)) {
                    // A NUL would cut the path open() sees; a newline would
                    // forge log lines in every message that names the device.
                    v.error(node.position,
                            fmt::format("device = \"{}\" must not contain control characters "
                                        "(NUL, newline, ...)",
                                        toml::excerpt(*device)));
                } else if (const auto* problem = std::get_if<std::string>(&address)) {
                    v.error(node.position,
                            fmt::format("device = {}: {}", toml::excerpt(*device), *problem));
                } else {
                    rc.device = *device;
                }
            }
        } else if (k == "baud") {
            if (auto baud = v.integer(node, k, 0, 10'000'000)) {
                if (std::find(valid_bauds.begin(), valid_bauds.end(), *baud) == valid_bauds.end()) {
                    v.error(node.position, fmt::format("baud = {} is not one of: {}", *baud,
                                                       fmt::join(valid_bauds, ", ")));
                } else {
                    rc.baud = static_cast<int>(*baud);
                }
            }
        } else if (k == "min-fixes") {
            if (auto fixes = v.integer(node, k, 1, max_min_fixes)) {
                rc.min_fixes = static_cast<int>(*fixes);
            }
        } else if (k == "lock") {
            if (auto lock = v.string(node, k)) {
                rc.lock = *lock;
                have_lock = true;
            } else {
                ok = false;
            }
        } else if (k == "edge") {
            if (auto edge = v.choice(node, k, {"assert", "clear"})) {
                rc.edge = *edge == "assert" ? PpsEdge::assert_edge : PpsEdge::clear_edge;
            }
        }
    }

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
        std::holds_alternative<TcpAddress>(std::get<DeviceAddress>(parse_device_address(rc.device)))) {
        // The DCD line is a serial port's modem line: a networked receiver
        // has none, and the line discipline cannot be set on a socket. Said
        // here rather than when the daemon first opens the device.
        v.error(table.find("pps")->position,
                fmt::format("pps = \"dcd\" needs a serial device, and device = \"{}\" is a TCP "
                            "address (a networked receiver has no DCD line)",
                            toml::excerpt(rc.device)));
        ok = false;
    }
    return ok;
}

void check_refclocks_together(Validator& v, const toml::Array& tables, Config& config,
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
        usable.push_back(parse_refclock(v, item, rc));
        config.refclocks.push_back(std::move(rc));
    }
    check_refclocks_together(v, *tables, config, usable);
    if (v.failed()) {
        throw ConfigError(v.report());
    }
    return config;
}

// At most max_file_size bytes and one more are read: a larger file is
// refused without reading the rest.
Config load_config(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw ConfigError(fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
    }
    std::string text(toml::max_file_size + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    if (in.bad()) {
        throw ConfigError(fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
    }
    text.resize(static_cast<std::size_t>(in.gcount()));
    return parse_config(text, path);
}

} // namespace shmrefclock
