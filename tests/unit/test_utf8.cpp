// UTF-8 validation (src/config/utf8.hpp) against RFC 3629's table of
// well-formed byte sequences (section 4) and the Unicode standard's
// boundary code points.
#include <catch2/catch.hpp>

#include <string>

#include "config/utf8.hpp"

using shmrefclock::utf8::Problem;
using shmrefclock::utf8::validate;

namespace {
std::string problem_at(const std::string& text) {
    const auto problem = validate(text);
    if (!problem) {
        return "valid";
    }
    return std::to_string(problem->line) + ":" + std::to_string(problem->column) + " @" +
           std::to_string(problem->offset);
}
} // namespace

TEST_CASE("well-formed UTF-8 at every boundary is accepted") {
    for (const std::string& text : {
             std::string(""),
             std::string("plain ASCII\n\ttext ~\x7f"),
             std::string("\x00", 1),          // U+0000 is UTF-8; the reader refuses it, not this
             std::string("\xc2\x80"),         // U+0080, the first 2-byte
             std::string("\xdf\xbf"),         // U+07FF, the last 2-byte
             std::string("\xe0\xa0\x80"),     // U+0800, the first 3-byte
             std::string("\xed\x9f\xbf"),     // U+D7FF, just below the surrogates
             std::string("\xee\x80\x80"),     // U+E000, just above them
             std::string("\xef\xbb\xbf"),     // U+FEFF, the byte-order mark
             std::string("\xef\xbf\xbf"),     // U+FFFF, the last 3-byte
             std::string("\xf0\x90\x80\x80"), // U+10000, the first 4-byte
             std::string("\xf4\x8f\xbf\xbf"), // U+10FFFF, the last code point
             std::string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xc2\xa7"),
         }) {
        INFO(text);
        CHECK(problem_at(text) == "valid");
    }
}

TEST_CASE("each class of malformed UTF-8 is refused at its first byte") {
    struct Case {
        std::string text;
        std::string message; // a part of it
        std::size_t offset = 0;
    };
    const Case cases[] = {
        // Stray continuation bytes.
        {"\x80", "continuation byte without a lead byte"},
        {"\xbf", "continuation byte without a lead byte"},
        {"\xc3\xa9\xa9", "continuation byte without a lead byte", 2},
        // Bytes that never occur.
        {"\xc0\x80", "never occurs"}, // an overlong U+0000
        {"\xc1\xbf", "never occurs"},
        {"\xf5\x80\x80\x80", "never occurs"},
        {"\xf8\x88\x80\x80\x80", "never occurs"}, // the old 5-byte form
        {"\xfe", "never occurs"},
        {"\xff", "never occurs"},
        // Overlong 3- and 4-byte forms.
        {"\xe0\x80\x80", "overlong"},
        {"\xe0\x9f\xbf", "overlong"}, // U+07FF in three bytes
        {"\xf0\x80\x80\x80", "overlong"},
        {"\xf0\x8f\xbf\xbf", "overlong"}, // U+FFFF in four bytes
        // UTF-16 surrogates.
        {"\xed\xa0\x80", "surrogate"},             // U+D800
        {"\xed\xbf\xbf", "surrogate"},             // U+DFFF
        {"\xed\xa0\xbd\xed\xb8\x80", "surrogate"}, // a CESU-8 pair
        // Above U+10FFFF.
        {"\xf4\x90\x80\x80", "above U+10FFFF"},
        {"\xf4\xbf\xbf\xbf", "above U+10FFFF"},
        // Cut short: at the end, or by a byte that is no continuation.
        {"\xc3", "cut short"},
        {"\xe2\x82", "cut short"},
        {"\xf0\x9f\x98", "cut short"},
        {"\xe2\x82x", "cut short"},
        {"\xf0\x9f\x98\xc3\xa9", "cut short"},
        {"\xc3 ", "cut short"},
    };
    for (const auto& c : cases) {
        INFO(c.text);
        const auto problem = validate(c.text);
        REQUIRE(problem);
        CHECK(problem->offset == c.offset);
        CHECK(problem->line == 1);
        CHECK_THAT(problem->message,
                   Catch::StartsWith("invalid UTF-8: ") && Catch::Contains(c.message));
    }
}

TEST_CASE("the problem's line and column count lines and characters, not bytes") {
    // Line 3, after 'c', U+00E9 and U+20AC: the fourth character.
    CHECK(problem_at("ab\n\n"
                     "c\xc3\xa9\xe2\x82\xac\xff tail") == "3:4 @10");
    CHECK(problem_at("\xf0\x9f\x98\x80\x80") == "1:2 @4");
    CHECK(problem_at("x\n\xed\xa0\x80") == "2:1 @2");
    // A tab and a CR are one character each.
    CHECK(problem_at("\t\r\xc0") == "1:3 @2");
}

TEST_CASE("sequence_length tells a character's length, or 0 for none") {
    using shmrefclock::utf8::sequence_length;
    CHECK(sequence_length("a", 0) == 1);
    CHECK(sequence_length("\xc3\xa9", 0) == 2);
    CHECK(sequence_length("\xe2\x82\xac", 0) == 3);
    CHECK(sequence_length("\xf0\x9f\x98\x80", 0) == 4);
    CHECK(sequence_length("\xf0\x9f\x98", 0) == 0);
    CHECK(sequence_length("\xa9", 0) == 0);
    CHECK(sequence_length("a", 1) == 0);
}
