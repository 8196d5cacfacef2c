#include "tools/check_config.hpp"

#include <fmt/format.h>

#include "shmrefclock/shm.hpp"

namespace shmrefclock {

std::string describe(const Config& config) {
    std::string out;
    for (const auto& rc : config.refclocks) {
        std::string outputs;
        if (rc.unit) {
            outputs = describe_unit(*rc.unit);
        }
        if (!rc.sock.empty()) {
            outputs += (outputs.empty() ? "" : " + ") + fmt::format("chrony SOCK {}", rc.sock);
        }
        out +=
            fmt::format("refclock \"{}\": {} -> {}, offset {:+.9f} s, precision {}, perm {:04o}",
                        rc.name, to_string(rc.source), outputs, rc.offset, rc.precision, rc.perm);
        switch (rc.source) {
        case SourceKind::system:
            out += fmt::format(", every {} s", rc.interval);
            break;
        case SourceKind::nmea:
            out += fmt::format(", device {}, {} baud, {} fixes before the first sample, a new "
                               "timeline believed after {} s{}{}",
                               rc.device, rc.baud, rc.min_fixes, rc.step_probation,
                               rc.pps_dcd ? ", PPS on DCD" : "",
                               rc.protocol == ReceiverProtocol::nmea  ? ", NMEA only"
                               : rc.protocol == ReceiverProtocol::ubx ? ", UBX only"
                                                                      : "");
            break;
        case SourceKind::pps:
            out += fmt::format(", device {}, {} edge, numbered by {}",
                               rc.device.empty() ? "DCD of " + rc.lock : rc.device,
                               to_string(rc.edge), rc.lock);
            break;
        }
        out += '\n';
    }
    return out;
}

} // namespace shmrefclock
