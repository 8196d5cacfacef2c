#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <utility>

#include <unistd.h>

#include "config/config.hpp"
#include "config/keys.hpp"
#include "test_data_dir.hpp"
#include "tools/check_config.hpp"

using namespace shmrefclock;

namespace {
Config parse(const std::string& text) {
    return parse_config(text, "test.conf");
}
} // namespace

TEST_CASE("a minimal system refclock gets the documented defaults") {
    const Config c = parse("[[refclock]]\nname = \"s\"\nsource = \"system\"\nunit = 2\n");
    REQUIRE(c.refclocks.size() == 1);
    const RefclockConfig& rc = c.refclocks[0];
    CHECK(rc.name == "s");
    CHECK(rc.source == SourceKind::system);
    CHECK(rc.unit == std::optional<int>(2));
    CHECK(rc.offset == 0.0);
    CHECK(rc.precision == -20);
    CHECK(rc.perm == 0600);
    CHECK(rc.interval == 1.0);
    CHECK(c.daemon.log_level == "info");
    CHECK(c.daemon.leap_seconds == "/usr/share/zoneinfo/leap-seconds.list");
}

TEST_CASE("leap-seconds takes an absolute path, or \"\" for none") {
    const std::string refclock = "[[refclock]]\nname = \"s\"\nsource = \"system\"\nunit = 2\n";
    CHECK(parse("[daemon]\nleap-seconds = \"/etc/leap-seconds.list\"\n" + refclock)
              .daemon.leap_seconds == "/etc/leap-seconds.list");
    CHECK(parse("[daemon]\nleap-seconds = \"\"\n" + refclock).daemon.leap_seconds.empty());
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"\"leap-seconds.list\"", "test.conf:2:16: leap-seconds = \"leap-seconds.list\" must be"},
        {"\"/a\\nb\"", "test.conf:2:16: leap-seconds = \"/a\\nb\" must be"},
        {"\"/a\\u0000b\"", "test.conf:2:16: leap-seconds = \"/a\\x00b\" must be"},
        {"1", "test.conf:2:16: leap-seconds must be a string, not an integer"},
    };
    for (const auto& [value, message] : bad) {
        INFO(value);
        try {
            parse("[daemon]\nleap-seconds = " + value + "\n" + refclock);
            FAIL("no error");
        } catch (const ConfigError& e) {
            CHECK_THAT(e.what(), Catch::Contains(message));
        }
    }
}

TEST_CASE("the documented example parses with every key") {
    const Config c = parse(R"(
[daemon]
log-level = "debug"

[[refclock]]
name = "gps"
source = "nmea"
device = "/dev/ttyACM0"
baud = 115200
unit = 0
offset = 0.2
precision = -3
perm = "0640"
min-fixes = 5

[[refclock]]
name = "pps"
source = "pps"
device = "/dev/pps0"
unit = 1
lock = "gps"
edge = "clear"

[[refclock]]
name = "off-by-one"
source = "system"
unit = 2
offset = -1
interval = 0.5
)");
    REQUIRE(c.refclocks.size() == 3);
    CHECK(c.daemon.log_level == "debug");
    const auto& gps = c.refclocks[0];
    CHECK(gps.source == SourceKind::nmea);
    CHECK(gps.device == "/dev/ttyACM0");
    CHECK(gps.baud == 115200);
    CHECK(gps.offset == Approx(0.2));
    CHECK(gps.precision == -3);
    CHECK(gps.perm == 0640);
    CHECK(gps.min_fixes == 5);
    const auto& pps = c.refclocks[1];
    CHECK(pps.lock == "gps");
    CHECK(pps.edge == PpsEdge::clear_edge);
    CHECK(pps.precision == -20);
    const auto& system = c.refclocks[2];
    CHECK(system.offset == -1.0); // an integer is accepted for a float key
    CHECK(system.interval == 0.5);
    CHECK(gps.line == 5);
}

