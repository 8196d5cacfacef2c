// `shmrefclock ntp-config`'s renderer (tools/ntp_config): each reader's lines
// for configurations written here and live states made by hand. The
// expected lines are written out from chrony.conf(5), NTPsec's
// driver_shm.html and ntpd's refclock documentation, not from the renderer.
#include <catch2/catch.hpp>

#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "tools/ntp_config.hpp"

using namespace shmrefclock;

namespace {

const char* const gps_pps = R"(
[[refclock]]
name = "gps"
source = "nmea"
device = "/dev/ttyS0"
unit = 0
offset = 0.05

[[refclock]]
name = "pps"
source = "pps"
device = "/dev/pps0"
lock = "gps"
unit = 1
)";

// A [[refclock]] of source "system": any further key may follow it.
std::string system_refclock(const std::string& name, int unit) {
    return "[[refclock]]\nname = \"" + name +
           "\"\nsource = \"system\"\nunit = " + std::to_string(unit) + "\n";
}

Config parse(const std::string& text) {
    return parse_config(text, "/etc/test.conf");
}

DaemonReply no_daemon() {
    DaemonReply reply;
    reply.path = "/run/shmrefclock/control";
    reply.problem = "no daemon answers at /run/shmrefclock/control (it does not exist)";
    return reply;
}

// A running daemon whose "gps" refclock has the given measurements.
DaemonReply daemon_with(std::optional<PpsLatency> latency, std::optional<NmeaArrival> arrival,
                        double running_offset = 0.05) {
    DaemonReply reply;
    reply.path = "/run/shmrefclock/control";
    DaemonState& state = reply.state.emplace();
    state.pid = 4242;
    state.config = "/etc/test.conf";
    RefclockState gps;
    gps.name = "gps";
    gps.source = "nmea";
    gps.offset_s = running_offset;
    NmeaState& nmea = gps.nmea.emplace();
    nmea.pps_latency = latency;
    nmea.arrival = arrival;
    state.refclocks.push_back(gps);
    RefclockState pps;
    pps.name = "pps";
    pps.source = "pps";
    pps.pps.emplace();
    state.refclocks.push_back(pps);
    return reply;
}

PpsLatency settled_latency(double median) {
    PpsLatency latency;
    latency.pps_refclock = "pps";
    latency.pulses = 120;
    latency.median_s = median;
    latency.suggested_offset_s = median;
    latency.settled = true;
    return latency;
}

NmeaArrival arrival_over(std::uint64_t cycles, double median) {
    NmeaArrival arrival;
    arrival.cycles = cycles;
    arrival.median_s = median;
    return arrival;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
    }
    return lines;
}

// The lines that are not comments: what the reader acts on.
std::vector<std::string> directives(const std::string& text) {
    std::vector<std::string> out;
    for (const std::string& line : lines_of(text)) {
        if (!line.empty() && line[0] != '#') {
            out.push_back(line);
        }
    }
    return out;
}

bool has_comment(const std::string& text, const std::string& part) {
    for (const std::string& line : lines_of(text)) {
        if (line.rfind("# ", 0) == 0 && line.find(part) != std::string::npos) {
            return true;
        }
    }
    return false;
}

} // namespace

TEST_CASE("chrony: GPS + PPS without a running daemon: no offset, the NMEA one noselect") {
    const std::string text = render_ntp_config(NtpReader::chrony, parse(gps_pps), no_daemon());
    // The configured 0.05 is added by shmrefclock: chrony must not add it
    // again. The pps refclock's samples are whole timestamps: no `lock`.
    CHECK(directives(text) ==
          std::vector<std::string>{
              "refclock SHM 0 refid GPS precision 1e-1 offset 0.0000 delay 0.2 noselect",
              "refclock SHM 1 refid PPS precision 1e-7 prefer",
          });
    CHECK(has_comment(text, "/etc/chrony/chrony.conf"));
    CHECK(has_comment(text, "/etc/chrony/conf.d/shmrefclock.conf"));
    CHECK(has_comment(text, "not measured: no daemon answers at /run/shmrefclock/control"));
    CHECK(has_comment(text, "configured offset = 0.0500 is added by shmrefclock"));
    CHECK(has_comment(text, "lock option (for pulse-only refclocks) is not needed"));
}

