#include "tools/ntp_config.hpp"

#include <cctype>
#include <cmath>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "core/printable.hpp"

namespace shmrefclock {

namespace {

// One refclock as every reader sees it.
struct ReaderRefclock {
    const RefclockConfig* config = nullptr;
    std::string refid;
    bool noselect = false;
    bool prefer = false;
    std::optional<ReaderOffset> offset; // nmea only
};

// NTP refids are at most 4 characters: the name's letters and digits in
// upper case ("gps" -> GPS), made unique with digits if two names agree.
std::string make_refid(const RefclockConfig& refclock, std::size_t index,
                       const std::set<std::string>& taken) {
    std::string refid;
    for (const char c : refclock.name) {
        if (std::isalnum(static_cast<unsigned char>(c)) && refid.size() < 4) {
            refid += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        }
    }
    if (refid.empty()) {
        refid = "SHM";
    }
    // A number in place of the last characters: each number gives another
    // refid, so this ends within as many tries as there are refclocks.
    const std::string name_part = refid;
    for (std::size_t n = index; taken.count(refid) > 0 && n < 10000; ++n) {
        const std::string number = std::to_string(n);
        refid = name_part.substr(0, 4 - number.size()) + number;
    }
    return refid;
}

const RefclockState* live_refclock(const DaemonReply& daemon, const std::string& name) {
    if (!daemon.state) {
        return nullptr;
    }
    for (const RefclockState& rc : daemon.state->refclocks) {
        if (rc.name == name) {
            return &rc;
        }
    }
    return nullptr;
}

std::vector<ReaderRefclock> reader_refclocks(const Config& config, const DaemonReply& daemon) {
    std::vector<ReaderRefclock> out;
    std::set<std::string> refids;
    for (std::size_t i = 0; i < config.refclocks.size(); ++i) {
        const RefclockConfig& rc = config.refclocks[i];
        ReaderRefclock reader;
        reader.config = &rc;
        reader.refid = make_refid(rc, i, refids);
        refids.insert(reader.refid);
        switch (rc.source) {
        case SourceKind::nmea:
            // Locked to by a pps refclock: the NMEA time (good to
            // milliseconds) only numbers the pulses, which the daemon does.
            for (const RefclockConfig& other : config.refclocks) {
                reader.noselect =
                    reader.noselect || (other.source == SourceKind::pps && other.lock == rc.name);
            }
            reader.offset = reader_offset(rc, daemon);
            break;
        case SourceKind::pps:
            reader.prefer = true;
            break;
        case SourceKind::system:
            // The system clock fed back to the NTP daemon that steers it.
            reader.noselect = true;
            break;
        }
        out.push_back(std::move(reader));
    }
    return out;
}

std::string seconds(double value) {
    return fmt::format("{:.4f}", value);
}

// A comment line; the text cannot end it early (core/printable.hpp).
void comment(std::string& out, std::string_view text) {
    out += "# " + printable(text) + '\n';
}

// Each reader's option, name and configuration file, in NtpReader's order.
struct ReaderText {
    std::string_view flag;
    std::string_view name;
    std::string_view file;
};

const ReaderText& text_of(NtpReader reader) {
    static constexpr ReaderText texts[] = {
        {"--chrony", "chronyd", "/etc/chrony/chrony.conf"},
        {"--ntpsec", "NTPsec's ntpd", "/etc/ntpsec/ntp.conf"},
        {"--ntpd", "ntpd (NTP Classic)", "/etc/ntp.conf"},
    };
    return texts[static_cast<std::size_t>(reader)];
}

void header(std::string& out, NtpReader reader, const Config& config, const DaemonReply& daemon) {
    comment(out, fmt::format("shmrefclock ntp-config {}: the refclocks of {} for {}.",
                             text_of(reader).flag, config.path, text_of(reader).name));
    if (reader == NtpReader::chrony) {
        comment(out, "Add these lines to /etc/chrony/chrony.conf, or save them as "
                     "/etc/chrony/conf.d/shmrefclock.conf; then restart chronyd.");
    } else {
        comment(out, fmt::format("Add these lines to {}; then restart ntpd.",
                                 reader_config_file(reader)));
    }
    if (daemon.state) {
        comment(out, fmt::format("Offsets: measured by the running daemon (pid {}, control "
                                 "socket {}) where it has measured them.",
                                 daemon.state->pid, daemon.path));
        if (!daemon.state->config.empty() && daemon.state->config != config.path) {
            comment(out, fmt::format("The running daemon reads {}, not {}: its measurements "
                                     "are used for the refclocks of the same name.",
                                     daemon.state->config, config.path));
        }
    } else {
        comment(out,
                fmt::format("Offsets: the configured ones, not measured: {}.",
                            daemon.problem.empty() ? "the daemon did not answer" : daemon.problem));
    }
    comment(out, "shmrefclock adds each refclock's configured offset itself; the reader adds "
                 "only the rest (shmrefclock.conf(5), CALIBRATION).");
}

// Why the lines of a refclock are what they are, before them.
void notes(std::string& out, const ReaderRefclock& reader, NtpReader ntp) {
    const RefclockConfig& rc = *reader.config;
    if (reader.offset) {
        comment(out, fmt::format("\"{}\": {}", rc.name, reader.offset->why));
    }
    if (rc.source == SourceKind::pps && !rc.lock.empty()) {
        comment(out, rc.lock == "system"
                         ? fmt::format("\"{}\": pulses numbered by the system clock", rc.name)
                         : fmt::format("\"{}\": pulses numbered by \"{}\" in shmrefclock, which "
                                       "writes whole timestamps{}",
                                       rc.name, rc.lock,
                                       ntp == NtpReader::chrony
                                           ? ": chrony's lock option (for pulse-only "
                                             "refclocks) is not needed"
                                           : ""));
    }
    if (rc.source == SourceKind::system) {
        comment(out, fmt::format("\"{}\": the system clock itself (a demonstration): noselect",
                                 rc.name));
    }
}

void chrony_lines(std::string& out, const ReaderRefclock& reader) {
    const RefclockConfig& rc = *reader.config;
    std::string line;
    if (!rc.sock.empty()) {
        line = fmt::format("refclock SOCK {} refid {}", rc.sock, reader.refid);
        if (rc.unit) {
            comment(out, fmt::format("\"{}\": also written to SHM unit {} (for shmrefclock "
                                     "monitor); chronyd reads the SOCK, sample by sample",
                                     rc.name, *rc.unit));
        }
    } else if (rc.unit) {
        line = fmt::format("refclock SHM {} refid {}", *rc.unit, reader.refid);
    } else {
        return; // the configuration requires a unit or a sock
    }
    switch (rc.source) {
    case SourceKind::nmea:
        line += fmt::format(" precision 1e-1 offset {} delay 0.2", seconds(reader.offset->seconds));
        break;
    case SourceKind::pps:
        line += " precision 1e-7";
        break;
    case SourceKind::system:
        break;
    }
    line += reader.noselect ? " noselect" : reader.prefer ? " prefer" : "";
    out += line + '\n';
}

// NTPsec and ntpd: SHM only. Units 0 and 1 are created 0600 by whoever comes
// first; ntpd and NTPsec create 2 and up 0666 unless told `mode 1`.
void ntpd_lines(std::string& out, const ReaderRefclock& reader, NtpReader ntp) {
    const RefclockConfig& rc = *reader.config;
    if (!rc.unit) {
        comment(out, fmt::format("\"{}\" has no SHM unit (only chrony's SOCK {}): {} cannot "
                                 "read it",
                                 rc.name, rc.sock, text_of(ntp).name));
        return;
    }
    const int unit = *rc.unit;
    const std::string mode = unit >= 2 ? " mode 1" : "";
    if (unit >= 2) {
        comment(out, fmt::format("unit {}: ntpd creates units 2 and up world-writable (0666) "
                                 "if it starts first, and shmrefclock refuses them; mode 1 "
                                 "makes it 0600 (units 0 and 1 are always 0600)",
                                 unit));
    }
    const std::string time1 =
        reader.offset ? fmt::format(" time1 {}", seconds(reader.offset->seconds)) : "";
    const std::string_view flag = reader.noselect ? " noselect" : reader.prefer ? " prefer" : "";
    if (ntp == NtpReader::ntpsec) {
        out += fmt::format("refclock shm unit {} refid {}{} minpoll 4 maxpoll 4{}{}\n", unit,
                           reader.refid, time1, mode, flag);
        return;
    }
    out += fmt::format("server 127.127.28.{} minpoll 4 maxpoll 4{}{}\n", unit, mode, flag);
    out += fmt::format("fudge 127.127.28.{}{} refid {}\n", unit, time1, reader.refid);
}

} // namespace

std::string_view reader_config_file(NtpReader reader) {
    return text_of(reader).file;
}

ReaderOffset reader_offset(const RefclockConfig& refclock, const DaemonReply& daemon) {
    ReaderOffset result;
    const double configured = refclock.offset;
    const RefclockState* live = live_refclock(daemon, refclock.name);
    const NmeaState* nmea = live && live->nmea ? &*live->nmea : nullptr;
    std::string how;
    if (nmea && nmea->pps_latency && nmea->pps_latency->settled &&
        std::isfinite(nmea->pps_latency->suggested_offset_s)) {
        const PpsLatency& latency = *nmea->pps_latency;
        result.measured = latency.suggested_offset_s;
        how = fmt::format("with the pulses of \"{}\" ({} pulses)", latency.pps_refclock,
                          latency.pulses);
    } else if (nmea && nmea->arrival && nmea->arrival->cycles >= min_arrival_cycles &&
               std::isfinite(nmea->arrival->median_s)) {
        result.measured = nmea->arrival->median_s;
        how = fmt::format("by the system clock ({} cycles; only as good as the system clock)",
                          nmea->arrival->cycles);
    }
    if (!result.measured) {
        std::string why_not = !daemon.state ? "the daemon did not answer"
                              : !live       ? "the running daemon has no refclock of this name"
                              : !nmea
                                  ? "the running daemon's refclock is no nmea one"
                                  : fmt::format("the running daemon has published fewer than {} "
                                                "cycles",
                                                min_arrival_cycles);
        result.why = fmt::format("offset 0: the configured offset = {} is added by shmrefclock; "
                                 "NMEA latency not measured: {}",
                                 seconds(configured), why_not);
        return result;
    }
    result.seconds = *result.measured - configured;
    result.why = fmt::format("offset {} = the NMEA latency {} s measured {} minus the configured "
                             "offset = {} that shmrefclock adds (or write offset = {} in its "
                             "[[refclock]] and 0 here)",
                             seconds(result.seconds), seconds(*result.measured), how,
                             seconds(configured), fmt::format("{:.3f}", *result.measured));
    if (std::isfinite(live->offset_s) && std::abs(live->offset_s - configured) > 1e-9) {
        result.why += fmt::format("; the running daemon still has offset = {}: reload it",
                                  seconds(live->offset_s));
    }
    return result;
}

std::string render_ntp_config(NtpReader reader, const Config& config, const DaemonReply& daemon) {
    std::string out;
    header(out, reader, config, daemon);
    for (const ReaderRefclock& rc : reader_refclocks(config, daemon)) {
        notes(out, rc, reader);
        if (reader == NtpReader::chrony) {
            chrony_lines(out, rc);
        } else {
            ntpd_lines(out, rc, reader);
        }
    }
    return out;
}

} // namespace shmrefclock