TEST_CASE("nmea and pps defaults") {
    const Config c = parse("[[refclock]]\nname = \"g\"\nsource = \"nmea\"\ndevice = "
                           "\"tcp://127.0.0.1:2947\"\nunit = 0\n"
                           "[[refclock]]\nname = \"p\"\nsource = \"pps\"\ndevice = "
                           "\"/dev/pps0\"\nunit = 1\nlock = \"system\"\n");
    CHECK(c.refclocks[0].baud == 9600);
    CHECK(c.refclocks[0].min_fixes == 3);
    CHECK(c.refclocks[0].precision == -1);
    CHECK(c.refclocks[1].edge == PpsEdge::assert_edge);
    CHECK(c.refclocks[1].lock == "system");
}

TEST_CASE("errors carry FILE:LINE:COLUMN and all of them are reported") {
    try {
        parse("[[refclock]]\nname = \"a\"\nsource = \"system\"\nunit = 300\nbogus = 1\n");
        FAIL("no error");
    } catch (const ConfigError& e) {
        const std::string what = e.what();
        CHECK_THAT(what, Catch::Contains("test.conf:4:8: unit = 300 is out of range (0..255)"));
        CHECK_THAT(what, Catch::Contains("test.conf:5:1: unknown key 'bogus'"));
    }
}

TEST_CASE("perm accepts 3 or 4 octal digits with owner rw") {
    auto perm_of = [](const std::string& perm) {
        return parse("[[refclock]]\nname = \"a\"\nsource = \"system\"\nunit = 1\nperm = \"" + perm +
                     "\"\n")
            .refclocks[0]
            .perm;
    };
    CHECK(perm_of("600") == 0600);
    CHECK(perm_of("0666") == 0666);
    CHECK_THROWS_AS(perm_of("0400"), ConfigError);
    CHECK_THROWS_AS(perm_of("0800"), ConfigError);
    CHECK_THROWS_AS(perm_of("1600"), ConfigError);
    CHECK_THROWS_AS(perm_of("06"), ConfigError);
}

TEST_CASE("describe names every refclock") {
    const Config c = parse("[[refclock]]\nname = \"off\"\nsource = \"system\"\nunit = 2\noffset "
                           "= -1.0\n");
    const std::string text = describe(c);
    CHECK_THAT(text, Catch::Contains("refclock \"off\": system -> SHM unit 2 (key 0x4e545032)"));
    CHECK_THAT(text, Catch::Contains("offset -1.000000000 s"));
}

TEST_CASE("a file that cannot be read is a config error naming it") {
    CHECK_THROWS_WITH(load_config("/nonexistent/shmrefclock.conf"),
                      Catch::Contains("/nonexistent/shmrefclock.conf: cannot read"));
}

TEST_CASE("a refclock may publish to a chrony socket only, or to both") {
    const Config c =
        parse("[[refclock]]\nname = \"a\"\nsource = \"system\"\nsock = "
              "\"/run/chrony.a.sock\"\n"
              "[[refclock]]\nname = \"g\"\nsource = \"nmea\"\ndevice = \"/dev/ttyS0\"\n"
              "unit = 0\nsock = \"/run/chrony.g.sock\"\npps = \"dcd\"\n");
    CHECK_FALSE(c.refclocks[0].unit.has_value());
    CHECK(c.refclocks[0].sock == "/run/chrony.a.sock");
    CHECK(c.refclocks[1].unit == std::optional<int>(0));
    CHECK(c.refclocks[1].pps_dcd);
    CHECK_THAT(describe(c), Catch::Contains("chrony SOCK /run/chrony.a.sock"));
}

TEST_CASE("a pps refclock locked to an nmea refclock with pps = dcd needs no device") {
    const Config c = parse("[[refclock]]\nname = \"gps\"\nsource = \"nmea\"\ndevice = "
                           "\"/dev/ttyUSB0\"\nunit = 0\npps = \"dcd\"\n"
                           "[[refclock]]\nname = \"pps\"\nsource = \"pps\"\nlock = \"gps\"\n"
                           "unit = 1\n");
    CHECK(c.refclocks[1].device.empty());
    CHECK_THAT(describe(c), Catch::Contains("device DCD of gps"));
}

