// Reading the leap-second list from its file and noticing when the file
// changes (a tzdata upgrade replaces it). The rules are core/leap_seconds.
#pragma once

#include <string>

#include "core/leap_seconds.hpp"
#include "io/unique_fd.hpp"

namespace shmrefclock {

// The list at `path` ("" gives `not_configured`). Never throws: a missing,
// unreadable or oversized file is a problem in the result.
LeapListLoad load_leap_seconds_file(const std::string& path);

// inotify on the directory that holds `path`, for that name only: packages
// replace files by renaming a new one over them (dpkg), editors may delete
// and re-create, and an inotify watch on the file itself would follow the
// old inode and miss both. Non-blocking; the fd goes into the event loop.
class FileChangeWatch {
public:
    // Watches nothing (fd() is -1) for an empty path or when inotify fails;
    // `error()` then says why (the daemon still reloads on SIGHUP).
    explicit FileChangeWatch(const std::string& path);
    int fd() const { return fd_.get(); }
    const std::string& error() const { return error_; }
    // Drain the pending events; true when one of them concerns the file.
    bool changed();

private:
    UniqueFd fd_;
    std::string name_;
    std::string error_;
};

} // namespace shmrefclock
