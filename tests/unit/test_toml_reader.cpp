// The TOML reader (src/config/toml_reader.hpp). Expected values come from
// the TOML 1.0 specification (https://toml.io/en/v1.0.0), most of them
// its own examples; refusals from the same text ("is invalid").
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <limits>
#include <string>

#include "config/toml_reader.hpp"

namespace toml = shmrefclock::toml;

namespace {

// The tree of `text`, failing the test if it is refused.
toml::Table accept(const std::string& text) {
    auto result = toml::read(text);
    if (const auto* error = std::get_if<toml::Error>(&result)) {
        FAIL("refused " << text << "\n  at " << error->where.line << ":" << error->where.column
                        << ": " << error->message);
    }
    return std::move(std::get<toml::Table>(result));
}

// "LINE:COLUMN: message" of the refusal of `text`, or "accepted".
std::string refusal(const std::string& text) {
    const auto result = toml::read(text);
    if (const auto* error = std::get_if<toml::Error>(&result)) {
        return std::to_string(error->where.line) + ":" + std::to_string(error->where.column) +
               ": " + error->message;
    }
    return "accepted";
}

// The value at a dotted path of bare keys ("a.b.c").
const toml::Value& at(const toml::Table& root, const std::string& path) {
    const toml::Table* table = &root;
    std::size_t start = 0;
    for (;;) {
        const auto dot = path.find('.', start);
        const std::string key = path.substr(start, dot - start);
        const toml::Value* value = table->find(key);
        if (value == nullptr) {
            FAIL("no " << path);
        }
        if (dot == std::string::npos) {
            return *value;
        }
        table = value->as_table();
        REQUIRE(table != nullptr);
        start = dot + 1;
    }
}

std::string string_at(const std::string& text, const std::string& path = "x") {
    const toml::Table root = accept(text);
    const auto* s = at(root, path).as_string();
    REQUIRE(s != nullptr);
    return *s;
}

std::int64_t integer_of(const std::string& literal) {
    const toml::Table root = accept("x = " + literal + "\n");
    const auto* i = at(root, "x").as_integer();
    REQUIRE(i != nullptr);
    return *i;
}

double float_of(const std::string& literal) {
    const toml::Table root = accept("x = " + literal + "\n");
    const auto* f = at(root, "x").as_float();
    REQUIRE(f != nullptr);
    return *f;
}

// "x = " and `levels` times `open`, then `inner`, then as many `close`.
std::string nested(const std::string& open, const std::string& inner, const std::string& close,
                   int levels) {
    std::string text = "x = ";
    for (int i = 0; i < levels; ++i) {
        text += open;
    }
    text += inner;
    for (int i = 0; i < levels; ++i) {
        text += close;
    }
    return text + "\n";
}

} // namespace

TEST_CASE("comments, blank lines and both line ends") {
    const auto root = accept("# a comment\n\n   \t\nx = 1 # after a value\r\n# é in a comment "
                             "\xe2\x82\xac\r\ny = 2");
    REQUIRE(root.members.size() == 2);
    CHECK(*at(root, "x").as_integer() == 1);
    CHECK(*at(root, "y").as_integer() == 2);
    CHECK(accept("").members.empty());
    CHECK(accept("# only\n").members.empty());
}

TEST_CASE("keys: bare, quoted, dotted, in the order of the file") {
    const auto root = accept("bare_key-1 = 1\n1234 = 2\n\"quoted key é\" = 3\n'lit\"eral' = 4\n"
                             "\"\" = 5\nsite.\"google.com\" = 6\n a . b\t.c = 7\n");
    CHECK(*at(root, "bare_key-1").as_integer() == 1);
    CHECK(*at(root, "1234").as_integer() == 2);
    CHECK(*root.find("quoted key \xc3\xa9")->as_integer() == 3);
    CHECK(*root.find("lit\"eral")->as_integer() == 4);
    CHECK(*root.find("")->as_integer() == 5);
    CHECK(*at(root, "site").as_table()->find("google.com")->as_integer() == 6);
    CHECK(*at(root, "a.b.c").as_integer() == 7);
    std::vector<std::string> order;
    for (const auto& member : root.members) {
        order.push_back(member.key);
    }
    CHECK(order == std::vector<std::string>{"bare_key-1", "1234", "quoted key \xc3\xa9",
                                            "lit\"eral", "", "site", "a"});
    // Escapes in a quoted key; a dotted key's tables made on the way.
    CHECK(accept("\"a\\u00e9\" = 1\n").find("a\xc3\xa9") != nullptr);
    const auto fruit = accept("fruit.apple.color = \"red\"\nfruit.apple.taste.sweet = true\n");
    CHECK(*at(fruit, "fruit.apple.color").as_string() == "red");
    CHECK(*at(fruit, "fruit.apple.taste.sweet").as_boolean());
}

