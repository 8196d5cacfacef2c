// Command line (CLI11) -> config -> daemon or a subcommand. The only place
// that maps failures to exit codes (docs/design.md, "Configuration and command line"):
// 0 ok, 1 configuration error, 2 usage error, 3 runtime failure.
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <system_error>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "config/config.hpp"
#include "config_h.hpp"
#include "core/release_date.hpp"
#include "daemon/daemon.hpp"
#include "io/log.hpp"
#include "shmrefclock/shm.hpp"
#include "tools/check_config.hpp"
#include "tools/decode.hpp"
#include "tools/monitor.hpp"
#include "tools/ntp_config.hpp"
#include "tools/status.hpp"

namespace {

constexpr int exit_ok = 0;
constexpr int exit_config = 1;
constexpr int exit_usage = 2;
constexpr int exit_runtime = 3;

std::string format_date(std::chrono::year_month_day date) {
    return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(date.year()),
                       static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()));
}

struct Arguments {
    std::string config_path{shmrefclock::default_config_path};
    std::string log_level;
    bool check_config = false;
    std::string units = "0-3";
    std::uint64_t count = 0;
    bool json = false;
    std::string capture;
    std::string not_before = format_date(shmrefclock::release_date());
    std::string now; // decode --now: empty for the system clock
    int baud = 9600;
    int min_fixes = 3;
};

// YYYY-MM-DD -> a valid date.
std::optional<std::chrono::year_month_day> parse_date(const std::string& text) {
    int y = 0;
    unsigned m = 0, d = 0;
    char extra = 0;
    if (text.size() != 10 || std::sscanf(text.c_str(), "%4d-%2u-%2u%c", &y, &m, &d, &extra) != 3) {
        return std::nullopt;
    }
    const std::chrono::year_month_day date{std::chrono::year{y}, std::chrono::month{m},
                                           std::chrono::day{d}};
    if (!date.ok()) {
        return std::nullopt;
    }
    return date;
}

int run_decode(const Arguments& args) {
    shmrefclock::DecodeOptions options;
    options.json = args.json;
    options.summary = &std::cerr;
    auto floor = parse_date(args.not_before);
    if (!floor) {
        std::cerr << "--not-before: \"" << args.not_before << "\" is not a date YYYY-MM-DD\n";
        return exit_usage;
    }
    options.not_before = *floor;
    // The date rules' evidence: the system clock, as the daemon's, unless
    // --now names another day (a capture's own) or "none".
    if (args.now.empty()) {
        options.system_clock = std::time(nullptr);
    } else if (args.now != "none") {
        const auto now = parse_date(args.now);
        if (!now) {
            std::cerr << "--now: \"" << args.now << "\" is not a date YYYY-MM-DD or none\n";
            return exit_usage;
        }
        options.system_clock =
            static_cast<time_t>(std::chrono::sys_days{*now}.time_since_epoch().count() * 86400);
    }
    options.baud = args.baud;
    options.min_fixes = args.min_fixes;
    if (args.capture == "-") {
        return shmrefclock::decode_capture(std::cin, std::cout, options);
    }
    std::ifstream in(args.capture, std::ios::binary);
    if (!in) {
        std::cerr << args.capture << ": cannot read: " << std::strerror(errno) << '\n';
        return exit_runtime;
    }
    return shmrefclock::decode_capture(in, std::cout, options);
}

std::optional<shmrefclock::Config> load(const std::string& path) {
    try {
        return shmrefclock::load_config(path);
    } catch (const shmrefclock::ConfigError& e) {
        std::cerr << e.what() << '\n';
        return std::nullopt;
    }
}

int run_daemon(const Arguments& args) {
    auto config = load(args.config_path);
    if (!config) {
        return exit_config;
    }
    std::optional<std::string> level_override;
    if (!args.log_level.empty()) {
        level_override = args.log_level;
    }
    shmrefclock::setup_logging(level_override.value_or(config->daemon.log_level));
    try {
        shmrefclock::Daemon daemon(std::move(*config), level_override);
        return daemon.run();
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        return exit_runtime;
    }
}

int run_monitor(const Arguments& args, bool config_given) {
    shmrefclock::setup_logging(args.log_level.empty() ? "info" : args.log_level);
    shmrefclock::MonitorOptions options;
    options.json = args.json;
    if (args.count > 0) {
        options.count = args.count;
    }
    if (config_given) {
        auto config = load(args.config_path);
        if (!config) {
            return exit_config;
        }
        for (const auto& rc : config->refclocks) {
            if (rc.unit) {
                options.units.push_back(*rc.unit);
            }
        }
        if (options.units.empty()) {
            std::cerr << args.config_path << ": configures no SHM unit to watch\n";
            return exit_config;
        }
    } else {
        std::string error;
        auto units = shmrefclock::parse_unit_list(args.units, error);
        if (!units) {
            std::cerr << "--units: " << error << '\n';
            return exit_usage;
        }
        options.units = *units;
    }
    return shmrefclock::run_monitor(options, std::cout);
}

// Without -c, a missing default config is not an error: show the kernel part
// (say so on stderr, so that --json stays one document on stdout). Any other
// config problem is, as everywhere: exit 1, nothing on stdout.
int run_status(const Arguments& args, bool config_given) {
    shmrefclock::setup_logging(args.log_level.empty() ? "warn" : args.log_level);
    std::optional<shmrefclock::Config> config;
    if (config_given || ::access(args.config_path.c_str(), F_OK) == 0 || errno != ENOENT) {
        config = load(args.config_path);
        if (!config) {
            return exit_config;
        }
    } else {
        std::cerr << args.config_path
                  << " does not exist: showing the kernel clock only (-c FILE for refclocks)\n";
    }
    try {
        const auto report = shmrefclock::collect_status(config ? &*config : nullptr);
        std::cout << (args.json ? shmrefclock::format_status_json(report)
                                : shmrefclock::format_status(report));
    } catch (const std::system_error& e) {
        std::cerr << "status: " << e.what() << '\n';
        return exit_runtime;
    }
    return exit_ok;
}

