#include "io/leap_seconds_file.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include <fmt/format.h>

namespace shmrefclock {

namespace {

// The IERS list is about 5 KB and grows by one line per leap second; a file
// much larger than that is not a leap-second list, and is not read whole.
constexpr std::size_t max_list_size = 256 * 1024;

LeapListLoad problem(LeapListProblem kind, std::string detail) {
    LeapListLoad load;
    load.problem = kind;
    load.detail = std::move(detail);
    return load;
}

} // namespace

LeapListLoad load_leap_seconds_file(const std::string& path) {
    if (path.empty()) {
        return problem(LeapListProblem::not_configured, "leap-seconds = \"\"");
    }
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd.valid()) {
        const int error = errno;
        return problem(error == ENOENT ? LeapListProblem::missing : LeapListProblem::unreadable,
                       std::strerror(error));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
        return problem(LeapListProblem::unreadable, "not a regular file");
    }
    std::string text;
    char buffer[4096];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return problem(LeapListProblem::unreadable, std::strerror(errno));
        }
        if (n == 0) {
            break;
        }
        text.append(buffer, static_cast<std::size_t>(n));
        if (text.size() > max_list_size) {
            return problem(LeapListProblem::unreadable,
                           fmt::format("larger than {} bytes", max_list_size));
        }
    }
    return parse_leap_seconds_list(text);
}

FileChangeWatch::FileChangeWatch(const std::string& path) {
    if (path.empty()) {
        return;
    }
    const std::size_t slash = path.rfind('/');
    const std::string directory = slash == 0 ? "/" : path.substr(0, slash);
    name_ = path.substr(slash + 1);
    fd_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (!fd_.valid()) {
        error_ = fmt::format("inotify_init1: {}", std::strerror(errno));
        return;
    }
    const std::uint32_t mask =
        IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB;
    if (::inotify_add_watch(fd_.get(), directory.c_str(), mask) < 0) {
        error_ = fmt::format("inotify_add_watch {}: {}", directory, std::strerror(errno));
        fd_.reset();
    }
}

bool FileChangeWatch::changed() {
    bool ours = false;
    // Aligned for struct inotify_event, as inotify(7)'s example does.
    alignas(inotify_event) char buffer[4096];
    for (;;) {
        const ssize_t n = ::read(fd_.get(), buffer, sizeof buffer);
        if (n <= 0) {
            return ours; // EAGAIN: drained
        }
        for (ssize_t at = 0; at + static_cast<ssize_t>(sizeof(inotify_event)) <= n;) {
            inotify_event event{};
            std::memcpy(&event, buffer + at, sizeof event);
            const char* name = buffer + at + sizeof(inotify_event);
            if (event.len > 0 && std::strncmp(name, name_.c_str(), event.len) == 0 &&
                name_.size() < event.len) {
                ours = true;
            }
            if ((event.mask & IN_Q_OVERFLOW) != 0) {
                ours = true; // events lost: it may have been ours
            }
            at += static_cast<ssize_t>(sizeof(inotify_event) + event.len);
        }
    }
}

} // namespace shmrefclock