TEST_CASE("keys that are refused") {
    CHECK(refusal("= 1\n") == "1:1: expected a key, a [table] header or a comment, saw '='");
    CHECK(refusal("a b = 1\n") == "1:3: expected '=' after the key, saw 'b'");
    CHECK(refusal("a.\n") == "1:3: expected a key after '.', saw the end of the line");
    CHECK(refusal("a = \n") == "1:5: expected a value after '=', saw the end of the line");
    CHECK(refusal("a =") == "1:4: expected a value after '=', saw the end of the file");
    CHECK(refusal("\"\"\"a\"\"\" = 1\n") == "1:1: a key cannot be a multi-line string");
    CHECK(refusal("a = 1 b = 2\n") == "1:7: expected the end of the line after the value, saw 'b'");
    CHECK(refusal("\"a\nb\" = 1\n") ==
          "1:3: a \"string\" ends on its line (\"\"\" starts one of several lines)");
}

TEST_CASE("duplicate keys and redefined tables are refused, as TOML says") {
    CHECK(refusal("name = 1\nname = 2\n") == "2:1: duplicate key 'name' (first set at line 1)");
    // Bare and quoted keys are the same key.
    CHECK(refusal("spelling = 1\n\"spelling\" = 2\n") ==
          "2:1: duplicate key 'spelling' (first set at line 1)");
    CHECK(refusal("a.b = 1\na.b = 2\n") == "2:3: duplicate key 'a.b' (first set at line 1)");
    CHECK(refusal("a = 1\na.b = 2\n") == "2:1: 'a' is already an integer (line 1), not a table");
    CHECK(refusal("[a]\nx = 1\n[a]\n") == "3:2: table [a] is defined twice (first at line 1)");
    CHECK(refusal("[a]\n[a.b]\n[a.b]\n") == "3:4: table [a.b] is defined twice (first at line 2)");
    // A table made by dotted keys has no header later, and the other way round.
    CHECK(refusal("[fruit]\napple.color = 1\n[fruit.apple]\n") ==
          "3:8: table [fruit.apple] was already made by dotted keys (line 2)");
    CHECK(refusal("[a.b.c]\nz = 9\n[a]\nb.c.t = 1\n") ==
          "4:1: 'b' is a table with a [header] (line 1): a dotted key cannot add to it");
    CHECK(refusal("[a]\nb = 1\n[a.b]\n") == "3:4: 'b' is already an integer (line 2), not a table");
    // An inline table is complete where it is written.
    CHECK(refusal("a = {b = 1}\na.c = 2\n") ==
          "2:1: 'a' is an inline table (line 1): it cannot be added to");
    CHECK(refusal("a = {b = 1}\n[a]\n") ==
          "2:2: table [a] was already written as an inline table (line 1)");
    CHECK(refusal("a = {b = 1}\n[a.c]\n") ==
          "2:2: 'a' is an inline table (line 1): it cannot be added to");
    CHECK(refusal("a = {b = 1, b = 2}\n") == "1:13: duplicate key 'b' (first set at line 1)");
    // An array written as a value is complete too; a table is no array.
    CHECK(refusal("a = []\n[[a]]\n") == "2:3: [[a]] cannot add to the array written at line 1");
    CHECK(refusal("[a]\n[[a]]\n") ==
          "2:3: [[a]]: 'a' is already a table (line 1), not an array of tables");
    CHECK(refusal("[[a]]\n[a]\n") == "2:2: 'a' is already an array (line 1), not a table");
    // What TOML allows: a super-table after its sub-table, a sub-table of
    // a dotted table, sub-tables of the last [[array]] element.
    const auto root = accept("[x.y.z]\nw = 1\n[x]\nv = 2\n[fruit]\napple.color = \"red\"\n"
                             "[fruit.apple.texture]\nsmooth = true\n");
    CHECK(*at(root, "x.y.z.w").as_integer() == 1);
    CHECK(*at(root, "x.v").as_integer() == 2);
    CHECK(*at(root, "fruit.apple.texture.smooth").as_boolean());
}