// The reader's lines for the configured refclocks, with the offsets the
// running daemon measured. A daemon that does not answer is no error: the
// lines then say so and carry no measured offset.
int run_ntp_config(const Arguments& args, shmrefclock::NtpReader reader) {
    auto config = load(args.config_path);
    if (!config) {
        return exit_config;
    }
    const auto daemon = shmrefclock::ask_daemon(config->daemon.control, {});
    std::cout << shmrefclock::render_ntp_config(reader, *config, daemon);
    return exit_ok;
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"shmrefclock: a reference-clock daemon for the NTP shared-memory segments read "
                 "by ntpd, NTPsec and chrony"};
    app.set_version_flag("--version", std::string("shmrefclock ") + SHMREFCLOCK_VERSION);
    Arguments args;
    std::vector<std::string> levels(std::begin(shmrefclock::log_level_names),
                                    std::end(shmrefclock::log_level_names));

    app.add_option("-c,--config", args.config_path, "configuration file")->capture_default_str();
    app.add_option("--log-level", args.log_level, "log level, overriding [daemon] log-level")
        ->check(CLI::IsMember(levels));
    app.add_flag("--check-config", args.check_config,
                 "validate the configuration, print what would run, and exit");

    auto* monitor = app.add_subcommand(
        "monitor", "watch SHM units written by anyone (read-only; never clears valid)");
    auto* monitor_config = monitor->add_option("-c,--config", args.config_path,
                                               "watch the units this file configures");
    auto* monitor_units =
        monitor->add_option("--units", args.units, "units to watch, e.g. 0-3 or 0,2,5-7")
            ->capture_default_str();
    monitor_config->excludes(monitor_units);
    monitor->add_option("--count", args.count, "exit after this many samples")
        ->check(CLI::PositiveNumber);
    monitor->add_flag("--json", args.json, "one JSON object per line");

    auto* decode = app.add_subcommand(
        "decode", "replay an NMEA or u-blox (UBX, or UBX and NMEA) capture through the nmea "
                  "source and print, cycle by cycle, "
                  "what the daemon would publish or why not");
    decode->add_flag("--json", args.json, "one JSON object per cycle");
    decode
        ->add_option("--not-before", args.not_before,
                     "earliest plausible date (YYYY-MM-DD), for two-digit years and GPS "
                     "week-rollover repair; the daemon's is its release date")
        ->capture_default_str();
    decode->add_option("--now", args.now,
                       "the system clock's date (YYYY-MM-DD) the date rules take as evidence, as "
                       "the daemon takes its clock: a date before --not-before is repaired by "
                       "1024-week steps only to within a year of it; \"none\": no repair; "
                       "default: the system clock");
    decode->add_option("--baud", args.baud, "the line rate the capture is replayed at")
        ->capture_default_str()
        ->check(CLI::IsMember(
            std::vector<int>(shmrefclock::valid_bauds.begin(), shmrefclock::valid_bauds.end())));
    decode->add_option("--min-fixes", args.min_fixes, "the refclock's min-fixes")
        ->capture_default_str()
        ->check(CLI::Range(1, shmrefclock::max_min_fixes));
    decode->add_option("capture", args.capture, "capture file, or - for standard input")
        ->required();

    auto* status = app.add_subcommand(
        "status", "the kernel clock discipline state (ntp_adjtime, read-only) and each configured "
                  "refclock's segment and sample");
    auto* status_config = status->add_option("-c,--config", args.config_path,
                                             "show the refclocks this file configures");
    status_config->capture_default_str();
    status->add_flag("--json", args.json, "one JSON document");

    auto* ntp_config = app.add_subcommand(
        "ntp-config", "print the lines chronyd, NTPsec or ntpd needs to read the configured "
                      "refclocks, with the offsets the running daemon measured");
    ntp_config->add_option("-c,--config", args.config_path, "the refclocks of this file")
        ->capture_default_str();
    auto* readers = ntp_config->add_option_group("reader", "the NTP daemon to print lines for");
    bool chrony = false, ntpsec = false, ntpd = false;
    readers->add_flag("--chrony", chrony, "chrony.conf lines (refclock SHM / SOCK)");
    readers->add_flag("--ntpsec", ntpsec, "NTPsec ntp.conf lines (refclock shm)");
    readers->add_flag("--ntpd", ntpd, "NTP Classic ntp.conf lines (server 127.127.28.N, fudge)");
    readers->require_option(1);

    app.require_subcommand(0, 1);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e); // prints help/version or the error
        return code == 0 ? exit_ok : exit_usage;
    }

    if (decode->parsed()) {
        return run_decode(args);
    }
    if (monitor->parsed()) {
        return run_monitor(args, monitor_config->count() > 0);
    }
    if (ntp_config->parsed()) {
        return run_ntp_config(args, chrony   ? shmrefclock::NtpReader::chrony
                                    : ntpsec ? shmrefclock::NtpReader::ntpsec
                                             : shmrefclock::NtpReader::ntpd);
    }
    if (status->parsed()) {
        return run_status(args, status_config->count() > 0);
    }
    if (args.check_config) {
        auto config = load(args.config_path);
        if (!config) {
            return exit_config;
        }
        std::cout << args.config_path << ": OK\n" << shmrefclock::describe(*config);
        return exit_ok;
    }
    return run_daemon(args);
}
