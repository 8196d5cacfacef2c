// One point per second over the last hour (docs/design.md, "Live state":
// `history`, for the status page's plots): a ring of 3600 points allocated
// once, 8 bytes each (the second as 32 bits, until 2106; the value as a
// float, 7 digits: nanoseconds at an offset of 0.1 s, for a plot), 28.8 kB
// per refclock where 16-byte points took 57.6 kB (issue 22). Pure: the
// caller hands in each published sample's second and value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace shmrefclock {

class SecondHistory {
public:
    static constexpr std::size_t seconds = 3600;

    struct Point {
        std::int64_t unix_s = 0;
        double value = 0;
    };

    SecondHistory() : ring_(seconds) {}

    // A sample for second `unix_s`. The second of the last point (5 or
    // 10 Hz sources) keeps its first value: one point per second.
    void add(std::int64_t unix_s, double value);
    // The points of the hour up to `now_unix_s` (after now - 3600), oldest
    // first.
    std::vector<Point> points(std::int64_t now_unix_s) const;

private:
    struct Stored {
        std::uint32_t unix_s = 0;
        float value = 0;
    };
    std::vector<Stored> ring_;
    std::size_t next_ = 0;
    std::size_t size_ = 0;
};

} // namespace shmrefclock