TEST_CASE("tables and arrays of tables") {
    const auto root = accept("top = 0\n[table-1]\nkey1 = \"some string\"\n[ dog . \"tater.man\" ]\n"
                             "type.name = \"pug\"\n[[products]]\nname = \"Hammer\"\n[[products]]\n"
                             "[[products]]\nname = \"Nail\"\n[[fruits]]\nname = \"apple\"\n"
                             "[fruits.physical]\ncolor = \"red\"\n[[fruits.varieties]]\n"
                             "name = \"red delicious\"\n[[fruits.varieties]]\nname = \"granny\"\n");
    CHECK(*at(root, "top").as_integer() == 0);
    CHECK(*at(root, "table-1.key1").as_string() == "some string");
    CHECK(*at(root, "dog")
               .as_table()
               ->find("tater.man")
               ->as_table()
               ->find("type")
               ->as_table()
               ->find("name")
               ->as_string() == "pug");
    const toml::Array& products = *at(root, "products").as_array();
    REQUIRE(products.items.size() == 3);
    CHECK(*products.items[0].as_table()->find("name")->as_string() == "Hammer");
    CHECK(products.items[1].as_table()->members.empty());
    CHECK(*products.items[2].as_table()->find("name")->as_string() == "Nail");
    // Positions: a [[table]]'s is its header's '['.
    CHECK(products.items[0].position == toml::Position{6, 1});
    CHECK(products.items[2].position == toml::Position{9, 1});
    const toml::Table& fruit = *at(root, "fruits").as_array()->items[0].as_table();
    CHECK(*at(fruit, "physical.color").as_string() == "red");
    CHECK(at(fruit, "varieties").as_array()->items.size() == 2);
    CHECK(refusal("[]\n") == "1:2: expected a table name after '[', saw ']'");
    CHECK(refusal("[a\n") == "1:3: expected ']' after the table name, saw the end of the line");
    CHECK(refusal("[[a]\n") == "1:4: expected ']]' after the table name, saw ']'");
    CHECK(refusal("[[a] ]\n") == "1:4: expected ']]' after the table name, saw ']'");
    CHECK(refusal("[a] x = 1\n") ==
          "1:5: expected the end of the line after the table header, saw 'x'");
    CHECK(refusal("[#x]\n") == "1:2: expected a table name after '[', saw '#'");
    CHECK(refusal("[\n[[x]]\n") == "1:2: expected a table name after '[', saw the end of the line");
}

TEST_CASE("basic strings and every escape") {
    CHECK(string_at("x = \"I'm a string. \\\"You can quote me\\\". Name\\tJos\\u00E9\\nLocation"
                    "\\tSF.\"") == "I'm a string. \"You can quote me\". Name\tJos\xc3\xa9\nLocation"
                                   "\tSF.");
    CHECK(string_at("x = \"\\b\\t\\n\\f\\r\\\"\\\\\"") == "\b\t\n\f\r\"\\");
    CHECK(string_at("x = \"\\u0000\"") == std::string("\0", 1));
    CHECK(string_at("x = \"\\u007f\\u0080\\u07FF\\u0800\\uFFFF\"") ==
          "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf");
    CHECK(string_at("x = \"\\U0001F600\\U0010FFFF\\U00000041\"") ==
          "\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf"
          "A");
    CHECK(string_at("x = \"tab\there \xc3\xa9\"") == "tab\there \xc3\xa9");
    CHECK(string_at("x = \"\"") == "");
    CHECK(refusal("x = \"\\x41\"\n") ==
          "1:6: unknown escape '\\' then 'x': TOML has \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX "
          "\\UXXXXXXXX");
    CHECK_THAT(refusal("x = \"\\e\"\n"), Catch::StartsWith("1:6: unknown escape"));
    CHECK_THAT(refusal("x = \"\\ \"\n"), Catch::StartsWith("1:6: unknown escape"));
    CHECK(refusal("x = \"\\u12\"\n") == "1:6: \\u takes 4 hexadecimal digits");
    CHECK(refusal("x = \"\\U1234567\"\n") == "1:6: \\U takes 8 hexadecimal digits");
    CHECK(refusal("x = \"\\uD800\"\n") ==
          "1:6: \\uD800 is not a Unicode scalar value (no surrogates, nothing above 10FFFF)");
    CHECK_THAT(refusal("x = \"\\uDFFF\"\n"), Catch::StartsWith("1:6: \\uDFFF is not"));
    CHECK_THAT(refusal("x = \"\\U00110000\"\n"), Catch::StartsWith("1:6: \\U00110000 is not"));
    CHECK_THAT(refusal("x = \"abc"), Catch::StartsWith("1:9: a \"string\" ends on its line"));
}

