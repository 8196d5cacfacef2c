// `pps = "dcd"` on an nmea refclock: the receiver's PPS is wired to the DCD
// pin of the serial port the NMEA arrives on. The kernel's PPS line
// discipline (drivers/pps/clients/pps-ldisc.c, N_PPS) turns DCD transitions
// into PPS events of a new /dev/ppsN while the tty keeps delivering bytes as
// N_TTY does, so the NMEA source keeps reading the same fd.
//
// The wiring (to be done by the nmea source, on its own fd):
//   1. after opening and configuring the tty: attach_pps_line_discipline(fd);
//   2. find_pps_device_for_tty("/sys", the tty's kernel name, e.g. "ttyUSB0"
//      from the realpath of the configured device) names the /dev/ppsN the
//      kernel registered for it;
//   3. a PpsSource on that path, lock = the nmea refclock.
// The PPS device lives as long as the line discipline does, i.e. until the
// fd is closed (or the discipline reset), and a reopened port gets a new one.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace shmrefclock {

// The "/dev/ppsN" whose `<sysfs_root>/class/pps/ppsN/path` names the tty.
// pps-ldisc writes "/dev/" + the tty driver's name + index there (e.g.
// "/dev/ttyS0", "/dev/ttyUSB0"); `tty` may be given as "ttyS0" or
// "/dev/ttyS0". Sources without a path (pps-gpio, pps-ktimer) never match.
// With several matches the lowest N wins; nothing if none matches or the
// directory cannot be read.
std::optional<std::string> find_pps_device_for_tty(const std::filesystem::path& sysfs_root,
                                                   std::string_view tty);

// ioctl(tty_fd, TIOCSETD, N_PPS). Throws std::system_error whose message says
// what to do: EINVAL usually means the pps_ldisc module is not loaded (and
// could not be autoloaded: dev.tty.ldisc_autoload=0 or no CAP_SYS_MODULE).
void attach_pps_line_discipline(int tty_fd);

} // namespace shmrefclock
