// `shmrefclock status`: the running daemon's live state, the kernel's clock
// discipline state and what each configured refclock publishes. Three
// steps: reading (status.cpp: the control socket, ntp_adjtime, IPC_STAT,
// the segments) fills a StatusReport; what it says is worked out once
// (status_report.hpp); two renderers, text and JSON, are pure functions of
// the report, so that every field and unit conversion is tested with
// hand-made values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

#include "config/config.hpp"
#include "core/leap_seconds.hpp"
#include "io/kernel_clock.hpp"
#include "shmrefclock/shm.hpp"
#include "tools/control_client.hpp"

namespace shmrefclock {

// One STA_ bit and its name, in bit order.
struct StatusBit {
    unsigned mask;
    std::string_view name;
};
extern const StatusBit status_bits[16];

// "TIME_OK" .. "TIME_ERROR", or "TIME_#N" for a value the kernel does not define.
std::string clock_state_name(int state);

// IPC_STAT of a segment (or /proc/sysvipc/shm when IPC_STAT is not allowed).
struct SegmentInfo {
    int shmid = -1;
    uid_t uid = 0;  // owner
    uid_t cuid = 0; // creator
    unsigned mode = 0;
    std::size_t size = 0;
    unsigned long nattch = 0; // attachments, not counting `status` itself
};

struct UnitStatus {
    int unit = 0;
    // std::nullopt: no segment with the unit's key.
    std::optional<SegmentInfo> segment;
    // The segment's current contents; std::nullopt when it could not be read
    // (`problem` says why), e.g. a 0600 segment of another user.
    std::optional<ShmSnapshot> snapshot;
    std::string problem;
};

struct RefclockStatus {
    std::string name;
    std::string source;
    std::optional<UnitStatus> unit;
    std::string sock;
    // Empty when `sock` is a socket; else what is wrong with the path.
    std::string sock_problem;
    // The refclock's `witness` key (false: believed whatever the kernel says).
    bool witness = true;
    // The daemon asks the witness about this source's cycles or pulses
    // (nmea and pps; a system source reads the system clock itself).
    bool witnessed = false;
};

// The leap-second list as the daemon would load it (the configuration's
// [daemon] leap-seconds, the default without one): `status` reads the file
// itself, as the daemon does, rather than asking the daemon.
struct LeapListStatus {
    std::string path; // empty: leap-seconds = ""
    LeapListLoad load;
};

struct StatusReport {
    KernelTimex kernel;
    LeapListStatus leap_seconds;
    timespec now{};          // CLOCK_REALTIME when the segments were read: ages
    std::string config_path; // empty: no configuration was read
    std::vector<RefclockStatus> refclocks;
    // The running daemon's live state from its control socket, or why not;
    // the witness's verdicts come from it when it answered.
    DaemonReply daemon;
};

// Pure: the report as text for people (status_text.cpp), or as one JSON
// document (status_json.cpp).
std::string format_status(const StatusReport& report);
std::string format_status_json(const StatusReport& report);

// Reading (read_kernel_timex, io/kernel_clock.hpp, for the kernel part).
UnitStatus read_unit_status(int unit);
// `config` may be null: the kernel part only, and the daemon asked at the
// default control socket.
StatusReport collect_status(const Config* config);

// /proc/sysvipc/shm's line for `key` (pure, for tests); std::nullopt when absent.
std::optional<SegmentInfo> parse_sysvipc_shm(std::string_view text, key_t key);

} // namespace shmrefclock