TEST_CASE("multi-line basic strings") {
    // The newline right after the opening delimiter is trimmed.
    CHECK(string_at("x = \"\"\"\nRoses are red\nViolets are blue\"\"\"") ==
          "Roses are red\nViolets are blue");
    CHECK(string_at("x = \"\"\"\r\none\r\ntwo\"\"\"") == "one\ntwo");
    // A line-ending backslash trims the line break and the blanks after it.
    CHECK(string_at("x = \"\"\"\nThe quick brown \\\n\n\n  fox jumps over \\\n    the lazy dog."
                    "\"\"\"") == "The quick brown fox jumps over the lazy dog.");
    CHECK(string_at("x = \"\"\"\\\n       The quick brown \\\n       fox.\\\n       \"\"\"") ==
          "The quick brown fox.");
    CHECK(string_at("x = \"\"\"a \\  \t\n  b\"\"\"") == "a b");
    // Quotes inside, and up to two right before the closing three.
    CHECK(string_at("x = \"\"\"Here are two quotation marks: \"\". Simple enough.\"\"\"") ==
          "Here are two quotation marks: \"\". Simple enough.");
    CHECK(string_at("x = \"\"\"Here are three quotation marks: \"\"\\\".\"\"\"") ==
          "Here are three quotation marks: \"\"\".");
    CHECK(string_at("x = \"\"\"\"This,\" she said, \"is just a pointless statement.\"\"\"\"") ==
          "\"This,\" she said, \"is just a pointless statement.\"");
    CHECK(string_at("x = \"\"\"a\"\"\"\"\"") == "a\"\"");
    CHECK(string_at("x = \"\"\"\\u00e9\\t\"\"\"") == "\xc3\xa9\t");
    // Six quotes: the string takes five, the sixth is left over.
    CHECK(refusal("x = \"\"\"a\"\"\"\"\"\"\n") ==
          "1:14: expected the end of the line after the value, saw '\"'");
    CHECK(refusal("x = \"\"\"a \\ b\"\"\"\n") ==
          "1:10: a '\\' followed by blanks must end its line");
    CHECK(refusal("x = \"\"\"\nabc\n\n") == "1:5: this \"\"\" string is never closed");
    CHECK(refusal("x = \"\"\"abc\"\"") == "1:5: this \"\"\" string is never closed");
}

TEST_CASE("the issue's example: a line-ending backslash before a non-ASCII character") {
    // toml++ 3.3 reached __builtin_unreachable here (issue 19).
    CHECK(string_at("name = \"\"\"\\\n\xc2\xa7\"\"\"", "name") == "\xc2\xa7");
    CHECK(string_at("name = \"\"\"\\\n  \t\n\xc2\xa7 x\\\n \xe2\x82\xac\"\"\"\n", "name") ==
          "\xc2\xa7 x\xe2\x82\xac");
}

TEST_CASE("literal strings, one-line and multi-line") {
    CHECK(string_at("x = 'C:\\Users\\nodejs\\templates'") == "C:\\Users\\nodejs\\templates");
    CHECK(string_at("x = '<\\i\\c*\\s*>'") == "<\\i\\c*\\s*>");
    CHECK(string_at("x = 'Tom \"Dubs\" Preston-Werner'") == "Tom \"Dubs\" Preston-Werner");
    CHECK(string_at("x = ''") == "");
    CHECK(string_at("x = '''I [dw]on't need \\d{2} apples'''") == "I [dw]on't need \\d{2} apples");
    CHECK(string_at("x = '''\nThe first newline is\ntrimmed in raw strings.\n'''") ==
          "The first newline is\ntrimmed in raw strings.\n");
    CHECK(string_at("x = '''Here are fifteen quotation marks: \"\"\"\"\"\"\"\"\"\"\"\"\"\"\"'''") ==
          "Here are fifteen quotation marks: \"\"\"\"\"\"\"\"\"\"\"\"\"\"\"");
    CHECK(string_at("x = ''''That,' she said, 'is still pointless.''''") ==
          "'That,' she said, 'is still pointless.'");
    CHECK(string_at("x = '''a\\\n b'''") == "a\\\n b");
    CHECK(refusal("x = 'a\nb'\n") ==
          "1:7: a 'string' ends on its line (''' starts one of several lines)");
    CHECK(refusal("x = '''\nabc\n") == "1:5: this ''' string is never closed");
    CHECK(refusal("x = 'a''b'\n") == "1:8: expected the end of the line after the value, saw '''");
}

TEST_CASE("integers: decimal, hexadecimal, octal, binary, 64 bits") {
    CHECK(integer_of("+99") == 99);
    CHECK(integer_of("42") == 42);
    CHECK(integer_of("0") == 0);
    CHECK(integer_of("-17") == -17);
    CHECK(integer_of("+0") == 0);
    CHECK(integer_of("-0") == 0);
    CHECK(integer_of("1_000") == 1000);
    CHECK(integer_of("5_349_221") == 5349221);
    CHECK(integer_of("53_49_221") == 5349221);
    CHECK(integer_of("1_2_3_4_5") == 12345);
    CHECK(integer_of("0xDEADBEEF") == 0xDEADBEEF);
    CHECK(integer_of("0xdeadbeef") == 0xDEADBEEF);
    CHECK(integer_of("0xdead_beef") == 0xDEADBEEF);
    CHECK(integer_of("0x00ff") == 255);
    CHECK(integer_of("0o01234567") == 01234567);
    CHECK(integer_of("0o755") == 0755);
    CHECK(integer_of("0b11010110") == 0xd6);
    CHECK(integer_of("9223372036854775807") == std::numeric_limits<std::int64_t>::max());
    CHECK(integer_of("-9223372036854775808") == std::numeric_limits<std::int64_t>::min());
    CHECK(integer_of("0x7FFFFFFFFFFFFFFF") == std::numeric_limits<std::int64_t>::max());
    CHECK(integer_of("0o777777777777777777777") == std::numeric_limits<std::int64_t>::max());
}

