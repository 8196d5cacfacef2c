// The parser's table builder (toml_parser.hpp): the cursor's problems,
// keys, [table] and [[array]] headers with TOML's rules on defining a table
// twice, and values; strings and numbers are read in toml_strings.cpp and
// toml_numbers.cpp.
#include "config/toml_reader.hpp"

#include <algorithm>
#include <limits>
#include <utility>

#include <fmt/format.h>

#include "config/toml_parser.hpp"
#include "config/utf8.hpp"
#include "core/printable.hpp"

namespace shmrefclock::toml {

namespace detail {

Table Reader::read() {
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

void Reader::fail(Position where, std::string message) {
    throw Failure{where, std::move(message)};
}

std::string Reader::saw() const {
    if (eof()) {
        return "the end of the file";
    }
    if (at_newline()) {
        return "the end of the line";
    }
    const std::size_t length = std::max<std::size_t>(1, utf8::sequence_length(text_, at_));
    return "'" + printable(text_.substr(at_, length)) + "'";
}

void Reader::unexpected(std::string_view expected) const {
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

void Reader::end_of_line(std::string_view after) {
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

void Reader::check_characters() const {
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

void Reader::too_deep(Position where) {
    fail(where, fmt::format("nested deeper than {} tables and arrays", max_depth));
}

std::vector<KeyPart> Reader::key(std::size_t max_parts) {
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

KeyPart Reader::simple_key(std::string_view expected) {
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

std::string Reader::dotted(const std::vector<KeyPart>& parts, std::size_t count) {
    std::string name;
    for (std::size_t i = 0; i < count; ++i) {
        name += (i == 0 ? "" : ".") + parts[i].name;
    }
    return excerpt(name);
}

void Reader::not_a_table(const KeyPart& part, const Value& value) {
    fail(part.where, fmt::format("'{}' is already {} (line {}), not a table", excerpt(part.name),
                                 value.type_name(), value.position.line));
}

Table& Reader::header_step(Table& table, const KeyPart& part) {
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

void Reader::header() {
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
                             dotted(parts, parts.size()), excerpt(last.name), value->type_name(),
                             value->position.line));
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

Table& Reader::dotted_step(Table& table, const KeyPart& part) {
    Value* value = table.find(part.name);
    if (value == nullptr) {
        return std::get<Table>(
            table.add(part.name, part.where, Value{Table(Table::Origin::dotted), part.where}).data);
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

void Reader::key_value(Table& table, int depth) {
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

Value Reader::read_value(int depth, char after) {
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

void Reader::keyword(std::string_view word) {
    for (const char c : word) {
        if (peek() != c) {
            unexpected(fmt::format("'{}'", word));
        }
        advance();
    }
}

Value Reader::number() {
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

Array Reader::array(int depth) {
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

Table Reader::inline_table(int depth) {
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

} // namespace detail

std::variant<Table, Error> read(std::string_view text) {
    if (text.size() > max_file_size) {
        return Error{{},
                     fmt::format("the file is larger than {} bytes ({} KiB); a configuration "
                                 "is a few hundred bytes",
                                 max_file_size, max_file_size / 1024)};
    }
    try {
        return detail::Reader(text).read();
    } catch (detail::Failure& failure) {
        return Error{failure.where, std::move(failure.message)};
    }
}

} // namespace shmrefclock::toml
