// TOML integers and floats, from the token the parser cut out.
#include <charconv>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "config/toml_parser.hpp"

namespace shmrefclock::toml::detail {

namespace {

// Digits of `base` with single underscores between them ("1_000"), from
// text[i]; false if there is none or an underscore is not between two.
bool digit_run(std::string_view text, std::size_t& i, int base) {
    const auto is_digit_of = [base](char c) {
        const int v = hex_value(c);
        return v >= 0 && v < base;
    };
    if (i >= text.size() || !is_digit_of(text[i])) {
        return false;
    }
    while (i < text.size()) {
        if (is_digit_of(text[i])) {
            ++i;
        } else if (text[i] == '_' && i + 1 < text.size() && is_digit_of(text[i + 1])) {
            i += 2;
        } else {
            break;
        }
    }
    return true;
}

} // namespace

std::variant<std::int64_t, double, std::string> parse_number(std::string_view token) {
    const std::string bad = fmt::format("'{}' is not a number", excerpt(token));
    std::string_view s = token;
    const bool sign = !s.empty() && (s[0] == '+' || s[0] == '-');
    const bool negative = sign && s[0] == '-';
    if (sign) {
        s.remove_prefix(1);
    }
    if (s == "inf") {
        return negative ? -std::numeric_limits<double>::infinity()
                        : std::numeric_limits<double>::infinity();
    }
    if (s == "nan") {
        return negative ? -std::numeric_limits<double>::quiet_NaN()
                        : std::numeric_limits<double>::quiet_NaN();
    }
    const auto too_large = [&] {
        return fmt::format("{} does not fit in a 64-bit integer", excerpt(token));
    };
    if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b')) {
        const int base = s[1] == 'x' ? 16 : s[1] == 'o' ? 8 : 2;
        if (sign) {
            return fmt::format("'{}': a hexadecimal, octal or binary integer has no sign",
                               excerpt(token));
        }
        std::size_t i = 2;
        if (!digit_run(s, i, base) || i != s.size()) {
            return bad;
        }
        std::uint64_t value = 0;
        for (std::size_t k = 2; k < s.size(); ++k) {
            if (s[k] == '_') {
                continue;
            }
            const auto digit = static_cast<std::uint64_t>(hex_value(s[k]));
            if (value >
                (static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) - digit) /
                    static_cast<std::uint64_t>(base)) {
                return too_large();
            }
            value = value * static_cast<std::uint64_t>(base) + digit;
        }
        return static_cast<std::int64_t>(value);
    }
    std::size_t i = 0;
    if (i < s.size() && s[i] == '0') {
        ++i;
        if (i < s.size() && (is_digit(s[i]) || s[i] == '_')) {
            return fmt::format("'{}' is not a number: no leading zeros", excerpt(token));
        }
    } else if (!digit_run(s, i, 10)) {
        return bad;
    }
    bool is_float = false;
    if (i < s.size() && s[i] == '.') {
        ++i;
        if (!digit_run(s, i, 10)) {
            return bad;
        }
        is_float = true;
    }
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
            ++i;
        }
        if (!digit_run(s, i, 10)) {
            return bad;
        }
        is_float = true;
    }
    if (i != s.size()) {
        return bad;
    }
    if (!is_float) {
        // Accumulated negative, so that the most negative value fits.
        std::int64_t value = 0;
        constexpr std::int64_t min = std::numeric_limits<std::int64_t>::min();
        for (const char c : s) {
            if (c == '_') {
                continue;
            }
            const int digit = c - '0';
            if (value < (min + digit) / 10) {
                return too_large();
            }
            value = value * 10 - digit;
        }
        if (!negative) {
            if (value == min) {
                return too_large();
            }
            value = -value;
        }
        return value;
    }
    std::string digits;
    digits.reserve(token.size());
    for (const char c : token) {
        if (c != '_' && c != '+') {
            digits += c;
        }
    }
    double value = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc() || end != digits.data() + digits.size()) {
        return fmt::format("{} is out of the range of a 64-bit float", excerpt(token));
    }
    return value;
}

} // namespace shmrefclock::toml::detail
