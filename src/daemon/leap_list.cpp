#include "daemon/leap_list.hpp"

#include <utility>

#include <spdlog/spdlog.h>

#include "core/time_format.hpp"
#include "io/kernel_clock.hpp"

namespace shmrefclock {

namespace {

std::int64_t now_seconds() {
    return stamp_now().realtime.tv_sec;
}

} // namespace

LeapList::LeapList(EventLoop& loop) : loop_(loop) {}

LeapList::~LeapList() {
    if (registration_) {
        loop_.unwatch(*registration_);
    }
}

void LeapList::load(const std::string& path) {
    path_ = path;
    list_ = load_leap_seconds_file(path);
    const std::int64_t now = now_seconds();
    // An expired list is warned about here; announcement() warns only when
    // a list loaded valid expires later.
    warned_expired_ = leap_list_state(list_, now) == LeapListState::expired;
    log_load(now);
    watch(path);
}

void LeapList::watch(const std::string& path) {
    // Kept while it works; a watch that failed (the directory did not exist)
    // is tried again with every load, so that SIGHUP can set it up.
    if (path == watched_path_ && watch_ && watch_->fd() >= 0) {
        return;
    }
    if (registration_) {
        loop_.unwatch(*registration_);
        registration_.reset();
    }
    watch_.emplace(path);
    watched_path_ = path;
    if (!watch_->error().empty()) {
        spdlog::warn("leap-second list {}: changes will not be noticed ({}); SIGHUP reloads it",
                     path, watch_->error());
    }
    if (watch_->fd() >= 0) {
        registration_ = loop_.watch(watch_->fd(), [this](const Stamp&) {
            if (watch_->changed()) {
                spdlog::info("leap-second list {} changed: reloading", path_);
                load(path_);
            }
        });
    }
}

void LeapList::log_load(std::int64_t now) const {
    const LeapListState state = leap_list_state(list_, now);
    if (state == LeapListState::not_configured) {
        spdlog::info("leap-seconds = \"\": no leap second will be announced");
        return;
    }
    if (state != LeapListState::valid) {
        spdlog::warn("leap-second list {}: {}; no leap second will be announced", path_,
                     describe(list_, now));
        return;
    }
    const auto next = next_leap_event(*list_.list, now);
    spdlog::info("leap-second list {}: {}, {} entries, next leap second: {}", path_,
                 describe(list_, now), list_.list->entries.size(),
                 next ? fmt::format("{} at the end of the UTC day before {}",
                                    next->kind == Leap::insert ? "insertion" : "deletion",
                                    format_utc(timespec{static_cast<time_t>(next->at), 0}, 0))
                      : std::string("none in the list"));
}

Leap LeapList::announcement(const timespec& reference, Leap receiver) {
    const std::int64_t second = reference.tv_sec;
    if (!warned_expired_ && leap_list_state(list_, second) == LeapListState::expired) {
        // Loaded valid, expired while running: say so once.
        warned_expired_ = true;
        spdlog::warn("leap-second list {}: {}; no leap second will be announced", path_,
                     describe(list_, second));
    }
    const LeapChoice choice = choose_leap(list_, second, receiver);
    const Leap leap = choice.leap;
    std::string note;
    if (choice.disagree) {
        note = fmt::format("the receiver announces leap {} for this UTC day, the leap-second list "
                           "{} says {}: following the list",
                           static_cast<int>(receiver), path_, static_cast<int>(leap));
    } else if (choice.from_receiver) {
        note = fmt::format("the leap-second list {} cannot say ({}): following the receiver's "
                           "announcement of leap {} for this UTC day",
                           path_.empty() ? std::string("(none)") : path_, describe(list_, second),
                           static_cast<int>(leap));
    }
    if (note != receiver_note_) {
        if (!note.empty()) {
            spdlog::warn("{}", note);
        }
        receiver_note_ = std::move(note);
    }
    // Cheap: one ntp_adjtime when the announcement changes, else at most one
    // per kernel_check_every_ns, however many samples are published.
    const std::int64_t now_ns = stamp_now().monotonic_ns;
    if (!kernel_checked_ns_ || leap != kernel_checked_against_ ||
        now_ns - *kernel_checked_ns_ >= kernel_check_every_ns) {
        kernel_checked_ns_ = now_ns;
        kernel_checked_against_ = leap;
        check_kernel(leap);
    }
    return leap;
}

void LeapList::check_kernel(Leap announced) {
    const KernelClock kernel = read_kernel_clock();
    std::string disagreement =
        kernel_leap_disagreement(announced, kernel.leap_insert, kernel.leap_delete);
    if (disagreement == kernel_disagreement_) {
        return; // logged once per change, not per sample
    }
    const std::string list = path_.empty() ? std::string("leap-seconds = \"\"") : path_;
    if (!disagreement.empty()) {
        // The samples keep the list's `leap` (core/leap_seconds.hpp,
        // kernel_leap_disagreement: the kernel may be armed from this
        // daemon's own vote). Normal for a poll or two after 00:00 of the
        // leap day; lasting, the NTP daemon and the list disagree.
        spdlog::warn("kernel leap state and the leap-second list ({}) disagree: {}; samples "
                     "carry leap {} from the list (an NTP daemon arms the kernel during the "
                     "last day before a leap second; one that slews leap seconds never does)",
                     list, disagreement, static_cast<int>(announced));
    } else {
        spdlog::info("kernel leap state agrees with the leap-second list ({}) again", list);
    }
    kernel_disagreement_ = std::move(disagreement);
}

} // namespace shmrefclock
