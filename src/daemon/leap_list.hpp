// The daemon's leap-second list: loaded at start, again on SIGHUP and when
// the file changes; asked for the `leap` of every published sample
// (docs/design.md, "Leap seconds"). A list that cannot be used is a warning,
// once per load, and no announcement; never fatal.
#pragma once

#include <cstdint>
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
    // The `leap` of a sample whose reference time is `reference`. Also
    // compares it with the kernel's STA_INS/STA_DEL (when it changes, and
    // every kernel_check_every_ns) and logs when they start or stop
    // disagreeing.
    // `receiver`: what the sample's receiver announced (u-blox NAV-TIMELS;
    // Leap::none from others), which wins only when the list cannot say
    // (missing, corrupt, expired: core/leap_seconds.hpp, choose_leap); a
    // current list that differs from it is followed, and that is logged.
    Leap announcement(const timespec& reference, Leap receiver = Leap::none);
    // The list as loaded: the NMEA cores judge a receiver's 23:59:60 by it
    // (inserted_leap_second, core/leap_seconds.hpp).
    const LeapListLoad& list() const { return list_; }

    // How often the kernel's leap bits are read while the announcement does
    // not change: an NTP daemon arms the kernel at its own pace (a poll or
    // two into the last day), and one ntp_adjtime per 10 s costs nothing.
    static constexpr std::int64_t kernel_check_every_ns = 10'000'000'000;

private:
    void watch(const std::string& path);
    void log_load(std::int64_t now) const;
    void check_kernel(Leap announced);

    EventLoop& loop_;
    std::string path_;
    LeapListLoad list_;
    std::optional<FileChangeWatch> watch_;
    std::optional<EventLoop::Registration> registration_;
    std::string watched_path_;
    // The list expired while in use: warned once, until the next load.
    bool warned_expired_ = false;
    // The kernel's leap bits against the announcement: what was last logged
    // (empty: they agree), when they were last read (CLOCK_MONOTONIC) and
    // against which announcement.
    std::string kernel_disagreement_;
    // What was last logged about the receiver's announcement against the
    // list (empty: nothing to say).
    std::string receiver_note_;
    std::optional<std::int64_t> kernel_checked_ns_;
    Leap kernel_checked_against_ = Leap::none;
};

} // namespace shmrefclock
