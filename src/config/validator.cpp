#include "config/validator.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/printable.hpp"

namespace shmrefclock {

namespace {

// As TOML writes it, with a decimal point: "1000000.0", "0.001", "nan".
std::string float_text(double value) {
    std::string text = fmt::format("{}", value);
    if (std::isfinite(value) && text.find_first_of(".e") == std::string::npos) {
        text += ".0";
    }
    return text;
}

} // namespace

void Validator::error(toml::Position where, const std::string& message) {
    ++count_;
    if (errors_.size() < max_problems) {
        errors_.push_back(
            fmt::format("{}:{}:{}: {}", path_, where.line, where.column, printable(message)));
    }
}

std::string Validator::report() const {
    std::string joined;
    for (const auto& e : errors_) {
        if (!joined.empty()) {
            joined += '\n';
        }
        joined += e;
    }
    if (count_ > errors_.size()) {
        joined += fmt::format("\n{}: {} more problems not shown", path_, count_ - errors_.size());
    }
    return joined;
}

std::optional<std::string> Validator::string(const toml::Value& node, std::string_view key) {
    if (auto v = node.as_string()) {
        return *v;
    }
    type_error(node, key, "a string");
    return std::nullopt;
}

std::optional<bool> Validator::boolean(const toml::Value& node, std::string_view key) {
    if (auto v = node.as_boolean()) {
        return *v;
    }
    type_error(node, key, "a boolean (true or false)");
    return std::nullopt;
}

std::optional<std::int64_t> Validator::integer(const toml::Value& node, std::string_view key,
                                               std::int64_t min, std::int64_t max) {
    auto v = node.as_integer();
    if (v == nullptr) {
        type_error(node, key, "an integer");
        return std::nullopt;
    }
    if (*v < min || *v > max) {
        error(node.position, fmt::format("{} = {} is out of range ({}..{})", key, *v, min, max));
        return std::nullopt;
    }
    return *v;
}

std::optional<double> Validator::number(const toml::Value& node, std::string_view key, double min,
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
        error(node.position, fmt::format("{} = {} is out of range ({}..{})", key, text, min, max));
        return std::nullopt;
    }
    return value;
}

std::optional<std::string> Validator::choice(const toml::Value& node, std::string_view key,
                                             std::span<const std::string_view> allowed) {
    auto text = string(node, key);
    if (!text) {
        return std::nullopt;
    }
    if (std::find(allowed.begin(), allowed.end(), *text) == allowed.end()) {
        error(node.position, fmt::format("{} = \"{}\" is not one of: {}", key, toml::excerpt(*text),
                                         fmt::join(allowed.begin(), allowed.end(), ", ")));
        return std::nullopt;
    }
    return text;
}

void Validator::type_error(const toml::Value& node, std::string_view key, std::string_view wanted) {
    error(node.position, fmt::format("{} must be {}, not {}", key, wanted, node.type_name()));
}

} // namespace shmrefclock
