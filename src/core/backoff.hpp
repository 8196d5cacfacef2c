// How long a source waits before it opens a failed device again: 1 s,
// doubling to 30 s, back to 1 s once the device delivers. One policy for
// every source (docs/design.md, "Source cores").
#pragma once

#include <algorithm>
#include <cstdint>

#include "shmrefclock/sample.hpp"

namespace shmrefclock {

class Backoff {
public:
    static constexpr std::int64_t first_ns = ns_per_s;
    static constexpr std::int64_t max_ns = 30 * ns_per_s;

    // The delay before the next attempt; each call doubles the one after.
    std::int64_t next() {
        const std::int64_t delay = delay_ns_;
        delay_ns_ = std::min(delay_ns_ * 2, max_ns);
        return delay;
    }
    // The delay next() would return, for messages.
    std::int64_t peek() const { return delay_ns_; }
    // The device works again.
    void reset() { delay_ns_ = first_ns; }

private:
    std::int64_t delay_ns_ = first_ns;
};

} // namespace shmrefclock