TEST_CASE("the PPS-measured latency minus the configured offset, in every reader") {
    // Measured 0.1302 s; shmrefclock already adds 0.05: the reader adds 0.0802.
    const DaemonReply daemon = daemon_with(settled_latency(0.1302), arrival_over(100, 0.3));
    const Config config = parse(gps_pps);
    const std::string chrony = render_ntp_config(NtpReader::chrony, config, daemon);
    CHECK(directives(chrony).at(0) ==
          "refclock SHM 0 refid GPS precision 1e-1 offset 0.0802 delay 0.2 noselect");
    CHECK(has_comment(chrony, "pid 4242"));
    CHECK(has_comment(chrony, "NMEA latency 0.1302 s measured with the pulses of \"pps\""));
    CHECK(has_comment(chrony, "write offset = 0.130 in its [[refclock]]"));

    CHECK(directives(render_ntp_config(NtpReader::ntpsec, config, daemon)) ==
          std::vector<std::string>{
              "refclock shm unit 0 refid GPS time1 0.0802 minpoll 4 maxpoll 4 noselect",
              "refclock shm unit 1 refid PPS minpoll 4 maxpoll 4 prefer",
          });
    CHECK(directives(render_ntp_config(NtpReader::ntpd, config, daemon)) ==
          std::vector<std::string>{
              "server 127.127.28.0 minpoll 4 maxpoll 4 noselect",
              "fudge 127.127.28.0 time1 0.0802 refid GPS",
              "server 127.127.28.1 minpoll 4 maxpoll 4 prefer",
              "fudge 127.127.28.1 refid PPS",
          });
}

TEST_CASE("the arrival by the system clock counts only over enough cycles, and after PPS") {
    const Config config = parse(gps_pps);
    const auto offset_of = [&config](const DaemonReply& daemon) {
        return reader_offset(config.refclocks.at(0), daemon);
    };
    // No PPS latency: the arrival median once it covers 30 cycles.
    const ReaderOffset few = offset_of(daemon_with(std::nullopt, arrival_over(29, 0.2)));
    CHECK_FALSE(few.measured);
    CHECK(few.seconds == 0.0);
    CHECK(few.why.find("not measured: the running daemon has published fewer than 30 cycles") !=
          std::string::npos);
    const ReaderOffset enough = offset_of(daemon_with(std::nullopt, arrival_over(30, 0.2)));
    REQUIRE(enough.measured);
    CHECK(*enough.measured == Approx(0.2));
    CHECK(enough.seconds == Approx(0.15));
    CHECK(enough.why.find("by the system clock (30 cycles") != std::string::npos);
    // A PPS latency not settled yet is passed over for the arrival.
    PpsLatency unsettled = settled_latency(0.1302);
    unsettled.settled = false;
    const ReaderOffset fallback = offset_of(daemon_with(unsettled, arrival_over(40, 0.14)));
    CHECK(fallback.seconds == Approx(0.09));
    // A latency that is not a number (a field the daemon did not send).
    const ReaderOffset nan =
        offset_of(daemon_with(settled_latency(unknown_number), arrival_over(40, unknown_number)));
    CHECK_FALSE(nan.measured);
    CHECK(nan.seconds == 0.0);
}

TEST_CASE("a daemon running another offset, or without the refclock") {
    const Config config = parse(gps_pps);
    const ReaderOffset stale =
        reader_offset(config.refclocks.at(0), daemon_with(settled_latency(0.13), {}, 0.0));
    CHECK(stale.seconds == Approx(0.08));
    CHECK(stale.why.find("the running daemon still has offset = 0.0000: reload it") !=
          std::string::npos);

    DaemonReply other = daemon_with(settled_latency(0.13), {});
    other.state->refclocks.at(0).name = "receiver";
    const ReaderOffset missing = reader_offset(config.refclocks.at(0), other);
    CHECK_FALSE(missing.measured);
    CHECK(missing.why.find("has no refclock of this name") != std::string::npos);
}

