// `shmrefclock status`, the reading: the daemon through its control socket
// (tools/control_client), the kernel (io/kernel_clock), the leap-second list
// and the configured segments and sockets. What it all says is worked out
// in status_report.cpp and rendered by status_text.cpp and status_json.cpp.
#include "tools/status.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include <fmt/format.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "io/leap_seconds_file.hpp"
#include "io/unique_fd.hpp"

namespace shmrefclock {

std::optional<SegmentInfo> parse_sysvipc_shm(std::string_view text, key_t key) {
    // Columns by header name: the kernel has added columns over time (rss, swap).
    std::istringstream in{std::string(text)};
    std::string header;
    if (!std::getline(in, header)) {
        return std::nullopt;
    }
    std::vector<std::string> columns;
    {
        std::istringstream names(header);
        for (std::string name; names >> name;) {
            columns.push_back(name);
        }
    }
    auto index = [&columns](std::string_view name) -> std::optional<std::size_t> {
        for (std::size_t i = 0; i < columns.size(); ++i) {
            if (columns[i] == name) {
                return i;
            }
        }
        return std::nullopt;
    };
    const auto i_key = index("key"), i_id = index("shmid"), i_perms = index("perms"),
               i_size = index("size"), i_nattch = index("nattch"), i_uid = index("uid"),
               i_cuid = index("cuid");
    if (!i_key || !i_id || !i_perms || !i_size || !i_nattch || !i_uid || !i_cuid) {
        return std::nullopt;
    }
    for (std::string row; std::getline(in, row);) {
        std::istringstream fields(row);
        std::vector<std::string> values;
        for (std::string value; fields >> value;) {
            values.push_back(value);
        }
        if (values.size() < columns.size()) {
            continue;
        }
        try {
            // The kernel prints the key as a signed decimal int and perms in octal.
            if (std::stol(values[*i_key]) != static_cast<long>(key)) {
                continue;
            }
            SegmentInfo info;
            info.shmid = std::stoi(values[*i_id]);
            info.mode = static_cast<unsigned>(std::stoul(values[*i_perms], nullptr, 8)) & 0777;
            info.size = std::stoull(values[*i_size]);
            info.nattch = std::stoul(values[*i_nattch]);
            info.uid = static_cast<uid_t>(std::stoul(values[*i_uid]));
            info.cuid = static_cast<uid_t>(std::stoul(values[*i_cuid]));
            return info;
        } catch (const std::exception&) {
            continue; // a malformed line is not our segment
        }
    }
    return std::nullopt;
}

UnitStatus read_unit_status(int unit) {
    UnitStatus u;
    u.unit = unit;
    // Look up only (no IPC_CREAT): status never creates a segment, which
    // would take the unit from the daemon that should own it.
    const int id = shmget(shm_key(unit), 0, 0);
    if (id < 0) {
        if (errno != ENOENT) {
            u.segment = SegmentInfo{};
            u.problem = fmt::format("cannot look up the segment: {}", std::strerror(errno));
        }
        return u;
    }
    // IPC_STAT before attaching, so that nattch does not count us.
    shmid_ds ds{};
    if (shmctl(id, IPC_STAT, &ds) == 0) {
        SegmentInfo info;
        info.shmid = id;
        info.uid = ds.shm_perm.uid;
        info.cuid = ds.shm_perm.cuid;
        info.mode = ds.shm_perm.mode & 0777;
        info.size = ds.shm_segsz;
        info.nattch = ds.shm_nattch;
        u.segment = info;
    } else {
        // IPC_STAT needs read permission; /proc/sysvipc/shm shows the same
        // to everyone (in our IPC namespace), so a non-root user still sees
        // who owns a 0600 segment.
        std::ifstream proc("/proc/sysvipc/shm");
        std::ostringstream text;
        text << proc.rdbuf();
        u.segment = parse_sysvipc_shm(text.str(), shm_key(unit));
        if (!u.segment) {
            u.segment = SegmentInfo{};
            u.segment->shmid = id;
        }
    }
    try {
        auto reader = ShmReader::open(unit);
        if (!reader) {
            u.segment.reset(); // removed between the two looks
            return u;
        }
        u.snapshot = reader->read();
        if (!u.snapshot) {
            u.problem = "being written: count kept changing while reading";
        }
    } catch (const ShmError& e) {
        u.problem = e.what();
    }
    return u;
}

namespace {

// Empty when a datagram could be sent to `path` now; else why not.
// connect() on a datagram socket sends nothing: chronyd does not notice.
std::string check_sock(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return fmt::format("{}: chronyd is not running with this SOCK refclock",
                           std::strerror(errno));
    }
    if (!S_ISSOCK(st.st_mode)) {
        return "not a socket";
    }
    sockaddr_un address{};
    if (path.size() >= sizeof(address.sun_path)) {
        return "path too long for a Unix socket";
    }
    UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) {
        return fmt::format("socket: {}", std::strerror(errno));
    }
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.data(), path.size());
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
        if (errno == ECONNREFUSED) {
            return "nobody is bound to it: left behind by a chronyd that stopped";
        }
        return fmt::format("cannot connect: {}", std::strerror(errno));
    }
    return {};
}

} // namespace

StatusReport collect_status(const Config* config) {
    StatusReport report;
    // The daemon first: its live state, then the kernel and the segments
    // as they are a moment later.
    report.daemon =
        ask_daemon(config != nullptr ? config->daemon.control : std::string(default_control_path),
                   ControlRequest{});
    report.kernel = read_kernel_timex();
    report.leap_seconds.path =
        config != nullptr ? config->daemon.leap_seconds : std::string(default_leap_seconds_path);
    report.leap_seconds.load = load_leap_seconds_file(report.leap_seconds.path);
    if (config != nullptr) {
        report.config_path = config->path;
        for (const auto& rc : config->refclocks) {
            RefclockStatus status;
            status.name = rc.name;
            status.source = std::string(to_string(rc.source));
            if (rc.unit) {
                status.unit = read_unit_status(*rc.unit);
            }
            status.sock = rc.sock;
            status.witness = rc.witness;
            status.witnessed = rc.source == SourceKind::nmea || rc.source == SourceKind::pps;
            if (!rc.sock.empty()) {
                status.sock_problem = check_sock(rc.sock);
            }
            report.refclocks.push_back(std::move(status));
        }
    }
    // After the segments were read, so that the age of a sample read is never negative.
    clock_gettime(CLOCK_REALTIME, &report.now);
    return report;
}

} // namespace shmrefclock
