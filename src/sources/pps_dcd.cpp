#include "sources/pps_dcd.hpp"

#include <cerrno>
#include <charconv>
#include <fstream>
#include <system_error>
#include <utility>
#include <vector>

#include <linux/tty.h> // N_PPS
#include <sys/ioctl.h>

namespace shmrefclock {

namespace {

std::string_view without_dev(std::string_view name) {
    constexpr std::string_view dev = "/dev/";
    if (name.starts_with(dev)) {
        name.remove_prefix(dev.size());
    }
    return name;
}

std::string_view trimmed(std::string_view text) {
    constexpr std::string_view space = " \t\r\n";
    const auto first = text.find_first_not_of(space);
    if (first == std::string_view::npos) {
        return {};
    }
    return text.substr(first, text.find_last_not_of(space) - first + 1);
}

// N of "ppsN", or nothing for any other name.
std::optional<unsigned> pps_index(std::string_view name) {
    constexpr std::string_view prefix = "pps";
    if (!name.starts_with(prefix) || name.size() == prefix.size()) {
        return std::nullopt;
    }
    unsigned n = 0;
    const char* end = name.data() + name.size();
    const auto [ptr, ec] = std::from_chars(name.data() + prefix.size(), end, n);
    if (ec != std::errc() || ptr != end) {
        return std::nullopt;
    }
    return n;
}

} // namespace

std::optional<std::string> find_pps_device_for_tty(const std::filesystem::path& sysfs_root,
                                                   std::string_view tty) {
    const std::string_view wanted = without_dev(trimmed(tty));
    if (wanted.empty()) {
        return std::nullopt;
    }
    std::error_code ec;
    std::filesystem::directory_iterator it(sysfs_root / "class" / "pps", ec);
    if (ec) {
        return std::nullopt;
    }
    std::optional<std::pair<unsigned, std::string>> best;
    for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
        if (ec) {
            break;
        }
        const std::string name = it->path().filename().string();
        const auto index = pps_index(name);
        if (!index) {
            continue;
        }
        // In the real sysfs these entries are symlinks to the device
        // directories; opening "<entry>/path" follows them.
        std::ifstream file(it->path() / "path");
        std::string content;
        if (!file || !std::getline(file, content)) {
            continue;
        }
        if (without_dev(trimmed(content)) == wanted && (!best || *index < best->first)) {
            best.emplace(*index, name);
        }
    }
    if (!best) {
        return std::nullopt;
    }
    return "/dev/" + best->second;
}

void attach_pps_line_discipline(int tty_fd) {
    int discipline = N_PPS;
    if (ioctl(tty_fd, TIOCSETD, &discipline) == 0) {
        return;
    }
    const int error = errno;
    std::string message = "cannot attach the PPS line discipline (TIOCSETD N_PPS)";
    switch (error) {
    case EINVAL:
        message += ": the kernel has no N_PPS line discipline; load it with "
                   "`modprobe pps_ldisc` (CONFIG_PPS_CLIENT_LDISC)";
        break;
    case EPERM:
        message += ": the pps_ldisc module is not loaded and this process may not load "
                   "it (dev.tty.ldisc_autoload = 0 without CAP_SYS_MODULE); load it with "
                   "`modprobe pps_ldisc`";
        break;
    case ENOTTY:
        message += ": the device is not a tty";
        break;
    default:
        break;
    }
    throw std::system_error(error, std::generic_category(), message);
}

} // namespace shmrefclock
