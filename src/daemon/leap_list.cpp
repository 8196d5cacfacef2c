#include "daemon/leap_list.hpp"

#include <spdlog/spdlog.h>

#include "core/time_format.hpp"

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

Leap LeapList::announcement(const timespec& reference) {
    const std::int64_t second = reference.tv_sec;
    if (!warned_expired_ && leap_list_state(list_, second) == LeapListState::expired) {
        // Loaded valid, expired while running: say so once.
        warned_expired_ = true;
        spdlog::warn("leap-second list {}: {}; no leap second will be announced", path_,
                     describe(list_, second));
    }
    return leap_announcement(list_, second);
}

} // namespace shmrefclock
