// The tree the reader builds (toml_reader.hpp): tables with their index,
// and the excerpts that messages quote.
#include "config/toml_reader.hpp"

#include <utility>

#include "core/printable.hpp"

namespace shmrefclock::toml {

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

} // namespace shmrefclock::toml
