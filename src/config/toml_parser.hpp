// The TOML reader's parser (toml_reader.hpp), shared by the files that
// implement it: toml_reader.cpp builds the tables from keys, headers and
// values; toml_strings.cpp reads strings and their escapes; toml_numbers.cpp
// reads integers and floats. Internal to src/config/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/toml_reader.hpp"

namespace shmrefclock::toml::detail {

// A problem, thrown to read() from wherever it is found.
struct Failure {
    Position where;
    std::string message;
};

struct KeyPart {
    std::string name;
    Position where;
};

inline bool is_bare_key_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

inline bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

inline int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

// A TOML integer or float (TOML 1.0, "Integer" and "Float"), or what is
// wrong with it.
std::variant<std::int64_t, double, std::string> parse_number(std::string_view token);

class Reader {
public:
    explicit Reader(std::string_view text) : text_(text) {}

    Table read();

private:
    // ---- the cursor ----

    bool eof() const { return at_ >= text_.size(); }
    char peek(std::size_t ahead = 0) const {
        return at_ + ahead < text_.size() ? text_[at_ + ahead] : '\0';
    }
    bool at_newline() const { return peek() == '\n' || (peek() == '\r' && peek(1) == '\n'); }
    void advance() {
        const char c = text_[at_++];
        if (c == '\n') {
            ++here_.line;
            here_.column = 1;
        } else if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
            ++here_.column;
        }
    }
    void advance(std::size_t count) {
        for (std::size_t i = 0; i < count; ++i) {
            advance();
        }
    }
    void skip_blanks() {
        while (peek() == ' ' || peek() == '\t') {
            advance();
        }
    }
    void skip_newline() { advance(peek() == '\r' ? 2 : 1); }
    void skip_comment() {
        while (!eof() && !at_newline()) {
            advance();
        }
    }
    // Blanks, newlines and comments: what may come between array elements.
    void skip_blank_lines() {
        for (;;) {
            skip_blanks();
            if (peek() == '#') {
                skip_comment();
            }
            if (!at_newline()) {
                return;
            }
            skip_newline();
        }
    }
    bool starts_with(std::string_view token) const {
        return text_.substr(at_, token.size()) == token;
    }
    static bool is_key_start(char c) { return is_bare_key_char(c) || c == '"' || c == '\''; }

    // ---- problems ----

    [[noreturn]] static void fail(Position where, std::string message);

    // What is at the cursor, for "expected X, saw Y".
    std::string saw() const;

    [[noreturn]] void unexpected(std::string_view expected) const;

    void end_of_line(std::string_view after);

    // Control characters are refused wherever they are, as TOML 1.0 does
    // (a string writes them as escapes), and so is a CR that does not start
    // a CR LF: the parser then meets only tab, LF and CR LF.
    void check_characters() const;

    [[noreturn]] static void too_deep(Position where);

    // ---- keys and tables ----

    // A simple or dotted key of at most `max_parts` parts.
    std::vector<KeyPart> key(std::size_t max_parts);

    KeyPart simple_key(std::string_view expected);

    static std::string dotted(const std::vector<KeyPart>& parts, std::size_t count);

    [[noreturn]] static void not_a_table(const KeyPart& part, const Value& value);

    // The table a header names below `table`, made if missing.
    static Table& header_step(Table& table, const KeyPart& part);

    void header();

    // The table a dotted key names below `table`, made if missing: only
    // tables made by dotted keys may be added to this way (TOML 1.0, "Table").
    static Table& dotted_step(Table& table, const KeyPart& part);

    // KEY = VALUE into `table`, which lies at `depth`.
    void key_value(Table& table, int depth);

    // ---- values ----

    // A value; a table or an array it makes lies at `depth`. `after` is
    // what came before it, for the message when there is none.
    Value read_value(int depth, char after);

    void keyword(std::string_view word);

    Value number();

    Array array(int depth);

    Table inline_table(int depth);

    // ---- strings ----

    // One byte of a string's text as it is. The UTF-8 was checked, so a
    // character's bytes are copied one by one.
    void copy_byte(std::string& out);

    // At a backslash in a basic string.
    void escape(std::string& out, bool multiline);

    std::string basic_string();

    std::string literal_string();

    // After the opening delimiter: a line break right after it is dropped.
    // At a run of delimiter characters: three close the string, and up to
    // two before them are its text (TOML 1.0, "String").
    bool close_multiline(std::string& out, char quote);

    // A multi-line basic (quote '"', with escapes) or literal ('\'') string.
    std::string multiline_string(char quote);

    std::string_view text_;
    std::size_t at_ = 0;
    Position here_{1, 1};
    Table root_;
    // Where KEY = VALUE lines go: the table of the last header, found again
    // from the root at every header (adding to a table may move the ones in
    // it, never the table itself).
    Table* current_ = &root_;
    int current_depth_ = 0;
};

} // namespace shmrefclock::toml::detail
