// `shmrefclock ntp-config`: the lines an NTP daemon needs to read the
// configured refclocks (issue 23, item 7). Pure: the configuration and what
// the running daemon said on its control socket in, text out; main.cpp reads
// the file and asks the daemon.
//
// The offset a reader adds. The daemon adds each refclock's configured
// `offset` to every sample itself (shmrefclock.conf(5), "offset"), so the
// reader must add only what is still missing: the NMEA latency the running
// daemon measured (with the pulses of a pps refclock locked to it, once
// settled, else by the system clock) minus the configured offset. Without a
// measurement that is nothing: the calibration lives in one place
// (shmrefclock.conf(5), CALIBRATION), and a reader that added the
// configured offset again would be off by it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "tools/control_client.hpp"

namespace shmrefclock {

enum class NtpReader { chrony, ntpsec, ntpd };

// Published NMEA cycles the arrival median (by the system clock) must be
// taken over before it is used: as many as the daemon waits for before it
// logs it (sources/nmea.hpp, arrival_log_cycles).
inline constexpr std::uint64_t min_arrival_cycles = 30;

// What the reader should add to an NMEA refclock's samples, and why.
struct ReaderOffset {
    double seconds = 0;
    // Set when the running daemon measured the latency: the latency itself.
    std::optional<double> measured;
    // One line for a comment: where the figure comes from.
    std::string why;
};

// The reader offset of one refclock of `config`, from the live state of the
// running daemon if `daemon` has one and it runs a refclock of that name.
ReaderOffset reader_offset(const RefclockConfig& refclock, const DaemonReply& daemon);

// The lines for `reader`: comments that say where they go and where each
// offset came from, then each refclock's lines in the order of the file.
std::string render_ntp_config(NtpReader reader, const Config& config, const DaemonReply& daemon);

// The file the lines go into, for the comment and the man page.
std::string_view reader_config_file(NtpReader reader);

} // namespace shmrefclock
