#include "config/keys.hpp"

#include <algorithm>
#include <iterator>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "config/value_parsers.hpp"
#include "core/printable.hpp"
#include "shmrefclock/unit.hpp"

namespace shmrefclock {

namespace {

constexpr double max_offset = 86400.0;
constexpr double max_step_probation = 86400.0;

constexpr std::string_view source_names[] = {"nmea", "pps", "system"};
constexpr std::string_view pps_names[] = {"dcd"};
constexpr std::string_view edge_names[] = {"assert", "clear"};
constexpr std::string_view protocol_names[] = {"auto", "nmea", "ubx"};

const std::string& text(const Scalar& value) {
    return std::get<std::string>(value);
}

// Setters of a plain member of RefclockConfig, which only the type and
// range check.
template <auto member> bool set_integer(KeyTarget& t, const Scalar& value) {
    t.rc.*member = static_cast<int>(std::get<std::int64_t>(value));
    return true;
}
template <auto member> bool set_number(KeyTarget& t, const Scalar& value) {
    t.rc.*member = std::get<double>(value);
    return true;
}
template <auto member> bool set_boolean(KeyTarget& t, const Scalar& value) {
    t.rc.*member = std::get<bool>(value);
    return true;
}
template <auto member> bool set_string(KeyTarget& t, const Scalar& value) {
    t.rc.*member = text(value);
    return true;
}

// ---- [daemon] ----

bool set_log_level(KeyTarget& t, const Scalar& value) {
    t.daemon.log_level = text(value);
    return true;
}

bool set_leap_seconds(KeyTarget& t, const Scalar& value) {
    const std::string& path = text(value);
    // Absolute, so that it does not depend on the daemon's working
    // directory; no control characters, so that the path cannot split the
    // log lines that name it.
    if (!path.empty() && (path.front() != '/' || has_control_characters(path))) {
        t.v.error(t.node.position,
                  fmt::format("leap-seconds = \"{}\" must be an absolute path without control "
                              "characters, or \"\" for none",
                              toml::excerpt(path)));
        return false;
    }
    t.daemon.leap_seconds = path;
    return true;
}

bool set_control(KeyTarget& t, const Scalar& value) {
    const std::string& path = text(value);
    // A Unix socket path: absolute (the daemon's working directory is no
    // place for it), within sun_path, no control characters (it is logged).
    if (!path.empty() && (!valid_socket_path(path) || path.back() == '/')) {
        t.v.error(t.node.position,
                  fmt::format("control = \"{}\" must be an absolute path of a socket file (at "
                              "most 107 bytes, no control characters), or \"\" for no control "
                              "socket",
                              toml::excerpt(path)));
        return false;
    }
    t.daemon.control = path;
    return true;
}

bool set_metrics(KeyTarget& t, const Scalar& value) {
    auto parsed = parse_listen_address(text(value));
    if (auto* address = std::get_if<ListenAddress>(&parsed)) {
        t.daemon.metrics = *address;
        return true;
    }
    t.v.error(t.node.position, fmt::format("metrics = \"{}\": {}", toml::excerpt(text(value)),
                                           std::get<std::string>(parsed)));
    return false;
}

bool set_sched_priority(KeyTarget& t, const Scalar& value) {
    t.daemon.sched_priority = static_cast<int>(std::get<std::int64_t>(value));
    return true;
}

bool set_lock_memory(KeyTarget& t, const Scalar& value) {
    t.daemon.lock_memory = std::get<bool>(value);
    return true;
}

// ---- [[refclock]] ----

bool set_source(KeyTarget& t, const Scalar& value) {
    t.rc.source = text(value) == "nmea"  ? SourceKind::nmea
                  : text(value) == "pps" ? SourceKind::pps
                                         : SourceKind::system;
    return true;
}

bool set_name(KeyTarget& t, const Scalar& value) {
    const std::string& name = text(value);
    if (!valid_name(name)) {
        t.v.error(t.node.position,
                  fmt::format("name \"{}\" must be 1 to {} characters of A-Z a-z 0-9 . _ -",
                              toml::excerpt(name), max_name_length));
        return false;
    }
    if (name == "system") {
        t.v.error(t.node.position,
                  "name \"system\" is reserved: lock = \"system\" means the system clock");
        return false;
    }
    t.rc.name = name;
    return true;
}

bool set_sock(KeyTarget& t, const Scalar& value) {
    if (!valid_socket_path(text(value))) {
        t.v.error(t.node.position, fmt::format("sock = \"{}\" must be an absolute path of at "
                                               "most 107 characters, without control characters",
                                               toml::excerpt(text(value))));
        return false;
    }
    t.rc.sock = text(value);
    return true;
}

bool set_perm(KeyTarget& t, const Scalar& value) {
    const auto perm = parse_perm(text(value));
    if (!perm) {
        t.v.error(t.node.position, fmt::format("perm = \"{}\" is not an octal mode like \"0600\"",
                                               toml::excerpt(text(value))));
        return false;
    }
    if ((*perm & 0600) != 0600) {
        t.v.error(t.node.position, fmt::format("perm = \"{}\" must let the owner read and write "
                                               "the segment (0600)",
                                               toml::excerpt(text(value))));
        return false;
    }
    t.rc.perm = *perm;
    return true;
}

bool set_device(KeyTarget& t, const Scalar& value) {
    if (auto problem = device_problem(text(value))) {
        t.v.error(t.node.position, *problem);
        return false;
    }
    t.rc.device = text(value);
    return true;
}

bool set_baud(KeyTarget& t, const Scalar& value) {
    const auto baud = std::get<std::int64_t>(value);
    if (std::find(valid_bauds.begin(), valid_bauds.end(), baud) == valid_bauds.end()) {
        t.v.error(t.node.position,
                  fmt::format("baud = {} is not one of: {}", baud, fmt::join(valid_bauds, ", ")));
        return false;
    }
    t.rc.baud = static_cast<int>(baud);
    return true;
}

bool set_pps(KeyTarget& t, const Scalar&) {
    t.rc.pps_dcd = true; // "dcd", the only choice
    return true;
}

bool set_protocol(KeyTarget& t, const Scalar& value) {
    t.rc.protocol = text(value) == "nmea"  ? ReceiverProtocol::nmea
                    : text(value) == "ubx" ? ReceiverProtocol::ubx
                                           : ReceiverProtocol::automatic;
    return true;
}

bool set_edge(KeyTarget& t, const Scalar& value) {
    t.rc.edge = text(value) == "assert" ? PpsEdge::assert_edge : PpsEdge::clear_edge;
    return true;
}

using enum Section;
using enum ValueType;

// In the order of shmrefclock.conf(5), one entry a key; the fields not
// given are the defaults of KeyRule (a string, no range). The ranges are the
// man page's, which says why.
// clang-format off
constexpr KeyRule rules[] = {
    {.key = "log-level", .section = daemon, .type = choice, .choices = log_level_names,
     .set = set_log_level},
    {.key = "leap-seconds", .section = daemon, .set = set_leap_seconds},
    {.key = "control", .section = daemon, .set = set_control},
    {.key = "metrics", .section = daemon, .set = set_metrics},
    // SCHED_FIFO's range (sched_get_priority_max(SCHED_FIFO) is 99 on Linux).
    {.key = "sched-priority", .section = daemon, .type = integer, .int_min = 0, .int_max = 99,
     .set = set_sched_priority},
    {.key = "lock-memory", .section = daemon, .type = boolean, .set = set_lock_memory},

    {.key = "name", .section = refclock, .sources = every_source, .needed = true, .set = set_name},
    // Read before the others: it decides which of them apply.
    {.key = "source", .section = refclock, .sources = every_source, .type = choice,
     .choices = source_names, .needed = true, .set = set_source},
    {.key = "unit", .section = refclock, .sources = every_source, .type = integer,
     .int_min = 0, .int_max = shm_unit_max, .needed = true, .set = set_integer<&RefclockConfig::unit>},
    {.key = "sock", .section = refclock, .sources = every_source, .set = set_sock},
    {.key = "offset", .section = refclock, .sources = every_source, .type = number,
     .min = -max_offset, .max = max_offset, .set = set_number<&RefclockConfig::offset>},
    {.key = "precision", .section = refclock, .sources = every_source, .type = integer,
     .int_min = -30, .int_max = 0, .set = set_integer<&RefclockConfig::precision>},
    {.key = "perm", .section = refclock, .sources = every_source, .set = set_perm},

    {.key = "device", .section = refclock, .sources = nmea_bit | pps_bit, .set = set_device},
    // Any integer is read, so that a rate the port cannot take is named as such.
    {.key = "baud", .section = refclock, .sources = nmea_bit, .type = integer,
     .int_min = 0, .int_max = 10'000'000, .set = set_baud},
    {.key = "min-fixes", .section = refclock, .sources = nmea_bit, .type = integer,
     .int_min = 1, .int_max = max_min_fixes, .set = set_integer<&RefclockConfig::min_fixes>},
    // Under 10 minutes is for tests and for users who accept the risk: the
    // man page says so (core/timeline.hpp).
    {.key = "step-probation", .section = refclock, .sources = nmea_bit, .type = number,
     .min = 1.0, .max = max_step_probation, .set = set_number<&RefclockConfig::step_probation>},
    {.key = "witness", .section = refclock, .sources = nmea_bit | pps_bit, .type = boolean,
     .set = set_boolean<&RefclockConfig::witness>},
    {.key = "pps", .section = refclock, .sources = nmea_bit, .type = choice,
     .choices = pps_names, .set = set_pps},
    {.key = "protocol", .section = refclock, .sources = nmea_bit, .type = choice,
     .choices = protocol_names, .set = set_protocol},
    {.key = "ubx-configure", .section = refclock, .sources = nmea_bit, .type = boolean,
     .set = set_boolean<&RefclockConfig::ubx_configure>},

    {.key = "lock", .section = refclock, .sources = pps_bit, .needed = true,
     .set = set_string<&RefclockConfig::lock>},
    {.key = "edge", .section = refclock, .sources = pps_bit, .type = choice,
     .choices = edge_names, .set = set_edge},

    {.key = "interval", .section = refclock, .sources = system_bit, .type = number,
     .min = 0.1, .max = 3600.0, .set = set_number<&RefclockConfig::interval>},
};
// clang-format on

// The value of `node` as `rule` types it, within its range.
std::optional<Scalar> typed_value(const KeyRule& rule, Validator& v, const toml::Value& node) {
    switch (rule.type) {
    case ValueType::string:
        return v.string(node, rule.key);
    case ValueType::choice:
        return v.choice(node, rule.key, rule.choices);
    case ValueType::integer:
        return v.integer(node, rule.key, rule.int_min, rule.int_max);
    case ValueType::number:
        return v.number(node, rule.key, rule.min, rule.max);
    case ValueType::boolean:
        return v.boolean(node, rule.key);
    }
    return std::nullopt;
}

} // namespace

std::span<const KeyRule> key_rules() {
    return rules;
}

const KeyRule* find_key(Section section, std::string_view key) {
    const auto* it = std::find_if(std::begin(rules), std::end(rules), [&](const KeyRule& rule) {
        return rule.section == section && rule.key == key;
    });
    return it == std::end(rules) ? nullptr : it;
}

bool applies(const KeyRule& rule, SourceKind source) {
    switch (source) {
    case SourceKind::nmea:
        return (rule.sources & nmea_bit) != 0;
    case SourceKind::pps:
        return (rule.sources & pps_bit) != 0;
    case SourceKind::system:
        return (rule.sources & system_bit) != 0;
    }
    return false;
}

bool apply_key(const KeyRule& rule, KeyTarget& target) {
    auto value = typed_value(rule, target.v, target.node);
    return value && rule.set(target, *value);
}

} // namespace shmrefclock
