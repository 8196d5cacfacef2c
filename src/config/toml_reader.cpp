#include "config/toml_reader.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "config/utf8.hpp"
#include "core/printable.hpp"

namespace shmrefclock::toml {

// ---- the tree ----

namespace {
// Up to this many members a table is searched in order; beyond, through
// its index, so that a file of many keys or tables costs n log n, not n^2.
constexpr std::size_t linear_members = 8;
} // namespace

Table::Table() = default;
Table::Table(Origin o) : origin(o) {}
Table::Table(Table&&) noexcept = default;
Table& Table::operator=(Table&&) noexcept = default;
Table::~Table() = default;

const Value* Table::find(std::string_view key) const {
    if (index) {
        const auto it = index->find(key);
        return it == index->end() ? nullptr : &members[it->second].value;
    }
    for (const Member& member : members) {
        if (member.key == key) {
            return &member.value;
        }
    }
    return nullptr;
}

Value* Table::find(std::string_view key) {
    return const_cast<Value*>(std::as_const(*this).find(key));
}

Value& Table::add(std::string key, Position key_position, Value value) {
    const auto slot = static_cast<std::uint32_t>(members.size());
    if (!index && members.size() + 1 > linear_members) {
        index = std::make_unique<std::map<std::string, std::uint32_t, std::less<>>>();
        for (std::uint32_t i = 0; i < members.size(); ++i) {
            index->emplace(members[i].key, i);
        }
    }
    if (index) {
        index->emplace(key, slot);
    }
    members.push_back(Member{std::move(key), key_position, std::move(value)});
    return members.back().value;
}

std::string_view Value::type_name() const {
    switch (data.index()) {
    case 0:
        return "a string";
    case 1:
        return "an integer";
    case 2:
        return "a float";
    case 3:
        return "a boolean";
    case 4:
        return "an array";
    default:
        return "a table";
    }
}

std::string excerpt(std::string_view text) {
    std::size_t characters = 0;
    std::size_t end = 0;
    while (end < text.size()) {
        if ((static_cast<unsigned char>(text[end]) & 0xC0) != 0x80) {
            if (characters == max_excerpt) {
                return printable(text.substr(0, end)) + "...";
            }
            ++characters;
        }
        ++end;
    }
    return printable(text);
}

// ---- the reader ----

namespace {

struct Failure {
    Position where;
    std::string message;
};

struct KeyPart {
    std::string name;
    Position where;
};

bool is_bare_key_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

int hex_value(char c) {
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

// A TOML integer or float (TOML 1.0, "Integer" and "Float"), or what is
// wrong with it.
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

class Reader {
public:
    explicit Reader(std::string_view text) : text_(text) {}

    Table read() {
        if (text_.substr(0, 3) == "\xEF\xBB\xBF") {
            at_ = 3; // a byte-order mark: skipped, and not a column
        }
        if (const auto problem = utf8::validate(text_.substr(at_))) {
            throw Failure{{problem->line, problem->column}, problem->message};
        }
        check_characters();
        while (!eof()) {
            skip_blanks();
            if (eof()) {
                break;
            }
            if (at_newline()) {
                skip_newline();
                continue;
            }
            if (peek() == '#') {
                skip_comment();
                continue;
            }
            if (peek() == '[') {
                header();
                end_of_line("the table header");
            } else if (is_key_start(peek())) {
                key_value(*current_, current_depth_);
                end_of_line("the value");
            } else {
                unexpected("a key, a [table] header or a comment");
            }
        }
        return std::move(root_);
    }

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

    [[noreturn]] static void fail(Position where, std::string message) {
        throw Failure{where, std::move(message)};
    }

    // What is at the cursor, for "expected X, saw Y".
    std::string saw() const {
        if (eof()) {
            return "the end of the file";
        }
        if (at_newline()) {
            return "the end of the line";
        }
        const std::size_t length = std::max<std::size_t>(1, utf8::sequence_length(text_, at_));
        return "'" + printable(text_.substr(at_, length)) + "'";
    }

    [[noreturn]] void unexpected(std::string_view expected) const {
        if (starts_with("\xEF\xBB\xBF")) {
            fail(here_, "a byte-order mark (U+FEFF) outside a string: one is allowed only at "
                        "the start of the file");
        }
        if (!eof() && static_cast<unsigned char>(peek()) >= 0x80) {
            fail(here_, fmt::format("{} outside a string or comment: TOML keys and values other "
                                    "than strings are ASCII (put it in quotes)",
                                    saw()));
        }
        fail(here_, fmt::format("expected {}, saw {}", expected, saw()));
    }

    void end_of_line(std::string_view after) {
        skip_blanks();
        if (peek() == '#') {
            skip_comment();
        }
        if (eof()) {
            return;
        }
        if (!at_newline()) {
            unexpected(fmt::format("the end of the line after {}", after));
        }
        skip_newline();
    }

    // Control characters are refused wherever they are, as TOML 1.0 does
    // (a string writes them as escapes), and so is a CR that does not start
    // a CR LF: the parser then meets only tab, LF and CR LF.
    void check_characters() const {
        Position where{1, 1};
        for (std::size_t i = at_; i < text_.size(); ++i) {
            const auto byte = static_cast<unsigned char>(text_[i]);
            if (byte == '\n') {
                ++where.line;
                where.column = 1;
                continue;
            }
            if (byte == '\r' && (i + 1 >= text_.size() || text_[i + 1] != '\n')) {
                fail(where, "a carriage return not followed by a line feed: lines end with LF "
                            "or CR LF");
            }
            if (byte == 0) {
                fail(where, "a NUL byte: TOML text holds no control characters but tab (a "
                            "string may write one as \\u0000)");
            }
            if ((byte < 0x20 && byte != '\t' && byte != '\r') || byte == 0x7f) {
                fail(where, fmt::format("control character U+{0:04X}: TOML text holds none but "
                                        "tab (a string may write one as \\u{0:04X})",
                                        byte));
            }
            if ((byte & 0xC0) != 0x80) {
                ++where.column;
            }
        }
    }

    [[noreturn]] static void too_deep(Position where) {
        fail(where, fmt::format("nested deeper than {} tables and arrays", max_depth));
    }

    // ---- keys and tables ----

    // A simple or dotted key of at most `max_parts` parts.
    std::vector<KeyPart> key(std::size_t max_parts) {
        std::vector<KeyPart> parts;
        for (;;) {
            if (parts.size() == max_parts) {
                too_deep(here_);
            }
            parts.push_back(simple_key(parts.empty() ? "a key" : "a key after '.'"));
            skip_blanks();
            if (peek() != '.') {
                return parts;
            }
            advance();
            skip_blanks();
        }
    }

    KeyPart simple_key(std::string_view expected) {
        const Position where = here_;
        if (starts_with("\"\"\"") || starts_with("'''")) {
            fail(where, "a key cannot be a multi-line string");
        }
        if (peek() == '"') {
            return {basic_string(), where};
        }
        if (peek() == '\'') {
            return {literal_string(), where};
        }
        const std::size_t start = at_;
        while (is_bare_key_char(peek())) {
            advance();
        }
        if (at_ == start) {
            unexpected(expected);
        }
        return {std::string(text_.substr(start, at_ - start)), where};
    }

    static std::string dotted(const std::vector<KeyPart>& parts, std::size_t count) {
        std::string name;
        for (std::size_t i = 0; i < count; ++i) {
            name += (i == 0 ? "" : ".") + parts[i].name;
        }
        return excerpt(name);
    }

    [[noreturn]] static void not_a_table(const KeyPart& part, const Value& value) {
        fail(part.where, fmt::format("'{}' is already {} (line {}), not a table",
                                     excerpt(part.name), value.type_name(), value.position.line));
    }

    // The table a header names below `table`, made if missing.
    static Table& header_step(Table& table, const KeyPart& part) {
        Value* value = table.find(part.name);
        if (value == nullptr) {
            return std::get<Table>(
                table.add(part.name, part.where, Value{Table(Table::Origin::implicit), part.where})
                    .data);
        }
        if (auto* sub = std::get_if<Table>(&value->data)) {
            if (sub->origin == Table::Origin::inline_table) {
                fail(part.where, fmt::format("'{}' is an inline table (line {}): it cannot be "
                                             "added to",
                                             excerpt(part.name), value->position.line));
            }
            return *sub;
        }
        if (auto* array = std::get_if<Array>(&value->data); array != nullptr && array->of_headers) {
            return std::get<Table>(array->items.back().data);
        }
        not_a_table(part, *value);
    }

    void header() {
        const Position start = here_;
        advance();
        const bool array = peek() == '[';
        if (array) {
            advance();
        }
        skip_blanks();
        if (!is_key_start(peek())) {
            unexpected("a table name after '['");
        }
        // [a.b] makes tables at depths 1 and 2; [[a.b]] an array at 2 and its
        // table at 3.
        const auto parts = key(array ? max_depth - 1 : max_depth);
        if (peek() != ']' || (array && peek(1) != ']')) {
            unexpected(array ? "']]' after the table name" : "']' after the table name");
        }
        advance(array ? 2 : 1);

        Table* table = &root_;
        for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
            table = &header_step(*table, parts[i]);
        }
        const KeyPart& last = parts.back();
        Value* value = table->find(last.name);
        if (array) {
            Array* items = nullptr;
            if (value == nullptr) {
                Value& made = table->add(last.name, last.where, Value{Array{{}, true}, start});
                items = &std::get<Array>(made.data);
            } else if (auto* existing = std::get_if<Array>(&value->data);
                       existing != nullptr && existing->of_headers) {
                items = existing;
            } else if (value->as_array() != nullptr) {
                fail(last.where, fmt::format("[[{}]] cannot add to the array written at line {}",
                                             dotted(parts, parts.size()), value->position.line));
            } else {
                fail(last.where,
                     fmt::format("[[{}]]: '{}' is already {} (line {}), not an array of tables",
                                 dotted(parts, parts.size()), excerpt(last.name),
                                 value->type_name(), value->position.line));
            }
            items->items.push_back(Value{Table(Table::Origin::array_item), start});
            current_ = &std::get<Table>(items->items.back().data);
            current_depth_ = static_cast<int>(parts.size()) + 1;
            return;
        }
        if (value == nullptr) {
            current_ = &std::get<Table>(
                table->add(last.name, last.where, Value{Table(Table::Origin::header), start}).data);
        } else if (auto* existing = std::get_if<Table>(&value->data)) {
            switch (existing->origin) {
            case Table::Origin::implicit:
                existing->origin = Table::Origin::header;
                value->position = start;
                current_ = existing;
                break;
            case Table::Origin::dotted:
                fail(last.where, fmt::format("table [{}] was already made by dotted keys (line {})",
                                             dotted(parts, parts.size()), value->position.line));
            case Table::Origin::inline_table:
                fail(last.where, fmt::format("table [{}] was already written as an inline table "
                                             "(line {})",
                                             dotted(parts, parts.size()), value->position.line));
            default:
                fail(last.where, fmt::format("table [{}] is defined twice (first at line {})",
                                             dotted(parts, parts.size()), value->position.line));
            }
        } else {
            not_a_table(last, *value);
        }
        current_depth_ = static_cast<int>(parts.size());
    }

    // The table a dotted key names below `table`, made if missing: only
    // tables made by dotted keys may be added to this way (TOML 1.0, "Table").
    static Table& dotted_step(Table& table, const KeyPart& part) {
        Value* value = table.find(part.name);
        if (value == nullptr) {
            return std::get<Table>(
                table.add(part.name, part.where, Value{Table(Table::Origin::dotted), part.where})
                    .data);
        }
        auto* sub = std::get_if<Table>(&value->data);
        if (sub == nullptr) {
            not_a_table(part, *value);
        }
        if (sub->origin == Table::Origin::dotted) {
            return *sub;
        }
        if (sub->origin == Table::Origin::inline_table) {
            fail(part.where, fmt::format("'{}' is an inline table (line {}): it cannot be added to",
                                         excerpt(part.name), value->position.line));
        }
        fail(part.where, fmt::format("'{}' is a table with a [header] (line {}): a dotted key "
                                     "cannot add to it",
                                     excerpt(part.name), value->position.line));
    }

    // KEY = VALUE into `table`, which lies at `depth`.
    void key_value(Table& table, int depth) {
        const auto parts = key(static_cast<std::size_t>(max_depth - depth + 1));
        if (peek() != '=') {
            unexpected("'=' after the key");
        }
        advance();
        skip_blanks();
        Table* target = &table;
        for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
            target = &dotted_step(*target, parts[i]);
        }
        const KeyPart& last = parts.back();
        if (const Value* existing = target->find(last.name)) {
            fail(last.where, fmt::format("duplicate key '{}' (first set at line {})",
                                         dotted(parts, parts.size()), existing->position.line));
        }
        Value parsed = read_value(depth + static_cast<int>(parts.size()), '=');
        target->add(last.name, last.where, std::move(parsed));
    }