TEST_CASE("protocol: auto by default, nmea or ubx, an nmea refclock's only") {
    const std::string nmea =
        "[[refclock]]\nname = \"g\"\nsource = \"nmea\"\ndevice = \"/dev/ttyS0\"\nunit = 0\n";
    CHECK(parse(nmea).refclocks[0].protocol == ReceiverProtocol::automatic);
    CHECK(parse(nmea + "protocol = \"auto\"\n").refclocks[0].protocol ==
          ReceiverProtocol::automatic);
    CHECK(parse(nmea + "protocol = \"nmea\"\n").refclocks[0].protocol == ReceiverProtocol::nmea);
    CHECK(parse(nmea + "protocol = \"ubx\"\n").refclocks[0].protocol == ReceiverProtocol::ubx);
    CHECK_THAT(describe(parse(nmea + "protocol = \"ubx\"\n")), Catch::Contains(", UBX only"));
    for (const std::string bad : {"protocol = \"UBX\"\n", "protocol = \"binary\"\n",
                                  "protocol = 1\n", "protocol = \"\"\n"}) {
        INFO(bad);
        try {
            parse(nmea + bad);
            FAIL("accepted " << bad);
        } catch (const ConfigError& e) {
            CHECK_THAT(e.what(), Catch::Contains("test.conf:6:12: protocol"));
        }
    }
    try {
        parse("[[refclock]]\nname = \"s\"\nsource = \"system\"\nunit = 2\nprotocol = \"ubx\"\n");
        FAIL("a system refclock took protocol");
    } catch (const ConfigError& e) {
        CHECK_THAT(e.what(), Catch::Contains("test.conf:5:1:"));
        CHECK_THAT(e.what(), Catch::Contains("protocol"));
    }
}

TEST_CASE("witness: an nmea refclock's boolean, true by default") {
    const std::string nmea =
        "[[refclock]]\nname = \"g\"\nsource = \"nmea\"\ndevice = \"/dev/ttyS0\"\nunit = 0\n";
    CHECK(parse(nmea).refclocks[0].witness);
    CHECK_FALSE(parse(nmea + "witness = false\n").refclocks[0].witness);
    CHECK(parse(nmea + "witness = true\n").refclocks[0].witness);
    for (const std::string bad : {"witness = \"no\"\n", "witness = 0\n", "witness = [true]\n"}) {
        try {
            parse(nmea + bad);
            FAIL("accepted " << bad);
        } catch (const ConfigError& e) {
            CHECK_THAT(e.what(), Catch::Contains("test.conf:6:11: witness must be a boolean"));
        }
    }
    // Only the NMEA source has a receiver to witness.
    try {
        parse("[[refclock]]\nname = \"s\"\nsource = \"system\"\nunit = 2\nwitness = false\n");
        FAIL("accepted witness for a system refclock");
    } catch (const ConfigError& e) {
        CHECK_THAT(e.what(), Catch::Contains("test.conf:5:1:"));
        CHECK_THAT(e.what(), Catch::Contains("witness"));
    }
}

namespace {
// The report for one nmea refclock whose device is `device` (TOML text,
// escapes allowed), or "" if it parses.
std::string device_error(const std::string& device) {
    try {
        parse("[[refclock]]\nname = \"g\"\nsource = \"nmea\"\nunit = 0\ndevice = \"" + device +
              "\"\n");
        return "";
    } catch (const ConfigError& e) {
        return e.what();
    }
}
} // namespace

TEST_CASE("a device with a control character is refused at its position (issue 8, case 9)") {
    // A newline would forge log lines; a NUL would cut the path open() sees.
    for (const char* device : {"/dev/ttyS0\\nshmrefclock: forged", "/dev/ttyS0\\u0000.bak",
                               "/dev/tty\\tS0", "tcp://host\\r:2947", "/dev/x\\u007f"}) {
        INFO(device);
        const std::string what = device_error(device);
        CHECK_THAT(what, Catch::StartsWith("test.conf:5:10: device = \""));
        CHECK_THAT(what, Catch::Contains("must not contain control characters"));
        // The report quotes the device escaped: it stays one line.
        CHECK(what.find('\n') == std::string::npos);
        CHECK(what.find('\0') == std::string::npos);
    }
    CHECK_THAT(device_error("/dev/ttyS0\\nx"), Catch::Contains("/dev/ttyS0\\nx"));
    CHECK_THAT(device_error("/dev/ttyS0\\u0000x"), Catch::Contains("/dev/ttyS0\\x00x"));
    // UTF-8 is not a control character.
    CHECK(device_error("/dev/serial/by-id/usb-u\\u00e9-if00") == "");
}

