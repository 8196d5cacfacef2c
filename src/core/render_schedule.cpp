#include "core/render_schedule.hpp"

namespace shmrefclock {

RenderSchedule::Answer RenderSchedule::ask(std::int64_t now_ns) {
    if (rendered_ && now_ns - *rendered_ <= max_age_ns_) {
        return Answer::cached;
    }
    // One rendering at a time: it was captured at or before now, and when
    // it is done it is the newest state there is (even if a stalled
    // renderer made it older than max_age by then).
    if (in_progress_) {
        return Answer::wait;
    }
    in_progress_ = now_ns;
    return Answer::render;
}

void RenderSchedule::finished() {
    if (in_progress_) {
        rendered_ = in_progress_;
        in_progress_.reset();
    }
}

} // namespace shmrefclock
