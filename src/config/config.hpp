// The configuration file (docs/design.md, "Configuration and command line"), read with our TOML
// reader (toml_reader.hpp) and validated into plain structs. Every problem is reported as
// FILE:LINE:COLUMN: message, the way compilers do, so that editors jump to it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/control_protocol.hpp"
#include "core/pps_numbering.hpp"

namespace shmrefclock {

enum class SourceKind { nmea, pps, system };

// What an nmea refclock reads from its device (`protocol`): NMEA sentences,
// u-blox UBX frames, or whichever comes (core/nmea_core.hpp, read_ubx).
enum class ReceiverProtocol { automatic, nmea, ubx };

std::string_view to_string(SourceKind kind);

struct RefclockConfig {
    std::string name;
    SourceKind source = SourceKind::system;
    // SHM unit; absent when the refclock only feeds a chrony SOCK socket.
    std::optional<int> unit;
    // chrony SOCK refclock socket path (empty: none).
    std::string sock;
    double offset = 0.0;
    int precision = 0;
    unsigned perm = 0600;
    int line = 0; // of the [[refclock]] header, for messages

    // system
    double interval = 1.0;
    // nmea and pps
    std::string device;
    // nmea
    int baud = 9600;
    int min_fixes = 3;
    // step-probation: seconds a new timeline must hold before it is
    // believed without the kernel witness (core/timeline.hpp).
    double step_probation = 600.0;
    ReceiverProtocol protocol = ReceiverProtocol::automatic;
    // ubx-configure: enable the u-blox timing messages on each open
    // (core/ubx_configure.hpp), in RAM only.
    bool ubx_configure = false;
    // pps = "dcd": attach the PPS line discipline to the serial port.
    bool pps_dcd = false;
    // The kernel witness (docs/design.md, "Evidence for a receiver's time"):
    // false believes the receiver (nmea) or the lock (pps) whatever the
    // synchronized kernel says.
    bool witness = true;
    // pps
    std::string lock;
    PpsEdge edge = PpsEdge::assert_edge;
};

inline constexpr std::string_view default_leap_seconds_path =
    "/usr/share/zoneinfo/leap-seconds.list";

// Where the HTTP listener (/metrics and the status page) listens: an IPv4
// address or a bracketed IPv6 address and a port, as written in the file.
struct ListenAddress {
    std::string host; // without brackets
    bool ipv6 = false;
    std::uint16_t port = 0;
    // HOST:PORT or [HOST]:PORT, for messages.
    std::string text;
    bool operator==(const ListenAddress&) const = default;
};

// Parses "127.0.0.1:9463" or "[::1]:9463"; the error says what is wrong.
// Only numeric addresses: the daemon never resolves a name it listens on.
std::variant<ListenAddress, std::string> parse_listen_address(std::string_view text);

struct DaemonConfig {
    std::string log_level = "info";
    // [daemon] metrics: the HTTP listener; none by default.
    std::optional<ListenAddress> metrics;
    // The IERS/NIST leap-second list (core/leap_seconds.hpp); empty: none,
    // and no leap second is ever announced.
    std::string leap_seconds = std::string(default_leap_seconds_path);
    // The control socket `shmrefclock status` asks (daemon/control_socket);
    // empty: none.
    std::string control = std::string(default_control_path);
    // SCHED_FIFO priority of the event loop (1..99), 0 for the normal
    // policy; and whether the daemon's memory is locked (daemon/realtime).
    int sched_priority = 0;
    bool lock_memory = false;
};

struct Config {
    std::string path;
    DaemonConfig daemon;
    std::vector<RefclockConfig> refclocks;
};

// All problems found in a file, one "FILE:LINE:COLUMN: message" per line.
struct ConfigError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The default precision (log2 s) per source, also documented in
// shmrefclock.conf(5): NMEA sentences arrive with ~0.5 s of uncertainty, a
// kernel PPS edge and the system clock read are microsecond-class.
int default_precision(SourceKind kind);

// The line rates a serial port may be set to (termios B* constants), and
// the largest min-fixes.
inline constexpr std::array<int, 9> valid_bauds = {4800,   9600,   19200,  38400, 57600,
                                                   115200, 230400, 460800, 921600};
inline constexpr int max_min_fixes = 60;

inline constexpr std::string_view default_config_path = "/etc/shmrefclock.conf";
inline constexpr std::string_view log_level_names[] = {"trace", "debug",    "info", "warn",
                                                       "error", "critical", "off"};
bool is_log_level(std::string_view name);

Config parse_config(std::string_view text, const std::string& path);
Config load_config(const std::string& path);

} // namespace shmrefclock