TEST_CASE("a tcp:// port must be 1..65535 (issue 8, case 9)") {
    for (const char* device : {"tcp://127.0.0.1:0", "tcp://127.0.0.1:00", "tcp://h:65536",
                               "tcp://h:99999", "tcp://h:18446744073709551617", "tcp://[::1]:0"}) {
        INFO(device);
        CHECK_THAT(device_error(device), Catch::Contains("test.conf:5:10: device = ") &&
                                             Catch::Contains("the port must be 1..65535"));
    }
    for (const char* device : {"tcp://h:1", "tcp://h:65535", "tcp://[::1]:2947", "tcp://h:02947"}) {
        INFO(device);
        CHECK(device_error(device) == "");
    }
}

TEST_CASE("a sock path with a control character is refused") {
    try {
        parse("[[refclock]]\nname = \"a\"\nsource = \"system\"\nsock = \"/run/a\\nb.sock\"\n");
        FAIL("no error");
    } catch (const ConfigError& e) {
        CHECK_THAT(e.what(),
                   Catch::StartsWith("test.conf:4:8: sock = \"/run/a\\nb.sock\" must be"));
    }
}

TEST_CASE("non-ASCII outside strings and comments is refused at its position") {
    // toml++ 3.3 reached __builtin_unreachable on U+00E9 and most other
    // non-ASCII characters outside a string (docs/design.md, "Reading the
    // configuration"); the cases that found it stay.
    const std::string refclock = "[[refclock]]\nname = \"s\"\nsource = \"system\"\nunit = 2\n";
    const auto error = [](const std::string& text) -> std::string {
        try {
            parse_config(text, "test.conf");
        } catch (const ConfigError& e) {
            return e.what();
        }
        return "";
    };
    CHECK_THAT(error("nam\xc3\xa9 = 1\n"), Catch::StartsWith("test.conf:1:4: '\xc3\xa9' outside"));
    CHECK_THAT(error("x = 1 \xe3\x80\x81\n"), Catch::StartsWith("test.conf:1:7: "));
    CHECK_THAT(error("[[refclock]]\n\xef\xb9\xbf"), Catch::StartsWith("test.conf:2:1: "));
    // A column counts characters: the 'é' in the comment-free key before is one.
    CHECK_THAT(error("\"\xc3\xa9\" = 1 \xc3\xa9\n"), Catch::StartsWith("test.conf:1:9: "));
    // Inside every kind of string and in comments, any UTF-8 is TOML.
    for (const std::string inside :
         {"# caf\xc3\xa9\n", "x = \"caf\xc3\xa9 \\\" \xc3\xa9\"\n", "x = 'caf\xc3\xa9'\n",
          "x = \"\"\"\n\xc3\xa9 \"\" [#x]\n\"\"\"\n", "x = '''\n\xc3\xa9 [#x]\n'''\n",
          "x = \"\"\"a\"\"\"\"\" # \xc3\xa9\n"}) {
        INFO(inside);
        // It parses, and the key is then unknown.
        CHECK_THAT(error(refclock + "[daemon]\n" + inside),
                   Catch::Contains("unknown") || Catch::Contains("is not") || Catch::Equals(""));
        CHECK_THAT(error(refclock + "[daemon]\n" + inside), !Catch::Contains("outside a string"));
    }
    // An unterminated one-line string is refused where its line ends.
    CHECK_THAT(error("x = \"abc\n\xc3\xa9 = 1\n"),
               Catch::StartsWith("test.conf:1:9: a \"string\" ends on its line"));
    // A table header must start with a key character.
    CHECK_THAT(error("[#x]\n"), Catch::StartsWith("test.conf:1:2: expected a table name"));
    CHECK_THAT(error("  [[ !x]]\n"), Catch::StartsWith("test.conf:1:6: expected a table name"));
    // A quote where no string can start is refused where it is.
    CHECK_THAT(error("x =0\"sy\xcd\x98t\"\n"),
               Catch::StartsWith("test.conf:1:5: expected the end of the line after the value"));
    CHECK_THAT(error("x = 'a''\xc3\xa9'\n"), Catch::StartsWith("test.conf:1:8: "));
    // Where one can, it is a string, also in arrays and inline tables.
    CHECK_THAT(
        error(refclock + "[daemon]\nx = [\"\xc3\xa9\",\n  '\xc3\xa9']\ny = {a.\"\xc3\xa9\" = 1}\n"),
        !Catch::Contains("outside a string"));
    // toml++ 3.3 read on past the end of the line after '[' and asserted there.
    CHECK(error("[\n[[refclock]]\n") ==
          "test.conf:1:2: expected a table name after '[', saw the end of the line");
    // '}' where an array element is due: toml++ 3.3 asserted on it.
    CHECK(error("x = [}\n") == "test.conf:1:6: expected a value after '[', saw '}'");
    CHECK(error("x = [1,}\n") == "test.conf:1:8: expected a value after ',', saw '}'");
    CHECK(error("x = [ # c\n }\n") == "test.conf:2:2: expected a value after '[', saw '}'");
    CHECK_THAT(error(refclock + "[daemon]\nx = [\"}\", '}']\ny = {a = 1}\n"),
               !Catch::Contains("expected a value"));
    CHECK_THAT(error("[[ \t\nx]]\n"), Catch::StartsWith("test.conf:1:5: expected a table name"));
}

