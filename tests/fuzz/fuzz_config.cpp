// libFuzzer target for the configuration reader (src/config/utf8,
// toml_reader) and its validation (config.cpp): any bytes give either a
// Config whose values are inside the documented ranges, or a ConfigError
// whose every line starts with "FILE:" and stays short (a message quotes at
// most toml::max_excerpt characters of the file) -- never another
// exception, a crash, a hang or a sanitizer report. The reader's tree is
// checked too: within max_depth, every position inside the file.
// tests/fuzz/run-fuzz-config.sh builds and runs it.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/toml_reader.hpp"
#include "fuzz_check.hpp"

namespace {

namespace toml = shmrefclock::toml;

void check_ranges(const shmrefclock::Config& config) {
    FUZZ_CHECK(!config.refclocks.empty());
    FUZZ_CHECK(shmrefclock::is_log_level(config.daemon.log_level));
    std::set<std::string> names;
    std::set<int> units;
    for (const auto& rc : config.refclocks) {
        FUZZ_CHECK(names.insert(rc.name).second);
        FUZZ_CHECK(rc.unit || !rc.sock.empty());
        if (rc.unit) {
            FUZZ_CHECK(*rc.unit >= 0 && *rc.unit <= 255);
            FUZZ_CHECK(units.insert(*rc.unit).second);
        }
        FUZZ_CHECK(rc.offset >= -86400.0 && rc.offset <= 86400.0);
        FUZZ_CHECK(rc.precision >= -30 && rc.precision <= 0);
        FUZZ_CHECK((rc.perm & 0600) == 0600 && rc.perm <= 0777);
        FUZZ_CHECK(rc.interval >= 0.1 && rc.interval <= 3600.0);
        FUZZ_CHECK(rc.min_fixes >= 1 && rc.min_fixes <= 60);
        if (rc.source == shmrefclock::SourceKind::nmea) {
            FUZZ_CHECK(!rc.device.empty());
        }
    }
    // A pps refclock without a device takes it from its lock's DCD line.
    for (const auto& rc : config.refclocks) {
        if (rc.source == shmrefclock::SourceKind::pps && rc.device.empty()) {
            bool dcd_lock = false;
            for (const auto& lock : config.refclocks) {
                dcd_lock = dcd_lock || (lock.name == rc.lock && lock.pps_dcd);
            }
            FUZZ_CHECK(dcd_lock);
        }
    }
}

// A position inside a text of `lines` lines (a problem may be reported at
// the end of the file, one past its last character).
void check_position(toml::Position where, std::uint32_t lines) {
    FUZZ_CHECK(where.line >= 1 && where.line <= lines);
    FUZZ_CHECK(where.column >= 1);
}

// Depth-first without recursion, so that the check cannot overflow the
// stack itself: a tree deeper than max_depth is the finding.
void check_tree(const toml::Table& root, std::uint32_t lines) {
    struct Pending {
        const toml::Value* value;
        int depth;
    };
    std::vector<Pending> pending;
    const auto push_table = [&](const toml::Table& table, int depth) {
        for (const auto& member : table.members) {
            check_position(member.key_position, lines);
            FUZZ_CHECK(table.find(member.key) == &member.value);
            pending.push_back({&member.value, depth});
        }
    };
    push_table(root, 1);
    while (!pending.empty()) {
        const Pending next = pending.back();
        pending.pop_back();
        check_position(next.value->position, lines);
        if (const auto* table = next.value->as_table()) {
            FUZZ_CHECK(next.depth <= toml::max_depth);
            push_table(*table, next.depth + 1);
        } else if (const auto* array = next.value->as_array()) {
            FUZZ_CHECK(next.depth <= toml::max_depth);
            for (const auto& item : array->items) {
                pending.push_back({&item, next.depth + 1});
            }
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto lines = static_cast<std::uint32_t>(std::count(text.begin(), text.end(), '\n') + 1);
    const auto tree = toml::read(text);
    if (const auto* root = std::get_if<toml::Table>(&tree)) {
        check_tree(*root, lines);
    } else {
        const auto& error = std::get<toml::Error>(tree);
        FUZZ_CHECK(!error.message.empty());
        if (size <= toml::max_file_size) {
            check_position(error.where, lines);
        }
    }
    try {
        check_ranges(shmrefclock::parse_config(text, "fuzz.conf"));
    } catch (const shmrefclock::ConfigError& e) {
        std::istringstream report(e.what());
        std::string line;
        int count = 0;
        while (std::getline(report, line)) {
            FUZZ_CHECK(line.rfind("fuzz.conf:", 0) == 0);
            // The longest fixed text is under 200 characters, a quoted excerpt at
            // most 64 characters of up to 4 bytes, each escaped to at most 4.
            FUZZ_CHECK(line.size() <= 1024);
            ++count;
        }
        FUZZ_CHECK(count > 0 && count <= 21);
    }
    return 0;
}