    // ---- values ----

    // A value; a table or an array it makes lies at `depth`. `after` is
    // what came before it, for the message when there is none.
    Value read_value(int depth, char after) {
        const Position where = here_;
        const char c = peek();
        if (c == '"') {
            return {starts_with("\"\"\"") ? multiline_string('"') : basic_string(), where};
        }
        if (c == '\'') {
            return {starts_with("'''") ? multiline_string('\'') : literal_string(), where};
        }
        if (c == '[') {
            return {array(depth), where};
        }
        if (c == '{') {
            return {inline_table(depth), where};
        }
        if (c == 't' || c == 'f') {
            keyword(c == 't' ? "true" : "false");
            return {c == 't', where};
        }
        if (c == 'i' || c == 'n') {
            keyword(c == 'i' ? "inf" : "nan");
            return {c == 'i' ? std::numeric_limits<double>::infinity()
                             : std::numeric_limits<double>::quiet_NaN(),
                    where};
        }
        if (c == '+' || c == '-' || is_digit(c)) {
            return number();
        }
        unexpected(fmt::format("a value after '{}'", after));
    }

    void keyword(std::string_view word) {
        for (const char c : word) {
            if (peek() != c) {
                unexpected(fmt::format("'{}'", word));
            }
            advance();
        }
    }