TEST_CASE("metrics takes IPV4:PORT or [IPV6]:PORT, and is off by default") {
    const std::string refclock = "[[refclock]]\nname = \"s\"\nsource = \"system\"\nunit = 2\n";
    CHECK_FALSE(parse(refclock).daemon.metrics.has_value());
    const auto v4 = parse("[daemon]\nmetrics = \"127.0.0.1:9463\"\n" + refclock).daemon.metrics;
    REQUIRE(v4);
    CHECK(v4->host == "127.0.0.1");
    CHECK_FALSE(v4->ipv6);
    CHECK(v4->port == 9463);
    CHECK(v4->text == "127.0.0.1:9463");
    const auto v6 = parse("[daemon]\nmetrics = \"[::1]:65535\"\n" + refclock).daemon.metrics;
    REQUIRE(v6);
    CHECK(v6->host == "::1");
    CHECK(v6->ipv6);
    CHECK(v6->port == 65535);
    CHECK(v6->text == "[::1]:65535");
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"\"localhost:9463\"",
         "test.conf:2:11: metrics = \"localhost:9463\": \"localhost\" is not an IPv4 address"},
        {"\"127.0.0.1\"",
         "test.conf:2:11: metrics = \"127.0.0.1\": expected IPV4:PORT or [IPV6]:PORT"},
        {"\"127.0.0.1:\"", "port \"\" must be a number from 1 to 65535"},
        {"\"127.0.0.1:0\"", "port \"0\" must be a number from 1 to 65535"},
        {"\"127.0.0.1:65536\"", "port \"65536\" must be a number from 1 to 65535"},
        {"\"127.0.0.1:+80\"", "port \"+80\" must be a number"},
        {"\"127.0.0.1:99999999999\"", "port \"99999999999\" must be a number"},
        {"\"127.1:80\"", "\"127.1\" is not an IPv4 address"},
        {"\"::1:9463\"", "an IPv6 address needs brackets: [::1]:9463"},
        {"\"[::1]9463\"", "expected IPV4:PORT or [IPV6]:PORT"},
        {"\"[::1\"", "expected IPV4:PORT or [IPV6]:PORT"},
        {"\"[nope]:1\"", "\"nope\" is not an IPv6 address"},
        {"\"\"", "expected IPV4:PORT or [IPV6]:PORT"},
        {"\"1.2.3.4:80\\n\"", "metrics = \"1.2.3.4:80\\n\": port \"80\\n\" must be"},
        {"9463", "test.conf:2:11: metrics must be a string, not an integer"},
    };
    for (const auto& [value, message] : bad) {
        INFO(value);
        try {
            parse("[daemon]\nmetrics = " + value + "\n" + refclock);
            FAIL("no error");
        } catch (const ConfigError& e) {
            CHECK_THAT(e.what(), Catch::Contains(message));
        }
    }
}