TEST_CASE("integers that are refused: overflow, leading zeros, stray underscores") {
    CHECK(refusal("x = 9223372036854775808\n") ==
          "1:5: 9223372036854775808 does not fit in a 64-bit integer");
    CHECK(refusal("x = -9223372036854775809\n") ==
          "1:5: -9223372036854775809 does not fit in a 64-bit integer");
    CHECK(refusal("x = 99999999999999999999999999\n") ==
          "1:5: 99999999999999999999999999 does not fit in a 64-bit integer");
    CHECK(refusal("x = 0x8000000000000000\n") ==
          "1:5: 0x8000000000000000 does not fit in a 64-bit integer");
    // 2^64 - 1 in binary: 66 characters, quoted to 64.
    CHECK(refusal("x = 0b" + std::string(64, '1') + "\n") ==
          "1:5: 0b" + std::string(62, '1') + "... does not fit in a 64-bit integer");
    CHECK(refusal("x = 012\n") == "1:5: '012' is not a number: no leading zeros");
    CHECK(refusal("x = +012\n") == "1:5: '+012' is not a number: no leading zeros");
    for (const char* bad : {"1__000", "1_", "_1", "+_1", "0x", "0xG", "0x_1", "0b2", "0o8", "1a",
                            "--1", "+", "-", "1-2", "0X10", "0B1"}) {
        INFO(bad);
        CHECK(refusal(std::string("x = ") + bad + "\n") != "accepted");
    }
    CHECK(refusal("x = +0x10\n") == "1:5: '+0x10': a hexadecimal, octal or binary integer has no "
                                    "sign");
    CHECK(refusal("x = 1__000\n") == "1:5: '1__000' is not a number");
}

TEST_CASE("floats, with exponents, inf and nan") {
    CHECK(float_of("+1.0") == 1.0);
    CHECK(float_of("3.1415") == 3.1415);
    CHECK(float_of("-0.01") == -0.01);
    CHECK(float_of("5e+22") == 5e22);
    CHECK(float_of("1e06") == 1e6);
    CHECK(float_of("-2E-2") == -2e-2);
    CHECK(float_of("6.626e-34") == 6.626e-34);
    CHECK(float_of("224_617.445_991_228") == 224617.445991228);
    CHECK(float_of("0.0") == 0.0);
    CHECK(std::signbit(float_of("-0.0")));
    CHECK(float_of("1e6") == 1000000.0);
    CHECK(float_of("inf") == std::numeric_limits<double>::infinity());
    CHECK(float_of("+inf") == std::numeric_limits<double>::infinity());
    CHECK(float_of("-inf") == -std::numeric_limits<double>::infinity());
    CHECK(std::isnan(float_of("nan")));
    CHECK(std::isnan(float_of("+nan")));
    CHECK(std::isnan(float_of("-nan")));
    for (const char* bad : {".7", "7.", "3.e+20", "1e", "1e+", "1.5.5", "1e5.5", "01.5", "1._5",
                            "1_.5", "infinity", "+in", "Inf", "NaN", "1e_5"}) {
        INFO(bad);
        CHECK(refusal(std::string("x = ") + bad + "\n") != "accepted");
    }
    CHECK(refusal("x = 1e400\n") == "1:5: 1e400 is out of the range of a 64-bit float");
    CHECK(refusal("x = -1e400\n") == "1:5: -1e400 is out of the range of a 64-bit float");
    // The reader stops where a keyword stops matching.
    CHECK(refusal("x = na\n") == "1:7: expected 'nan', saw the end of the line");
    CHECK(refusal("x = ind\n") == "1:7: expected 'inf', saw 'd'");
}

TEST_CASE("booleans") {
    CHECK(*at(accept("x = true\n"), "x").as_boolean());
    CHECK_FALSE(*at(accept("x = false\n"), "x").as_boolean());
    CHECK(refusal("x = True\n") == "1:5: expected a value after '=', saw 'T'");
    CHECK(refusal("x = tru\n") == "1:8: expected 'true', saw the end of the line");
    CHECK(refusal("x = falsey\n") == "1:10: expected the end of the line after the value, saw 'y'");
}

TEST_CASE("dates and times are refused: no key takes one") {
    for (const char* date : {"1979-05-27T07:32:00Z", "1979-05-27T00:32:00-07:00",
                             "1979-05-27 07:32:00", "1979-05-27", "07:32:00", "00:32:00.999999"}) {
        INFO(date);
        CHECK(refusal(std::string("x = ") + date + "\n") ==
              "1:5: dates and times are not read: no key of this file takes one");
    }
}