    Value number() {
        const Position where = here_;
        const bool date =
            is_digit(peek()) && is_digit(peek(1)) &&
            ((is_digit(peek(2)) && is_digit(peek(3)) && peek(4) == '-') || peek(2) == ':');
        if (date) {
            fail(where, "dates and times are not read: no key of this file takes one");
        }
        const std::size_t start = at_;
        while (is_bare_key_char(peek()) || peek() == '+' || peek() == '.') {
            advance();
        }
        auto parsed = parse_number(text_.substr(start, at_ - start));
        if (auto* integer = std::get_if<std::int64_t>(&parsed)) {
            return {*integer, where};
        }
        if (auto* real = std::get_if<double>(&parsed)) {
            return {*real, where};
        }
        fail(where, std::get<std::string>(parsed));
    }

    Array array(int depth) {
        if (depth > max_depth) {
            too_deep(here_);
        }
        advance();
        Array result;
        char after = '[';
        for (;;) {
            skip_blank_lines();
            if (peek() == ']') {
                advance();
                return result;
            }
            result.items.push_back(read_value(depth + 1, after));
            skip_blank_lines();
            if (peek() == ',') {
                advance();
                after = ',';
                continue;
            }
            if (peek() == ']') {
                advance();
                return result;
            }
            unexpected("',' or ']' after an array element");
        }
    }

