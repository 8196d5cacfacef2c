#include "config/config.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <variant>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <toml++/toml.h>

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
    {"witness", true, false, false},
};

// Messages quote what the file says, and a file can hold any byte: each
// message goes through printable() (core/printable.hpp) so that each problem
// stays one line (found by tests/fuzz/fuzz_config.cpp: toml++ quotes the
// offending byte).

class Validator {
public:
    explicit Validator(std::string path) : path_(std::move(path)) {}

    void error(const toml::source_region& where, const std::string& message) {
        errors_.push_back(fmt::format("{}:{}:{}: {}", path_, where.begin.line, where.begin.column,
                                      printable(message)));
    }
    bool failed() const { return !errors_.empty(); }
    std::string report() const {
        std::string joined;
        for (const auto& e : errors_) {
            if (!joined.empty()) {
                joined += '\n';
            }
            joined += e;
        }
        return joined;
    }

    std::optional<std::string> string(const toml::node& node, std::string_view key) {
        if (auto v = node.as_string()) {
            return v->get();
        }
        type_error(node, key, "a string");
        return std::nullopt;
    }

    std::optional<bool> boolean(const toml::node& node, std::string_view key) {
        if (auto v = node.as_boolean()) {
            return v->get();
        }
        type_error(node, key, "a boolean (true or false)");
        return std::nullopt;
    }

    std::optional<std::int64_t> integer(const toml::node& node, std::string_view key,
                                        std::int64_t min, std::int64_t max) {
        auto v = node.as_integer();
        if (v == nullptr) {
            type_error(node, key, "an integer");
            return std::nullopt;
        }
        if (v->get() < min || v->get() > max) {
            error(node.source(),
                  fmt::format("{} = {} is out of range ({}..{})", key, v->get(), min, max));
            return std::nullopt;
        }
        return v->get();
    }

    std::optional<double> number(const toml::node& node, std::string_view key, double min,
                                 double max) {
        double value = 0;
        if (auto f = node.as_floating_point()) {
            value = f->get();
        } else if (auto i = node.as_integer()) {
            value = static_cast<double>(i->get());
        } else {
            type_error(node, key, "a number");
            return std::nullopt;
        }
        if (!std::isfinite(value) || value < min || value > max) {
            error(node.source(),
                  fmt::format("{} = {} is out of range ({}..{})", key, toml_text(node), min, max));
            return std::nullopt;
        }
        return value;
    }

    std::optional<std::string> choice(const toml::node& node, std::string_view key,
                                      std::initializer_list<std::string_view> allowed) {
        auto text = string(node, key);
        if (!text) {
            return std::nullopt;
        }
        if (std::find(allowed.begin(), allowed.end(), *text) == allowed.end()) {
            error(node.source(), fmt::format("{} = \"{}\" is not one of: {}", key, *text,
                                             fmt::join(allowed, ", ")));
            return std::nullopt;
        }
        return text;
    }

private:
    static std::string_view type_name(const toml::node& node) {
        switch (node.type()) {
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a float";
        case toml::node_type::boolean:
            return "a boolean";
        case toml::node_type::table:
            return "a table";
        case toml::node_type::array:
            return "an array";
        default:
            return "a date/time";
        }
    }
    static std::string toml_text(const toml::node& node) {
        std::ostringstream out;
        node.visit([&out](const auto& n) { out << n; });
        return out.str();
    }
    void type_error(const toml::node& node, std::string_view key, std::string_view wanted) {
        error(node.source(), fmt::format("{} must be {}, not {}", key, wanted, type_name(node)));
    }

    std::string path_;
    std::vector<std::string> errors_;
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
                               printable(address.host));
        }
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            return std::string(expected);
        }
        address.host = std::string(text.substr(0, colon));
        port = text.substr(colon + 1);
        if (address.host.find(':') != std::string::npos) {
            return fmt::format("an IPv6 address needs brackets: [{}]:{}", printable(address.host),
                               printable(std::string(port)));
        }
        in_addr binary{};
        // inet_pton(AF_INET) takes only the dotted quad: no "127.1", no octal.
        if (inet_pton(AF_INET, address.host.c_str(), &binary) != 1) {
            return fmt::format("\"{}\" is not an IPv4 address (no names: the daemon does not "
                               "resolve the address it listens on)",
                               printable(address.host));
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
        return fmt::format("port \"{}\" must be a number from 1 to 65535",
                           printable(std::string(port)));
    }
    address.port = static_cast<std::uint16_t>(value);
    address.text = address.ipv6 ? fmt::format("[{}]:{}", address.host, value)
                                : fmt::format("{}:{}", address.host, value);
    return address;
}

