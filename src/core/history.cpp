#include "core/history.hpp"

#include <algorithm>

namespace shmrefclock {

void SecondHistory::add(std::int64_t unix_s, double value) {
    if (size_ > 0) {
        const Stored& last = ring_[(next_ + ring_.size() - 1) % ring_.size()];
        // Not after the last point: this second is recorded, or the clock
        // went back (a step) and the points from the old scale stay until
        // they age out; the plot shows the step.
        if (static_cast<std::uint32_t>(unix_s) == last.unix_s) {
            return;
        }
    }
    ring_[next_] = Stored{static_cast<std::uint32_t>(unix_s), static_cast<float>(value)};
    next_ = (next_ + 1) % ring_.size();
    size_ = std::min(size_ + 1, ring_.size());
}

std::vector<SecondHistory::Point> SecondHistory::points(std::int64_t now_unix_s) const {
    std::vector<Point> out;
    out.reserve(size_);
    const std::size_t first = (next_ + ring_.size() - size_) % ring_.size();
    for (std::size_t i = 0; i < size_; ++i) {
        const Stored& stored = ring_[(first + i) % ring_.size()];
        const Point point{static_cast<std::int64_t>(stored.unix_s),
                          static_cast<double>(stored.value)};
        if (point.unix_s > now_unix_s - static_cast<std::int64_t>(seconds) &&
            point.unix_s <= now_unix_s) {
            out.push_back(point);
        }
    }
    return out;
}

} // namespace shmrefclock
