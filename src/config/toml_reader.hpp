// A reader for the part of TOML 1.0 (https://toml.io/en/v1.0.0) that a
// configuration file needs: comments, [table] and [[array.of.tables]]
// headers, bare, quoted and dotted keys, basic and literal strings (one-line
// and multi-line, every escape), integers (decimal, 0x, 0o, 0b), floats
// (with inf and nan), booleans, arrays and inline tables. Dates and times
// are refused: no key takes one. docs/design.md, "Reading the
// configuration", says why this is ours and not a library's.
//
// Any byte sequence gives either a tree of values or one Error with the line
// and column of the problem; nothing else. The input is bounded
// (max_file_size), and so is the nesting (max_depth), which bounds the
// recursion; every lookup of a key is logarithmic at worst. I/O-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace shmrefclock::toml {

// 1-based; the column counts characters, not bytes.
struct Position {
    std::uint32_t line = 0;
    std::uint32_t column = 0;
    bool operator==(const Position&) const = default;
};

// A larger file is refused before it is read (load_config reads at most
// one byte more); a configuration is a few hundred bytes. 256 KiB, not
// 1 MiB: a 1 MiB file of 32-part dotted keys (a table per 2 bytes) took
// the reader to 60 MB of memory (docs/design.md, "Reading the
// configuration"); 256 KiB of them take about 16 MB.
inline constexpr std::size_t max_file_size = 256 * 1024;
// No table or array lies deeper than this many tables and arrays below the
// root ("x = [[1]]": the inner array lies at depth 2).
inline constexpr int max_depth = 32;
// A message quotes at most this many characters of a key or a value.
inline constexpr std::size_t max_excerpt = 64;

struct Value;
struct Member;

struct Array {
    std::vector<Value> items;
    // Made by [[name]] headers, which may add to it; an array written as
    // a value ("x = [...]") is complete.
    bool of_headers = false;
};

// Members in the order of the file, looked up through a sorted index once
// there are more than a few.
struct Table {
    // How the table came to be, for TOML's rules on defining one twice.
    enum class Origin : std::uint8_t {
        root,
        header,       // [name]
        implicit,     // a name on the way to a header's last one ("a" in [a.b])
        dotted,       // a dotted key ("a" in a.b = 1)
        inline_table, // { ... }: complete where it is written
        array_item,   // [[name]]
    };

    std::vector<Member> members;
    std::unique_ptr<std::map<std::string, std::uint32_t, std::less<>>> index;
    Origin origin = Origin::root;

    // Out of line, where Member is complete.
    Table();
    explicit Table(Origin o);
    Table(Table&&) noexcept;
    Table& operator=(Table&&) noexcept;
    ~Table();

    const Value* find(std::string_view key) const;
    Value* find(std::string_view key);
    // The key must not be there yet.
    Value& add(std::string key, Position key_position, Value value);
};

struct Value {
    std::variant<std::string, std::int64_t, double, bool, Array, Table> data;
    Position position; // of its first character (a table: its header's '[')

    const std::string* as_string() const { return std::get_if<std::string>(&data); }
    const std::int64_t* as_integer() const { return std::get_if<std::int64_t>(&data); }
    const double* as_float() const { return std::get_if<double>(&data); }
    const bool* as_boolean() const { return std::get_if<bool>(&data); }
    const Array* as_array() const { return std::get_if<Array>(&data); }
    const Table* as_table() const { return std::get_if<Table>(&data); }
    // "a string", "an integer", "a float", "a boolean", "an array", "a table".
    std::string_view type_name() const;
};

struct Member {
    std::string key;
    Position key_position;
    Value value;
};

struct Error {
    Position where; // line 0: the file as a whole (too large)
    std::string message;
};

// The root table of `text`, or its first problem. A UTF-8 byte-order mark
// at the start is skipped.
std::variant<Table, Error> read(std::string_view text);

// At most max_excerpt characters of `text`, with "..." when cut, and every
// control character escaped (core/printable.hpp): safe to quote in a
// one-line message.
std::string excerpt(std::string_view text);

} // namespace shmrefclock::toml