namespace {

void parse_daemon(Validator& v, const toml::node& node, DaemonConfig& daemon) {
    const toml::table* table = node.as_table();
    if (table == nullptr) {
        v.error(node.source(), "daemon must be a table ([daemon])");
        return;
    }
    for (auto&& [key, value] : *table) {
        if (key.str() == "log-level") {
            if (auto level =
                    v.choice(value, "log-level",
                             {"trace", "debug", "info", "warn", "error", "critical", "off"})) {
                daemon.log_level = *level;
            }
        } else if (key.str() == "leap-seconds") {
            if (auto path = v.string(value, "leap-seconds")) {
                // Absolute, so that it does not depend on the daemon's working
                // directory; no control characters, so that the path cannot
                // split the log lines that name it.
                const bool control = std::any_of(path->begin(), path->end(), [](char c) {
                    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
                });
                if (!path->empty() && (path->front() != '/' || control)) {
                    v.error(value.source(),
                            fmt::format("leap-seconds = \"{}\" must be an absolute path without "
                                        "control characters, or \"\" for none",
                                        *path));
                } else {
                    daemon.leap_seconds = *path;
                }
            }
        } else if (key.str() == "control") {
            if (auto path = v.string(value, "control")) {
                // A Unix socket path: absolute (the daemon's working
                // directory is no place for it), within sun_path's 108
                // bytes with its NUL, no control characters (it is logged).
                if (!path->empty() && (path->front() != '/' || path->size() > 107 ||
                                       has_control_characters(*path) || path->back() == '/')) {
                    v.error(value.source(),
                            fmt::format("control = \"{}\" must be an absolute path of a socket "
                                        "file (at most 107 bytes, no control characters), or "
                                        "\"\" for no control socket",
                                        *path));
                } else {
                    daemon.control = *path;
                }
            }
        } else if (key.str() == "metrics") {
            if (auto text = v.string(value, "metrics")) {
                auto parsed = parse_listen_address(*text);
                if (auto* address = std::get_if<ListenAddress>(&parsed)) {
                    daemon.metrics = *address;
                } else {
                    v.error(value.source(), fmt::format("metrics = \"{}\": {}", printable(*text),
                                                        std::get<std::string>(parsed)));
                }
            }
        } else {
            v.error(key.source(), fmt::format("unknown key '{}' in [daemon]", key.str()));
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
bool parse_refclock(Validator& v, const toml::table& table, RefclockConfig& rc) {
    rc.line = static_cast<int>(table.source().begin.line);
    bool ok = true;

    // The source decides which keys apply, so read it first.
    std::optional<SourceKind> source;
    if (const toml::node* node = table.get("source")) {
        if (auto text = v.choice(*node, "source", {"nmea", "pps", "system"})) {
            source = *text == "nmea"  ? SourceKind::nmea
                     : *text == "pps" ? SourceKind::pps
                                      : SourceKind::system;
            rc.source = *source;
        } else {
            ok = false;
        }
    } else {
        v.error(table.source(), "[[refclock]] is missing the required key 'source'");
        ok = false;
    }
    rc.precision = default_precision(rc.source);

    bool have_name = false, have_device = false, have_lock = false;
    for (auto&& [key, node] : table) {
        const std::string_view k = key.str();
        const KeyRule* rule = find_rule(k);
        if (rule == nullptr) {
            v.error(key.source(), fmt::format("unknown key '{}' in [[refclock]]", k));
            ok = false;
            continue;
        }
        if (source && !applies(*rule, *source)) {
            v.error(key.source(),
                    fmt::format("key '{}' does not apply to source \"{}\"", k, to_string(*source)));
            ok = false;
            continue;
        }
        if (k == "source") {
            continue;
        } else if (k == "name") {
            if (auto name = v.string(node, k)) {
                if (!valid_name(*name)) {
                    v.error(node.source(),
                            fmt::format("name \"{}\" must be 1 to {} characters of A-Z a-z 0-9 . "
                                        "_ -",
                                        *name, max_name_length));
                    ok = false;
                } else if (*name == "system") {
                    v.error(node.source(), "name \"system\" is reserved: lock = \"system\" means "
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
                    v.error(node.source(), fmt::format("sock = \"{}\" must be an absolute path "
                                                       "of at most 107 characters, without "
                                                       "control characters",
                                                       *sock));
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
                    v.error(node.source(),
                            fmt::format("perm = \"{}\" is not an octal mode like \"0600\"", *text));
                } else if ((*perm & 0600) != 0600) {
                    v.error(node.source(), fmt::format("perm = \"{}\" must let the owner read and "
                                                       "write the segment (0600)",
                                                       *text));
                } else {
                    rc.perm = *perm;
                }
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
                    v.error(node.source(), "device must not be empty");
                } else if (has_control_characters(*device)) {
                    // A NUL would cut the path open() sees; a newline would
                    // forge log lines in every message that names the device.
                    v.error(node.source(),
                            fmt::format("device = \"{}\" must not contain control characters "
                                        "(NUL, newline, ...)",
                                        *device));
                } else if (const auto* problem = std::get_if<std::string>(&address)) {
                    v.error(node.source(), fmt::format("device = {}: {}", *device, *problem));
                } else {
                    rc.device = *device;
                }
            }
        } else if (k == "baud") {
            if (auto baud = v.integer(node, k, 0, 10'000'000)) {
                if (std::find(valid_bauds.begin(), valid_bauds.end(), *baud) == valid_bauds.end()) {
                    v.error(node.source(), fmt::format("baud = {} is not one of: {}", *baud,
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
            v.error(table.source(),
                    fmt::format("[[refclock]]{} is missing the required key '{}'",
                                have_name ? fmt::format(" \"{}\"", rc.name) : "", key));
            ok = false;
        }
    };
    require(have_name, "name");
    if (!rc.unit && !table.contains("sock") && ok) {
        v.error(table.source(),
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
    return ok;
}

void check_refclocks_together(Validator& v, const toml::array& tables, Config& config,
                              const std::vector<bool>& usable) {
    std::map<std::string, const RefclockConfig*> by_name;
    std::map<int, const RefclockConfig*> by_unit;
    for (std::size_t i = 0; i < config.refclocks.size(); ++i) {
        if (!usable[i]) {
            continue;
        }
        const RefclockConfig& rc = config.refclocks[i];
        const toml::table& table = *tables[i].as_table();
        if (auto [it, added] = by_name.emplace(rc.name, &rc); !added) {
            v.error(table.get("name")->source(),
                    fmt::format("name \"{}\" is already used by the refclock at line {}", rc.name,
                                it->second->line));
        }
        if (!rc.unit) {
            continue;
        }
        if (auto [it, added] = by_unit.emplace(*rc.unit, &rc); !added) {
            v.error(table.get("unit")->source(),
                    fmt::format("unit {} is already used by refclock \"{}\" (line {})", *rc.unit,
                                it->second->name, it->second->line));
        }
    }
    for (std::size_t i = 0; i < config.refclocks.size(); ++i) {
        const RefclockConfig& rc = config.refclocks[i];
        if (!usable[i] || rc.source != SourceKind::pps || rc.lock == "system") {
            continue;
        }
        const toml::node& where = *tables[i].as_table()->get("lock");
        auto it = by_name.find(rc.lock);
        if (it == by_name.end()) {
            v.error(where.source(), fmt::format("lock = \"{}\" names no refclock (use the name of "
                                                "an nmea or system refclock, or \"system\")",
                                                rc.lock));
        } else if (it->second->source == SourceKind::pps) {
            v.error(where.source(),
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
            v.error(tables[i].as_table()->source(),
                    fmt::format("[[refclock]] \"{}\" is missing the required key 'device' (it "
                                "may be left out only when lock names an nmea refclock with pps "
                                "= \"dcd\")",
                                rc.name));
        }
    }
}

// toml++ 3.3 (Debian 12) goes wrong on two kinds of input before it can
// report a parse error (found by tests/fuzz); both are refused here, before
// toml++ sees the text:
// - a table header whose first key does not start with a key character
//   ("[#x]", "[[!x]]"): an assertion, or with NDEBUG an assumption;
// - a non-ASCII character outside a string or comment: its test for Unicode
//   whitespace (toml++/impl/unicode_autogenerated.h) reaches
//   __builtin_unreachable for most code points (U+00E9, U+3001, U+FE7F...),
//   undefined behaviour in the daemon. TOML allows non-ASCII characters only
//   inside strings and comments, so nothing valid is lost.
// The scan follows strings (basic, literal, multi-line) and comments as
// TOML 1.0 defines them; where the text is not TOML at all, toml++ reports
// the error. A line inside a multi-line array that starts with '[' is taken
// for a header; this configuration has no arrays of arrays.
void check_before_toml(std::string_view text, const std::string& path) {
    enum class In { syntax, comment, basic, literal, multiline_basic, multiline_literal };
    In in = In::syntax;
    std::size_t line = 1;
    std::size_t line_start = 0;
    bool line_blank = true; // nothing but blanks yet on this line, outside strings
    // The last character outside strings, comments and blanks ('\n' at a
    // line's start). A quote starts a string only where TOML has one: a key
    // (a line's start, after '.', '[', '{' or ','), a value (after '=', or
    // in an array after '[' or ','). Elsewhere ('x = 0"...') toml++ 3.3 reads
    // on past the quote as syntax and reaches its unreachable point on what
    // follows (found by tests/fuzz), so the scan treats it as syntax too.
    char previous = '\n';
    // The same, but across line breaks: in an array, what follows '[' or ','
    // may be on a later line.
    char previous_across_lines = '\n';
    const auto where = [&](std::size_t at) {
        // Columns count characters, as toml++'s do: not UTF-8 continuation bytes.
        std::size_t column = 1;
        for (std::size_t k = line_start; k < at; ++k) {
            column += (static_cast<unsigned char>(text[k]) & 0xC0) != 0x80 ? 1 : 0;
        }
        return fmt::format("{}:{}:{}", path, line, column);
    };
    const auto starts = [&](std::size_t at, std::string_view token) {
        return text.substr(at, token.size()) == token;
    };
    const std::string_view triple_quote = "\"\"\"";
    const std::string_view triple_apostrophe = "'''";
    // Past the closing delimiter of a multi-line string at `at`; one or two
    // more quotes right after it belong to the content.
    const auto close_multiline = [&](std::size_t& at, char quote) {
        at += 2;
        for (int extra = 0; extra < 2 && at + 1 < text.size() && text[at + 1] == quote; ++extra) {
            ++at;
        }
    };
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\n') {
            ++line;
            line_start = i + 1;
            line_blank = true;
            previous = '\n';
            // A comment ends with its line, and so does a one-line string
            // (unterminated: toml++ reports it).
            if (in == In::comment || in == In::basic || in == In::literal) {
                in = In::syntax;
            }
            continue;
        }
        const bool escape = c == '\\' && i + 1 < text.size() && text[i + 1] != '\n';
        switch (in) {
        case In::comment:
            continue;
        case In::basic:
            if (escape) {
                ++i;
            } else if (c == '"') {
                in = In::syntax;
            }
            continue;
        case In::literal:
            if (c == '\'') {
                in = In::syntax;
            }
            continue;
        case In::multiline_basic:
            if (escape) {
                ++i;
            } else if (starts(i, triple_quote)) {
                close_multiline(i, '"');
                in = In::syntax;
            }
            continue;
        case In::multiline_literal:
            if (starts(i, triple_apostrophe)) {
                close_multiline(i, '\'');
                in = In::syntax;
            }
            continue;
        case In::syntax:
            break;
        }
        if (c == '[' && line_blank) {
            std::size_t k = i + (starts(i, "[[") ? 2 : 1);
            while (k < text.size() && (text[k] == ' ' || text[k] == '\t')) {
                ++k;
            }
            // The end of the file and ']' are left to toml++, which reports
            // them; a NUL byte is a character like any other here. The end
            // of the line is not: toml++ 3.3 reads on into the next line and
            // asserts on what it finds there ("[\n[[x]]", found by tests/fuzz).
            const char first = k < text.size() ? text[k] : ']';
            const bool key_start = (first >= 'A' && first <= 'Z') ||
                                   (first >= 'a' && first <= 'z') ||
                                   (first >= '0' && first <= '9') || first == '_' ||
                                   first == '-' || first == '"' || first == '\'' || first == ']';
            if (!key_start) {
                throw ConfigError(fmt::format(
                    "{}: expected a table name after '[', saw {}", where(k),
                    first == '\n' ? std::string("the end of the line")
                                   : "'" + printable(std::string(1, first)) + "'"));
            }
        }
        if (c != ' ' && c != '\t' && c != '\r') {
            line_blank = false;
        }
        const bool string_may_start = previous == '\n' || previous == '=' || previous == '[' ||
                                      previous == ',' || previous == '{' || previous == '.';
        // '}' where an array's element is due ("[}", "[1,}", found by
        // tests/fuzz): toml++ 3.3 asserts instead of reporting it. A '}'
        // after '[' or ',' is never TOML (an inline table has no trailing
        // comma either).
        if (c == '}' && (previous_across_lines == '[' || previous_across_lines == ',')) {
            throw ConfigError(fmt::format("{}: expected a value after '{}', saw '}}'", where(i),
                                          previous_across_lines));
        }
        if (c != ' ' && c != '\t' && c != '\r' && c != '#') {
            previous = c;
            previous_across_lines = c;
        }
        if (c == '#') {
            in = In::comment;
        } else if ((c == '"' || c == '\'') && !string_may_start) {
            // Not a string: syntax, as toml++ reads it.
        } else if (c == '"' && starts(i, triple_quote)) {
            in = In::multiline_basic;
            i += 2;
        } else if (c == '"') {
            in = In::basic;
        } else if (c == '\'' && starts(i, triple_apostrophe)) {
            in = In::multiline_literal;
            i += 2;
        } else if (c == '\'') {
            in = In::literal;
        } else if (static_cast<unsigned char>(c) >= 0x80) {
            std::size_t end = i + 1;
            while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
                ++end;
            }
            throw ConfigError(fmt::format("{}: '{}' outside a string or comment: TOML keys and "
                                          "values other than strings are ASCII (put it in quotes)",
                                          where(i), printable(text.substr(i, end - i))));
        }
    }
}

} // namespace

Config parse_config(std::string_view text, const std::string& path) {
    check_before_toml(text, path);
    toml::table root;
    try {
        root = toml::parse(text, path);
    } catch (const toml::parse_error& e) {
        const auto& begin = e.source().begin;
        throw ConfigError(fmt::format("{}:{}:{}: {}", path, begin.line, begin.column,
                                      printable(e.description())));
    }

    Validator v(path);
    Config config;
    config.path = path;
    const toml::array* tables = nullptr;
    for (auto&& [key, node] : root) {
        if (key.str() == "daemon") {
            parse_daemon(v, node, config.daemon);
        } else if (key.str() == "refclock") {
            tables = node.as_array();
            if (tables == nullptr || !tables->is_array_of_tables()) {
                v.error(node.source(), "refclock must be an array of tables ([[refclock]])");
                tables = nullptr;
            }
        } else {
            v.error(key.source(), fmt::format("unknown key '{}' (expected [daemon] or "
                                              "[[refclock]])",
                                              key.str()));
        }
    }
    if (tables == nullptr || tables->empty()) {
        if (!v.failed()) {
            v.error(toml::source_region{{1, 1}, {1, 1}, nullptr},
                    "no [[refclock]] is configured: there is nothing to run");
        }
        throw ConfigError(v.report());
    }

    std::vector<bool> usable;
    for (const toml::node& node : *tables) {
        RefclockConfig rc;
        usable.push_back(parse_refclock(v, *node.as_table(), rc));
        config.refclocks.push_back(std::move(rc));
    }
    check_refclocks_together(v, *tables, config, usable);
    if (v.failed()) {
        throw ConfigError(v.report());
    }
    return config;
}

Config load_config(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw ConfigError(fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        throw ConfigError(fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
    }
    return parse_config(text.str(), path);
}

} // namespace shmrefclock