TEST_CASE("SOCK: chrony reads the socket, ntpd the unit; a SOCK-only refclock has no ntpd line") {
    // gps_pps, its pps refclock also sent to a SOCK, and one more pps
    // refclock with a SOCK and no unit.
    const Config config = parse(std::string(gps_pps) + R"(sock = "/run/chrony.pps.sock"

[[refclock]]
name = "pps2"
source = "pps"
device = "/dev/pps1"
lock = "system"
sock = "/run/chrony.pps2.sock"
)");
    const std::string chrony = render_ntp_config(NtpReader::chrony, config, no_daemon());
    CHECK(directives(chrony) ==
          std::vector<std::string>{
              "refclock SHM 0 refid GPS precision 1e-1 offset 0.0000 delay 0.2 noselect",
              "refclock SOCK /run/chrony.pps.sock refid PPS precision 1e-7 prefer",
              "refclock SOCK /run/chrony.pps2.sock refid PPS2 precision 1e-7 prefer",
          });
    CHECK(has_comment(chrony, "also written to SHM unit 1"));
    CHECK(has_comment(chrony, "\"pps2\": pulses numbered by the system clock"));
    const std::string ntpsec = render_ntp_config(NtpReader::ntpsec, config, no_daemon());
    CHECK(directives(ntpsec) ==
          std::vector<std::string>{
              "refclock shm unit 0 refid GPS time1 0.0000 minpoll 4 maxpoll 4 noselect",
              "refclock shm unit 1 refid PPS minpoll 4 maxpoll 4 prefer",
          });
    CHECK(has_comment(ntpsec, "\"pps2\" has no SHM unit (only chrony's SOCK "
                              "/run/chrony.pps2.sock): NTPsec's ntpd cannot read it"));
    CHECK(has_comment(ntpsec, "/etc/ntpsec/ntp.conf"));
    CHECK(has_comment(render_ntp_config(NtpReader::ntpd, config, no_daemon()), "/etc/ntp.conf"));
}

TEST_CASE("units 2 and up: mode 1 and why; a system source is noselect") {
    const Config config = parse(system_refclock("off-by-one", 2) + "offset = -1.0\n");
    const std::string chrony = render_ntp_config(NtpReader::chrony, config, no_daemon());
    // chronyd creates its SHM segments 0600 whatever the unit.
    CHECK(directives(chrony) == std::vector<std::string>{"refclock SHM 2 refid OFFB noselect"});
    const std::string ntpsec = render_ntp_config(NtpReader::ntpsec, config, no_daemon());
    CHECK(directives(ntpsec) ==
          std::vector<std::string>{"refclock shm unit 2 refid OFFB minpoll 4 maxpoll 4 mode 1 "
                                   "noselect"});
    CHECK(has_comment(ntpsec, "world-writable (0666)"));
    CHECK(directives(render_ntp_config(NtpReader::ntpd, config, no_daemon())) ==
          std::vector<std::string>{"server 127.127.28.2 minpoll 4 maxpoll 4 mode 1 noselect",
                                   "fudge 127.127.28.2 refid OFFB"});
}

TEST_CASE("refids are unique and at most 4 characters") {
    const Config config = parse(system_refclock("gpsxa", 3) + system_refclock("gpsxb", 4) +
                                system_refclock("gps-x-c", 5));
    std::set<std::string> refids;
    for (const std::string& line :
         directives(render_ntp_config(NtpReader::chrony, config, no_daemon()))) {
        const auto at = line.find(" refid ") + 7;
        const std::string refid = line.substr(at, line.find(' ', at) - at);
        CHECK(refid.size() <= 4);
        CHECK(refids.insert(refid).second);
    }
    CHECK(refids.size() == 3);

    // More refclocks of one name prefix than there are digits.
    std::string many;
    for (int unit = 10; unit < 40; ++unit) {
        many += system_refclock("gpsx" + std::to_string(unit), unit);
    }
    refids.clear();
    for (const std::string& line :
         directives(render_ntp_config(NtpReader::chrony, parse(many), no_daemon()))) {
        const auto at = line.find(" refid ") + 7;
        CHECK(refids.insert(line.substr(at, line.find(' ', at) - at)).second);
    }
    CHECK(refids.size() == 30);
}

TEST_CASE("a problem with a line break cannot start a line of its own") {
    DaemonReply daemon = no_daemon();
    daemon.problem = "the reply is not a JSON object: \"x\nrefclock SHM 9\"";
    const std::string text = render_ntp_config(NtpReader::chrony, parse(gps_pps), daemon);
    for (const std::string& line : directives(text)) {
        CHECK(line.rfind("refclock SHM 9", 0) != 0);
    }
    CHECK(directives(text).size() == 2);
}