    Table inline_table(int depth) {
        if (depth > max_depth) {
            too_deep(here_);
        }
        advance();
        Table result(Table::Origin::inline_table);
        skip_blanks();
        if (peek() == '}') {
            advance();
            return result;
        }
        for (;;) {
            if (at_newline()) {
                fail(here_, "an inline table ends on the line where it starts (TOML 1.0)");
            }
            if (!is_key_start(peek())) {
                unexpected("a key in the inline table");
            }
            key_value(result, depth);
            skip_blanks();
            if (peek() == ',') {
                advance();
                skip_blanks();
                if (peek() == '}') {
                    fail(here_, "an inline table has no comma after its last value");
                }
                continue;
            }
            if (peek() == '}') {
                advance();
                return result;
            }
            if (at_newline()) {
                fail(here_, "an inline table ends on the line where it starts (TOML 1.0)");
            }
            unexpected("',' or '}' in the inline table");
        }
    }

    // ---- strings ----

    // One byte of a string's text as it is. The UTF-8 was checked, so a
    // character's bytes are copied one by one.
    void copy_byte(std::string& out) {
        out += peek();
        advance();
    }

    // At a backslash in a basic string.
    void escape(std::string& out, bool multiline) {
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

    std::string basic_string() {
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

    std::string literal_string() {
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

    // After the opening delimiter: a line break right after it is dropped.
    // At a run of delimiter characters: three close the string, and up to
    // two before them are its text (TOML 1.0, "String").
    bool close_multiline(std::string& out, char quote) {
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

    // A multi-line basic (quote '"', with escapes) or literal ('\'') string.
    std::string multiline_string(char quote) {
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

} // namespace

std::variant<Table, Error> read(std::string_view text) {
    if (text.size() > max_file_size) {
        return Error{{},
                     fmt::format("the file is larger than {} bytes ({} KiB); a configuration "
                                 "is a few hundred bytes",
                                 max_file_size, max_file_size / 1024)};
    }
    try {
        return Reader(text).read();
    } catch (Failure& failure) {
        return Error{failure.where, std::move(failure.message)};
    }
}

} // namespace shmrefclock::toml
