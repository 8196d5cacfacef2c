// Basic and literal strings, one-line and multi-line, with TOML 1.0's
// escapes: the parser's members that read them (toml_parser.hpp).
#include <algorithm>

#include <fmt/format.h>

#include "config/toml_parser.hpp"

namespace shmrefclock::toml::detail {

namespace {

void append_utf8(std::string& out, std::uint32_t code_point) {
    if (code_point < 0x80) {
        out += static_cast<char>(code_point);
    } else if (code_point < 0x800) {
        out += static_cast<char>(0xC0 | (code_point >> 6));
        out += static_cast<char>(0x80 | (code_point & 0x3F));
    } else if (code_point < 0x10000) {
        out += static_cast<char>(0xE0 | (code_point >> 12));
        out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (code_point & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (code_point >> 18));
        out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (code_point & 0x3F));
    }
}

} // namespace

void Reader::copy_byte(std::string& out) {
    out += peek();
    advance();
}

void Reader::escape(std::string& out, bool multiline) {
    const Position where = here_;
    advance();
    const char c = peek();
    if (multiline && (c == ' ' || c == '\t' || at_newline())) {
        // A line-ending backslash: it, the line break and every blank and
        // line break after it are dropped.
        skip_blanks();
        if (!at_newline()) {
            fail(where, "a '\\' followed by blanks must end its line");
        }
        while (peek() == ' ' || peek() == '\t' || at_newline()) {
            advance(peek() == '\r' ? 2 : 1);
        }
        return;
    }
    const auto simple = [&](char replacement) {
        out += replacement;
        advance();
    };
    switch (c) {
    case 'b':
        return simple('\b');
    case 't':
        return simple('\t');
    case 'n':
        return simple('\n');
    case 'f':
        return simple('\f');
    case 'r':
        return simple('\r');
    case '"':
        return simple('"');
    case '\\':
        return simple('\\');
    case 'u':
    case 'U': {
        const int digits = c == 'u' ? 4 : 8;
        advance();
        std::uint32_t code_point = 0;
        for (int i = 0; i < digits; ++i) {
            const int v = hex_value(peek());
            if (v < 0) {
                fail(where, fmt::format("\\{} takes {} hexadecimal digits", c, digits));
            }
            code_point = code_point * 16 + static_cast<std::uint32_t>(v);
            advance();
        }
        if ((code_point >= 0xD800 && code_point <= 0xDFFF) || code_point > 0x10FFFF) {
            fail(where, fmt::format("\\{}{:0{}X} is not a Unicode scalar value (no "
                                    "surrogates, nothing above 10FFFF)",
                                    c, code_point, digits));
        }
        append_utf8(out, code_point);
        return;
    }
    default:
        fail(where, fmt::format("unknown escape '\\' then {}: TOML has \\b \\t \\n \\f \\r "
                                "\\\" \\\\ \\uXXXX \\UXXXXXXXX",
                                saw()));
    }
}

std::string Reader::basic_string() {
    advance();
    std::string out;
    for (;;) {
        if (eof() || at_newline()) {
            fail(here_, "a \"string\" ends on its line (\"\"\" starts one of several lines)");
        }
        if (peek() == '"') {
            advance();
            return out;
        }
        if (peek() == '\\') {
            escape(out, false);
        } else {
            copy_byte(out);
        }
    }
}

std::string Reader::literal_string() {
    advance();
    std::string out;
    for (;;) {
        if (eof() || at_newline()) {
            fail(here_, "a 'string' ends on its line (''' starts one of several lines)");
        }
        if (peek() == '\'') {
            advance();
            return out;
        }
        copy_byte(out);
    }
}

bool Reader::close_multiline(std::string& out, char quote) {
    std::size_t run = 0;
    while (peek(run) == quote) {
        ++run;
    }
    if (run < 3) {
        out.append(run, quote);
        advance(run);
        return false;
    }
    run = std::min<std::size_t>(run, 5);
    out.append(run - 3, quote);
    advance(run);
    return true;
}

std::string Reader::multiline_string(char quote) {
    const Position where = here_;
    advance(3);
    if (at_newline()) {
        skip_newline();
    }
    std::string out;
    for (;;) {
        if (eof()) {
            fail(where, fmt::format("this {0}{0}{0} string is never closed", quote));
        }
        if (peek() == quote) {
            if (close_multiline(out, quote)) {
                return out;
            }
        } else if (quote == '"' && peek() == '\\') {
            escape(out, true);
        } else if (at_newline()) {
            out += '\n';
            skip_newline();
        } else {
            copy_byte(out);
        }
    }
}

} // namespace shmrefclock::toml::detail