TEST_CASE("arrays: nested, mixed, multi-line, trailing comma") {
    const auto root =
        accept("integers = [ 1, 2, 3 ]\ncolors = [ \"red\", 'yellow', \"green\" ]\n"
               "nested = [ [ 1, 2 ], [3, 4, 5] ]\nmixed = [ [ 1, 2 ], [\"a\", 'b'] ]\n"
               "numbers = [ 0.1, 0.2, 0.5, 1, 2, 5 ]\n"
               "contributors = [\n  \"Foo Bar\", # a comment\n\n"
               "  { name = \"Baz Qux\", url = \"https://example.com/bazqux\" },\n]\n"
               "empty = []\nempty2 = [ # nothing\n]\n");
    const auto& integers = at(root, "integers").as_array()->items;
    REQUIRE(integers.size() == 3);
    CHECK(*integers[2].as_integer() == 3);
    CHECK(integers[2].position == toml::Position{1, 20});
    CHECK(*at(root, "colors").as_array()->items[1].as_string() == "yellow");
    const auto& nested_items = at(root, "nested").as_array()->items;
    CHECK(*nested_items[1].as_array()->items[2].as_integer() == 5);
    CHECK(*at(root, "mixed").as_array()->items[1].as_array()->items[0].as_string() == "a");
    const auto& numbers = at(root, "numbers").as_array()->items;
    CHECK(*numbers[0].as_float() == 0.1);
    CHECK(*numbers[3].as_integer() == 1);
    const auto& contributors = at(root, "contributors").as_array()->items;
    REQUIRE(contributors.size() == 2);
    CHECK(*contributors[1].as_table()->find("name")->as_string() == "Baz Qux");
    CHECK(contributors[1].position == toml::Position{9, 3});
    CHECK(at(root, "empty").as_array()->items.empty());
    CHECK(at(root, "empty2").as_array()->items.empty());
    CHECK(refusal("x = [1 2]\n") == "1:8: expected ',' or ']' after an array element, saw '2'");
    CHECK(refusal("x = [,]\n") == "1:6: expected a value after '[', saw ','");
    CHECK(refusal("x = [1,,2]\n") == "1:8: expected a value after ',', saw ','");
    CHECK(refusal("x = [}\n") == "1:6: expected a value after '[', saw '}'");
    CHECK(refusal("x = [1,}\n") == "1:8: expected a value after ',', saw '}'");
    CHECK(refusal("x = [ # c\n }\n") == "2:2: expected a value after '[', saw '}'");
    CHECK(refusal("x = [1,\n") == "2:1: expected a value after ',', saw the end of the file");
}

TEST_CASE("inline tables") {
    const auto root = accept("name = { first = \"Tom\", last = \"Preston-Werner\" }\n"
                             "point = { x = 1, y = 2 }\nanimal = { type.name = \"pug\" }\n"
                             "empty = {}\nspaced = {\t}\nnest = { a = { b = [ { c = 1 } ] } }\n");
    CHECK(*at(root, "name.last").as_string() == "Preston-Werner");
    CHECK(*at(root, "point.y").as_integer() == 2);
    CHECK(*at(root, "animal.type.name").as_string() == "pug");
    CHECK(at(root, "empty").as_table()->members.empty());
    CHECK(at(root, "spaced").as_table()->members.empty());
    CHECK(*at(root, "nest.a")
               .as_table()
               ->find("b")
               ->as_array()
               ->items[0]
               .as_table()
               ->find("c")
               ->as_integer() == 1);
    CHECK(at(root, "point").position == toml::Position{2, 9});
    CHECK(refusal("x = { a = 1, }\n") == "1:14: an inline table has no comma after its last value");
    CHECK(refusal("x = { a = 1\n}\n") ==
          "1:12: an inline table ends on the line where it starts (TOML 1.0)");
    CHECK(refusal("x = {\na = 1 }\n") ==
          "1:6: an inline table ends on the line where it starts (TOML 1.0)");
    CHECK(refusal("x = { a = 1 b = 2 }\n") ==
          "1:13: expected ',' or '}' in the inline table, saw 'b'");
    CHECK(refusal("x = { , }\n") == "1:7: expected a key in the inline table, saw ','");
    CHECK(refusal("x = { a.b = 1, a = 2 }\n") == "1:16: duplicate key 'a' (first set at line 1)");
}

