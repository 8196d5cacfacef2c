// UTF-8 validation as RFC 3629 defines it, for text read from outside (the
// configuration file): no overlong forms, no UTF-16 surrogates
// (U+D800..U+DFFF), nothing above U+10FFFF, no truncated sequence, no stray
// continuation byte, and never the bytes 0xC0, 0xC1 or 0xF5..0xFF. I/O-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shmrefclock::utf8 {

// The first bad byte: its offset, its line (lines end with '\n', the first
// is 1) and its column (1-based, counted in characters, not bytes).
struct Problem {
    std::size_t offset = 0;
    std::uint32_t line = 0;
    std::uint32_t column = 0;
    std::string message; // "invalid UTF-8: ..."
};

std::optional<Problem> validate(std::string_view text);

// The length of the well-formed sequence starting at text[at], or 0 if none
// starts there (text[at] is a continuation byte, a byte UTF-8 never uses, or
// the start of a bad or cut-short sequence).
std::size_t sequence_length(std::string_view text, std::size_t at);

} // namespace shmrefclock::utf8
