#include "config/utf8.hpp"

#include <fmt/format.h>

namespace shmrefclock::utf8 {

namespace {

// RFC 3629, section 4 (the UTF8-octets grammar): the lead byte decides the
// length and the range of the second byte; later bytes are 0x80..0xBF.
struct Lead {
    std::size_t length;
    unsigned char second_min, second_max;
};

std::optional<Lead> lead(unsigned char byte) {
    if (byte < 0x80) {
        return Lead{1, 0, 0};
    }
    if (byte >= 0xC2 && byte <= 0xDF) {
        return Lead{2, 0x80, 0xBF};
    }
    if (byte == 0xE0) {
        return Lead{3, 0xA0, 0xBF}; // below: overlong
    }
    if (byte == 0xED) {
        return Lead{3, 0x80, 0x9F}; // above: surrogates
    }
    if (byte >= 0xE1 && byte <= 0xEF) {
        return Lead{3, 0x80, 0xBF};
    }
    if (byte == 0xF0) {
        return Lead{4, 0x90, 0xBF}; // below: overlong
    }
    if (byte >= 0xF1 && byte <= 0xF3) {
        return Lead{4, 0x80, 0xBF};
    }
    if (byte == 0xF4) {
        return Lead{4, 0x80, 0x8F}; // above: beyond U+10FFFF
    }
    return std::nullopt;
}

bool continuation(unsigned char byte) {
    return (byte & 0xC0) == 0x80;
}

std::string describe(std::string_view text, std::size_t at) {
    const auto byte = static_cast<unsigned char>(text[at]);
    if (continuation(byte)) {
        return fmt::format("byte 0x{:02x} is a continuation byte without a lead byte", byte);
    }
    if (byte == 0xC0 || byte == 0xC1) {
        return fmt::format("byte 0x{:02x} never occurs (it could only start an overlong form)",
                           byte);
    }
    const auto rule = lead(byte);
    if (!rule) {
        return fmt::format("byte 0x{:02x} never occurs (it would start a code point above "
                           "U+10FFFF)",
                           byte);
    }
    if (at + 1 >= text.size() || !continuation(static_cast<unsigned char>(text[at + 1]))) {
        return fmt::format("the {}-byte sequence started by 0x{:02x} is cut short", rule->length,
                           byte);
    }
    const auto second = static_cast<unsigned char>(text[at + 1]);
    if (second < rule->second_min || second > rule->second_max) {
        if (byte == 0xED) {
            return fmt::format("0x{:02x} 0x{:02x} encodes a UTF-16 surrogate (U+D800..U+DFFF)",
                               byte, second);
        }
        if (byte == 0xF4) {
            return fmt::format("0x{:02x} 0x{:02x} starts a code point above U+10FFFF", byte,
                               second);
        }
        return fmt::format("0x{:02x} 0x{:02x} starts an overlong form", byte, second);
    }
    return fmt::format("the {}-byte sequence started by 0x{:02x} is cut short", rule->length, byte);
}

} // namespace

std::size_t sequence_length(std::string_view text, std::size_t at) {
    if (at >= text.size()) {
        return 0;
    }
    const auto rule = lead(static_cast<unsigned char>(text[at]));
    if (!rule) {
        return 0;
    }
    if (rule->length == 1) {
        return 1;
    }
    if (text.size() - at < rule->length) {
        return 0;
    }
    const auto second = static_cast<unsigned char>(text[at + 1]);
    if (second < rule->second_min || second > rule->second_max) {
        return 0;
    }
    for (std::size_t k = 2; k < rule->length; ++k) {
        if (!continuation(static_cast<unsigned char>(text[at + k]))) {
            return 0;
        }
    }
    return rule->length;
}

std::optional<Problem> validate(std::string_view text) {
    std::uint32_t line = 1;
    std::uint32_t column = 1;
    std::size_t at = 0;
    while (at < text.size()) {
        const char c = text[at];
        if (static_cast<unsigned char>(c) < 0x80) {
            ++at;
            if (c == '\n') {
                ++line;
                column = 1;
            } else {
                ++column;
            }
            continue;
        }
        const std::size_t length = sequence_length(text, at);
        if (length == 0) {
            return Problem{at, line, column, "invalid UTF-8: " + describe(text, at)};
        }
        at += length;
        ++column;
    }
    return std::nullopt;
}

} // namespace shmrefclock::utf8