TEST_CASE("sched-priority is 0..99 and lock-memory a boolean, both off by default") {
    const std::string refclock = "[[refclock]]\nname = \"s\"\nsource = \"system\"\nunit = 2\n";
    const Config defaults = parse(refclock);
    CHECK(defaults.daemon.sched_priority == 0);
    CHECK_FALSE(defaults.daemon.lock_memory);
    const Config on = parse("[daemon]\nsched-priority = 99\nlock-memory = true\n" + refclock);
    CHECK(on.daemon.sched_priority == 99);
    CHECK(on.daemon.lock_memory);
    CHECK(parse("[daemon]\nsched-priority = 1\n" + refclock).daemon.sched_priority == 1);
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"sched-priority = 100", "test.conf:2:18: sched-priority = 100 is out of range (0..99)"},
        {"sched-priority = -1", "test.conf:2:18: sched-priority = -1 is out of range (0..99)"},
        {"sched-priority = 9223372036854775807", "out of range (0..99)"},
        {"sched-priority = \"high\"", "sched-priority must be an integer, not a string"},
        {"sched-priority = 10.5", "sched-priority must be an integer, not a float"},
        {"sched-priority = true", "sched-priority must be an integer, not a boolean"},
        {"lock-memory = \"yes\"",
         "test.conf:2:15: lock-memory must be a boolean (true or false), not a string"},
        {"lock-memory = 1", "lock-memory must be a boolean (true or false), not an integer"},
        {"lock-memory = [true]", "lock-memory must be a boolean (true or false), not an array"},
    };
    for (const auto& [line, message] : bad) {
        INFO(line);
        try {
            parse("[daemon]\n" + line + "\n" + refclock);
            FAIL("no error");
        } catch (const ConfigError& e) {
            CHECK_THAT(e.what(), Catch::Contains(message));
        }
    }
}

TEST_CASE("a refclock array of inline tables is read as [[refclock]] tables are") {
    const Config c = parse("refclock = [{name = \"a\", source = \"system\", unit = 1},\n"
                           "            {name = \"b\", source = \"system\", sock = \"/run/b\"}]\n");
    REQUIRE(c.refclocks.size() == 2);
    CHECK(c.refclocks[1].name == "b");
    CHECK(c.refclocks[1].sock == "/run/b");
    for (const char* bad : {"refclock = []\n", "refclock = [1]\n", "refclock = [{}, 2]\n"}) {
        INFO(bad);
        CHECK_THROWS_WITH(parse(bad), Catch::StartsWith("test.conf:1:12: refclock must be an "
                                                        "array of tables"));
    }
}

TEST_CASE("at most 20 problems are listed, in the order of the file") {
    std::string text = "[[refclock]]\nname = \"a\"\nsource = \"system\"\nunit = 1\n";
    for (int i = 0; i < 25; ++i) {
        text += "bogus" + std::to_string(i) + " = 1\n";
    }
    try {
        parse(text);
        FAIL("no error");
    } catch (const ConfigError& e) {
        const std::string what = e.what();
        CHECK(std::count(what.begin(), what.end(), '\n') == 20);
        CHECK_THAT(what, Catch::StartsWith("test.conf:5:1: unknown key 'bogus0'"));
        CHECK_THAT(what, Catch::Contains("test.conf:24:1: unknown key 'bogus19'"));
        CHECK_THAT(what, !Catch::Contains("bogus20"));
        CHECK_THAT(what, Catch::EndsWith("test.conf: 5 more problems not shown"));
    }
}

