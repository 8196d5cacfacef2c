// Every key of the configuration file, one entry each: the table it belongs
// in, the sources it applies to, the type and range of its value, whether a
// refused value makes the refclock unusable, and the setter that stores it.
// This one table drives the reading of [daemon] and [[refclock]]
// (config.cpp), the messages for an unknown key, a key in the wrong place, a
// wrong type and a value out of range (validator.hpp), and the unit test
// that holds shmrefclock.conf(5)'s list of keys to it. A new key is one
// entry in keys.cpp and one .TP paragraph in the man page.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "config/config.hpp"
#include "config/toml_reader.hpp"
#include "config/validator.hpp"

namespace shmrefclock {

enum class Section { daemon, refclock };

// The sources a [[refclock]] key applies to, as bits.
enum SourceBits : unsigned {
    nmea_bit = 1U << 0,
    pps_bit = 1U << 1,
    system_bit = 1U << 2,
    every_source = nmea_bit | pps_bit | system_bit,
};

enum class ValueType { string, choice, integer, number, boolean };

// A value of the type its key wants, within its range.
using Scalar = std::variant<std::string, std::int64_t, double, bool>;

// Where a setter stores a value, and where it reports one it refuses.
struct KeyTarget {
    Validator& v;
    const toml::Value& node;
    DaemonConfig& daemon;
    RefclockConfig& rc;
};

struct KeyRule {
    std::string_view key;
    Section section;
    unsigned sources = 0; // SourceBits; [[refclock]] keys only
    ValueType type = ValueType::string;
    std::span<const std::string_view> choices = {}; // ValueType::choice
    std::int64_t int_min = 0, int_max = 0;          // ValueType::integer
    double min = 0, max = 0;                        // ValueType::number
    // A refused value leaves the refclock out of the checks across
    // refclocks (cross_checks.hpp): they compare names, units and locks.
    bool needed = false;
    // Stores a value of `type`; false, after a message, when its meaning
    // refuses it.
    bool (*set)(KeyTarget&, const Scalar&) = nullptr;
};

std::span<const KeyRule> key_rules();

// The rule of `key` in `section`; none when the key does not belong there.
const KeyRule* find_key(Section section, std::string_view key);

bool applies(const KeyRule& rule, SourceKind source);

// Reads target.node as `rule` says and stores it; false, after a message,
// when it is refused.
bool apply_key(const KeyRule& rule, KeyTarget& target);

} // namespace shmrefclock