TEST_CASE("nesting: 32 levels are read, 33 refused, 10,000 without exhausting the stack") {
    using toml::max_depth;
    const std::string too_deep = "nested deeper than 32 tables and arrays";
    CHECK(refusal(nested("[", "", "]", max_depth)) == "accepted");
    CHECK(refusal(nested("[", "", "]", max_depth + 1)) == "1:37: " + too_deep);
    CHECK(refusal(nested("{a=", "1", "}", max_depth)) == "accepted");
    CHECK(refusal(nested("{a=", "1", "}", max_depth + 1)) == "1:101: " + too_deep);
    CHECK(refusal(nested("[{a=", "1", "}]", max_depth / 2)) == "accepted");
    CHECK_THAT(refusal(nested("[{a=", "1", "}]", max_depth / 2 + 1)), Catch::EndsWith(too_deep));
    for (const auto& [open, close] :
         {std::pair{"[", "]"}, std::pair{"{a=", "}"}, std::pair{"[{a=", "}]"}}) {
        INFO(open);
        CHECK_THAT(refusal(nested(open, "1", close, 10'000)), Catch::EndsWith(too_deep));
        // Unclosed, too.
        CHECK_THAT(refusal(nested(open, "", "", 50'000)), Catch::EndsWith(too_deep));
    }
    // Tables count: dotted keys and headers make them too.
    std::string key31 = "a";
    for (int i = 1; i < 31; ++i) {
        key31 += ".a";
    }
    const std::string key32 = key31 + ".a";
    CHECK(refusal(key32 + " = 1\n") == "accepted");      // 31 tables, then the value
    CHECK(refusal(key32 + ".a = 1\n") == "accepted");    // 32 tables
    CHECK(refusal(key32 + ".a.a = 1\n") != "accepted");  // 33
    CHECK(refusal(key32 + " = [1]\n") == "accepted");    // the array at 32
    CHECK(refusal(key32 + " = [[1]]\n") != "accepted");  // at 33
    CHECK(refusal("[" + key32 + "]\n") == "accepted");   // 32 tables
    CHECK(refusal("[" + key32 + ".a]\n") != "accepted"); // 33
    CHECK(refusal("[[" + key31 + "]]\n") == "accepted"); // the array at 31, its table at 32
    CHECK(refusal("[[" + key32 + "]]\n") != "accepted");
    CHECK(refusal("[" + key32 + "]\nb = 1\n") == "accepted");
    CHECK(refusal("[" + key32 + "]\nb.c = 1\n") != "accepted");
    CHECK(refusal("[" + key32 + "]\nb = []\n") != "accepted");
    std::string long_key = "a";
    for (int i = 0; i < 100'000; ++i) {
        long_key += ".a";
    }
    CHECK_THAT(refusal(long_key + " = 1\n"), Catch::EndsWith(too_deep));
    CHECK_THAT(refusal("[" + long_key + "]\n"), Catch::EndsWith(too_deep));
    CHECK_THAT(refusal("[[" + long_key + "]]\n"), Catch::EndsWith(too_deep));
}

TEST_CASE("the byte-order mark, NUL, control characters and line ends") {
    const auto root = accept("\xef\xbb\xbfx = 1\n");
    CHECK(*at(root, "x").as_integer() == 1);
    CHECK(root.members[0].key_position == toml::Position{1, 1});
    CHECK(refusal("\xef\xbb\xbf\xef\xbb\xbfx = 1\n") ==
          "1:1: a byte-order mark (U+FEFF) outside a string: one is allowed only at the start "
          "of the file");
    CHECK(refusal("x = 1\n\xef\xbb\xbfy = 2\n") ==
          "2:1: a byte-order mark (U+FEFF) outside a string: one is allowed only at the start "
          "of the file");
    CHECK(string_at("x = \"\xef\xbb\xbf\"") == "\xef\xbb\xbf"); // in a string it is a character
    CHECK(refusal(std::string("x = \"a\0b\"\n", 10)) ==
          "1:7: a NUL byte: TOML text holds no control characters but tab (a string may write "
          "one as \\u0000)");
    CHECK(refusal(std::string("# \0\n", 4)) != "accepted");
    CHECK(refusal("x = 1\n\x01") == "2:1: control character U+0001: TOML text holds none but tab "
                                    "(a string may write one as \\u0001)");
    CHECK(refusal("# \x1b[31m\n") != "accepted");
    CHECK(refusal("x = \"\x7f\"\n") ==
          "1:6: control character U+007F: TOML text holds none but tab (a string may write one "
          "as \\u007F)");
    CHECK(refusal("x = 1\ry = 2\n") ==
          "1:6: a carriage return not followed by a line feed: lines end with LF or CR LF");
    CHECK(refusal("x = 1\r") != "accepted");
    CHECK(refusal("x = \"\"\"a\rb\"\"\"\n") != "accepted");
    CHECK(refusal("x = 1\r\ny = 2\r\n") == "accepted");
}

TEST_CASE("malformed UTF-8 is refused before anything is read") {
    CHECK(refusal("x = \"\xff\"\n") ==
          "1:6: invalid UTF-8: byte 0xff never occurs (it would start a code point above "
          "U+10FFFF)");
    CHECK_THAT(refusal("# caf\xc3\n"), Catch::StartsWith("1:6: invalid UTF-8:"));
    CHECK_THAT(refusal("x = '\xed\xa0\x80'\n"),
               Catch::StartsWith("1:6: invalid UTF-8:") && Catch::Contains("surrogate"));
    CHECK_THAT(refusal("x = 1\n\xc0\xaf = 2"), Catch::StartsWith("2:1: invalid UTF-8:"));
    // After a byte-order mark, columns count from the first character.
    CHECK_THAT(refusal("\xef\xbb\xbf\x80"), Catch::StartsWith("1:1: invalid UTF-8:"));
}

TEST_CASE("non-ASCII outside strings and comments is named") {
    CHECK(refusal("nam\xc3\xa9 = 1\n") ==
          "1:4: '\xc3\xa9' outside a string or comment: TOML keys and values other than "
          "strings are ASCII (put it in quotes)");
    CHECK(refusal("\xc3\xa9 = 1\n") ==
          "1:1: '\xc3\xa9' outside a string or comment: TOML keys and values other than "
          "strings are ASCII (put it in quotes)");
    CHECK_THAT(refusal("x = \xe2\x82\xac\n"), Catch::StartsWith("1:5: '\xe2\x82\xac' outside"));
    CHECK_THAT(refusal("x = 1 \xe3\x80\x81\n"), Catch::StartsWith("1:7: '\xe3\x80\x81' outside"));
    CHECK_THAT(refusal("[\xc3\xa9]\n"), Catch::StartsWith("1:2: '\xc3\xa9' outside"));
}

TEST_CASE("positions count characters: a key's and a value's") {
    const auto root = accept("\"\xc3\xa9\xe2\x82\xac\" =\t\"v\"\n  [t]\n\tk = 0x1\n");
    REQUIRE(root.members.size() == 2);
    CHECK(root.members[0].key_position == toml::Position{1, 1});
    CHECK(root.members[0].value.position == toml::Position{1, 8});
    CHECK(root.members[1].key_position == toml::Position{2, 4});
    CHECK(root.members[1].value.position == toml::Position{2, 3});
    const auto& k = root.members[1].value.as_table()->members[0];
    CHECK(k.key_position == toml::Position{3, 2});
    CHECK(k.value.position == toml::Position{3, 6});
    // A multi-line string moves the lines on.
    const auto after = accept("a = \"\"\"\n\n\"\"\"\nb = '''x\ny''' \nc = 1");
    CHECK(after.find("c")->position == toml::Position{6, 5});
}

TEST_CASE("the size limit: 256 KiB is read, one byte more is not") {
    std::string text = "x = 1\n#";
    text.resize(toml::max_file_size, 'c');
    CHECK(refusal(text) == "accepted");
    text += 'c';
    const auto result = toml::read(text);
    const auto* error = std::get_if<toml::Error>(&result);
    REQUIRE(error != nullptr);
    CHECK(error->where.line == 0);
    CHECK(error->message ==
          "the file is larger than 262144 bytes (256 KiB); a configuration is a few hundred bytes");
}

TEST_CASE("messages quote at most 64 characters") {
    CHECK(toml::excerpt("short") == "short");
    CHECK(toml::excerpt(std::string(64, 'a')) == std::string(64, 'a'));
    CHECK(toml::excerpt(std::string(65, 'a')) == std::string(64, 'a') + "...");
    // Characters, not bytes; control characters escaped.
    std::string accents;
    for (int i = 0; i < 70; ++i) {
        accents += "\xc3\xa9";
    }
    CHECK(toml::excerpt(accents) == accents.substr(0, 128) + "...");
    CHECK(toml::excerpt("a\nb\x01") == "a\\nb\\x01");
    const std::string huge = "x = 1" + std::string(100'000, '1') + "a\n";
    const std::string message = refusal(huge);
    CHECK(message.size() < 120);
    CHECK_THAT(message, Catch::StartsWith("1:5: '1111") && Catch::Contains("...' is not a number"));
}

TEST_CASE("many keys and tables are looked up without quadratic cost") {
    std::string keys;
    std::string tables;
    // 15,000 of each fit in max_file_size.
    for (int i = 0; i < 15'000; ++i) {
        keys += "k" + std::to_string(i) + " = " + std::to_string(i) + "\n";
        tables += "[t" + std::to_string(i) + "]\n[[a]]\n";
    }
    const auto start = std::chrono::steady_clock::now();
    const auto root = accept(keys);
    CHECK(root.members.size() == 15'000);
    CHECK(*root.find("k14999")->as_integer() == 14'999);
    CHECK(*root.find("k7")->as_integer() == 7);
    CHECK(root.find("k15000") == nullptr);
    CHECK(root.members[12'345].key == "k12345");
    const auto with_tables = accept(tables);
    CHECK(with_tables.members.size() == 15'001);
    CHECK(with_tables.find("a")->as_array()->items.size() == 15'000);
    CHECK_THAT(refusal(keys + "k12345 = 1\n"),
               Catch::Equals("15001:1: duplicate key 'k12345' (first set at line 12346)"));
    // A generous bound: a quadratic reader takes minutes here.
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
}
