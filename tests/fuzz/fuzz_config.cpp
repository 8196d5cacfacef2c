// libFuzzer target for the configuration parser: any bytes give either a
// Config whose values are inside the documented ranges, or a ConfigError
// whose every line starts with "FILE:" -- never another exception, a crash
// or a sanitizer report. tests/fuzz/run-fuzz-config.sh builds and runs it.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "fuzz_check.hpp"

namespace {

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

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        check_ranges(shmrefclock::parse_config(text, "fuzz.conf"));
    } catch (const shmrefclock::ConfigError& e) {
        std::istringstream lines(e.what());
        std::string line;
        int count = 0;
        while (std::getline(lines, line)) {
            FUZZ_CHECK(line.rfind("fuzz.conf:", 0) == 0);
            ++count;
        }
        FUZZ_CHECK(count > 0);
    }
    return 0;
}
