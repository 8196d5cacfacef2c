// The daemon's leap-second list: loaded at start, again on SIGHUP and when
// the file changes; asked for the `leap` of every published sample
// (docs/design.md, "Leap seconds"). A list that cannot be used is a warning,
// once per load, and no announcement; never fatal.
#pragma once

#include <ctime>
#include <optional>
#include <string>

#include "core/leap_seconds.hpp"
#include "io/event_loop.hpp"
#include "io/leap_seconds_file.hpp"

namespace shmrefclock {

class LeapList {
public:
    explicit LeapList(EventLoop& loop);
    ~LeapList();
    LeapList(const LeapList&) = delete;
    LeapList& operator=(const LeapList&) = delete;

    // (Re)load the list at `path` ("" for none) and watch its file.
    void load(const std::string& path);
    // The `leap` of a sample whose reference time is `reference`.
    Leap announcement(const timespec& reference);
    // What the list says about a receiver's 23:59:60 at the end of the UTC
    // day that ends at `day_end` (core/leap_seconds.hpp).
    LeapSecondCheck inserted_leap_second(std::int64_t day_end) const {
        return shmrefclock::inserted_leap_second(list_, day_end);
    }

private:
    void watch(const std::string& path);
    void log_load(std::int64_t now) const;

    EventLoop& loop_;
    std::string path_;
    LeapListLoad list_;
    std::optional<FileChangeWatch> watch_;
    std::optional<EventLoop::Registration> registration_;
    std::string watched_path_;
    // The list expired while in use: warned once, until the next load.
    bool warned_expired_ = false;
};

} // namespace shmrefclock
