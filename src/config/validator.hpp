// The problems of one configuration file, collected in file order, and the
// reading of a value as the type a key wants. Every message that names a
// wrong type or an out-of-range value is made here, so that they read the
// same for every key (docs/design.md, "Reading the configuration").
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/toml_reader.hpp"

namespace shmrefclock {

// At most this many problems are reported; the rest are counted.
inline constexpr std::size_t max_problems = 20;

// Messages quote what the file says, and a file can hold any byte: each
// message goes through printable() (core/printable.hpp) so that each problem
// stays one line, and a key or a string is quoted through toml::excerpt(), so
// that a long one cannot make a message long.
class Validator {
public:
    explicit Validator(std::string path) : path_(std::move(path)) {}

    // One problem, as "FILE:LINE:COLUMN: message".
    void error(toml::Position where, const std::string& message);
    bool failed() const { return count_ != 0; }
    // The problems, one a line, and how many more were not listed.
    std::string report() const;

    // The value, or nothing after a message that names `key` and the type
    // wanted (and the range, or the values allowed).
    std::optional<std::string> string(const toml::Value& node, std::string_view key);
    std::optional<bool> boolean(const toml::Value& node, std::string_view key);
    std::optional<std::int64_t> integer(const toml::Value& node, std::string_view key,
                                        std::int64_t min, std::int64_t max);
    // An integer is taken as a float.
    std::optional<double> number(const toml::Value& node, std::string_view key, double min,
                                 double max);
    std::optional<std::string> choice(const toml::Value& node, std::string_view key,
                                      std::span<const std::string_view> allowed);

private:
    void type_error(const toml::Value& node, std::string_view key, std::string_view wanted);

    std::string path_;
    std::vector<std::string> errors_;
    std::size_t count_ = 0;
};

} // namespace shmrefclock