TEST_CASE("a message quotes at most 64 characters of a key or a value") {
    const std::string refclock = "[[refclock]]\nname = \"s\"\nsource = \"system\"\nunit = 2\n";
    const std::string long_text(10'000, 'x');
    for (const std::string& line : {"[[refclock]]\nname = \"p\"\nsource = \"pps\"\ndevice = "
                                    "\"/dev/pps0\"\nunit = 3\nlock = \"" +
                                        long_text + "\"\n",
                                    long_text + " = 1\n", "perm = \"" + long_text + "\"\n",
                                    "sock = \"" + long_text + "\"\n"}) {
        try {
            parse(refclock + line);
            FAIL("no error");
        } catch (const ConfigError& e) {
            const std::string what = e.what();
            CHECK(what.size() < 300);
            CHECK_THAT(what, Catch::Contains(std::string(64, 'x') + "...") &&
                                 !Catch::Contains(std::string(65, 'x')));
        }
    }
    // A device is quoted whole by the messages about it at run time: one
    // longer than any path open() takes is refused here, quoted cut.
    CHECK_THROWS_WITH(parse("[[refclock]]\nname = \"g\"\nsource = \"nmea\"\nunit = 0\n"
                            "device = \"/dev/" +
                            long_text + "\"\n"),
                      Catch::Contains("is 10005 bytes: a device path is at most 4095") &&
                          Catch::Contains(std::string(59, 'x') + "...") &&
                          !Catch::Contains(std::string(65, 'x')));
    CHECK_NOTHROW(parse("[[refclock]]\nname = \"g\"\nsource = \"nmea\"\nunit = 0\n"
                        "device = \"/" +
                        std::string(4094, 'd') + "\"\n"));
    CHECK_THROWS_WITH(parse("[daemon]\nmetrics = \"" + long_text + ":1\"\n" + refclock),
                      Catch::Contains("is not an IPv4 address") &&
                          !Catch::Contains(std::string(65, 'x')));
}

TEST_CASE("load_config refuses a file over 256 KiB without reading it all") {
    char dir[] = "/tmp/test_config.XXXXXX";
    REQUIRE(mkdtemp(dir) != nullptr);
    const std::string path = std::string(dir) + "/big.conf";
    {
        std::ofstream out(path, std::ios::binary);
        out << "[[refclock]]\nname = \"s\"\nsource = \"system\"\nunit = 2\n# "
            << std::string(300 * 1024, 'c') << "\n";
    }
    CHECK_THROWS_WITH(load_config(path),
                      Catch::Equals(path + ": the file is larger than 262144 bytes (256 KiB); a "
                                           "configuration is a few hundred bytes"));
    std::remove(path.c_str());
    rmdir(dir);
}

TEST_CASE("config: step-probation, seconds a new timeline holds before it is believed") {
    const std::string head = "[[refclock]]\nname = \"gps\"\nsource = \"nmea\"\n"
                             "device = \"/dev/ttyACM0\"\nunit = 0\n";
    CHECK(parse(head).refclocks[0].step_probation == Approx(600.0));
    CHECK(parse(head + "step-probation = 5\n").refclocks[0].step_probation == Approx(5.0));
    CHECK(parse(head + "step-probation = 1800.5\n").refclocks[0].step_probation == Approx(1800.5));
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"0", "test.conf:6:18: step-probation"},
        {"86401", "test.conf:6:18: step-probation"},
        {"\"600\"", "test.conf:6:18: step-probation must be a number"},
    };
    for (const auto& [value, message] : bad) {
        INFO(value);
        try {
            parse(head + "step-probation = " + value + "\n");
            FAIL("no error");
        } catch (const ConfigError& e) {
            CHECK_THAT(e.what(), Catch::Contains(message));
        }
    }
    // nmea only; `witness` is for pps too (the witness judges pulses).
    const std::string pps = "[[refclock]]\nname = \"pps\"\nsource = \"pps\"\n"
                            "device = \"/dev/pps0\"\nunit = 1\nlock = \"system\"\n";
    CHECK_THROWS_AS(parse(pps + "step-probation = 5\n"), ConfigError);
    CHECK_FALSE(parse(pps + "witness = false\n").refclocks[0].witness);
}

// ---- the man page's keys against the key table ----

namespace {

// Where shmrefclock.conf(5) documents a key: its .TP paragraph's tag
// (".TP" then ".B key") under "THE [daemon] TABLE", under "THE [[refclock]]
// TABLES" before the first source (keys for every source), or under a
// 'source = "..."' subsection.
// none: elsewhere, where a .TP tag is no key.
enum class ManPlace { none, daemon, every_source, nmea, pps, system };

std::multimap<std::string, ManPlace> man_page_keys(const std::string& path) {
    std::ifstream in(path);
    REQUIRE(in.is_open());
    std::multimap<std::string, ManPlace> keys;
    ManPlace place = ManPlace::none;
    std::string line;
    bool after_tp = false;
    while (std::getline(in, line)) {
        if (line.rfind(".SH", 0) == 0) {
            place = ManPlace::none;
            if (line == R"(.SH "THE [daemon] TABLE")") {
                place = ManPlace::daemon;
            } else if (line == R"(.SH "THE [[refclock]] TABLES")") {
                place = ManPlace::every_source;
            }
        } else if (line.rfind(".SS", 0) == 0 && place != ManPlace::none &&
                   place != ManPlace::daemon) {
            if (line == R"(.SS "source = ""nmea""")") {
                place = ManPlace::nmea;
            } else if (line == R"(.SS "source = ""pps""")") {
                place = ManPlace::pps;
            } else if (line == R"(.SS "source = ""system""")") {
                place = ManPlace::system;
            } else {
                FAIL("a subsection of [[refclock]] that is no source: " << line);
            }
        } else if (after_tp && place != ManPlace::none && line.rfind(".B ", 0) == 0) {
            std::string key;
            for (std::size_t i = 3; i < line.size(); ++i) {
                if (line[i] != '\\') { // "\-" is a hyphen
                    key += line[i];
                }
            }
            keys.emplace(key, place);
        }
        after_tp = line == ".TP";
    }
    return keys;
}

} // namespace

TEST_CASE("config: shmrefclock.conf(5) documents every key of the key table, and no other") {
    const auto documented =
        man_page_keys(shmrefclock::test::test_data_dir() + "/../../man/shmrefclock.conf.5");
    REQUIRE(documented.size() >= 10);
    // Each key documented where the table allows it.
    for (const auto& [key, place] : documented) {
        INFO("the man page documents '" << key << "' at place " << static_cast<int>(place));
        const KeyRule* rule =
            find_key(place == ManPlace::daemon ? Section::daemon : Section::refclock, key);
        REQUIRE(rule != nullptr);
        switch (place) {
        case ManPlace::none:
        case ManPlace::daemon:
            break;
        case ManPlace::every_source:
            CHECK(rule->sources == every_source);
            break;
        case ManPlace::nmea:
            CHECK(applies(*rule, SourceKind::nmea));
            break;
        case ManPlace::pps:
            CHECK(applies(*rule, SourceKind::pps));
            break;
        case ManPlace::system:
            CHECK(applies(*rule, SourceKind::system));
            break;
        }
    }
    // Each key of the table documented in its table: [daemon] keys under
    // [daemon]; a key for every source before the sources, any other under
    // a source it applies to.
    for (const KeyRule& rule : key_rules()) {
        INFO("the key table has '" << rule.key << "'");
        const auto [first, last] = documented.equal_range(std::string(rule.key));
        std::set<ManPlace> places;
        for (auto it = first; it != last; ++it) {
            places.insert(it->second);
        }
        if (rule.section == Section::daemon) {
            CHECK(places.count(ManPlace::daemon) == 1);
        } else if (rule.sources == every_source) {
            CHECK(places.count(ManPlace::every_source) == 1);
        } else {
            CHECK((places.count(ManPlace::nmea) + places.count(ManPlace::pps) +
                   places.count(ManPlace::system)) >= 1);
        }
    }
}
