// Statistics over a window of recent measurements (docs/design.md, "Live
// state"): the median and the spread (median absolute deviation) of the
// last N values, and a histogram for the status page. Pure: values in
// nanoseconds in, numbers out. Median and MAD rather than mean and standard
// deviation because one late cycle (a stalled loop, a receiver that sent a
// long GSV burst first) must not move the figure an operator copies into
// the configuration.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace shmrefclock {

struct Summary {
    std::int64_t median_ns = 0;
    // The median absolute deviation from the median: about 0.67 standard
    // deviations for normally distributed values, and unmoved by outliers.
    std::int64_t spread_ns = 0;
    std::size_t count = 0;
};

// The median of `values` (the mean of the two middle ones for an even
// count, rounded towards minus infinity), and the MAD. Nothing for none.
std::optional<Summary> summarize(std::vector<std::int64_t> values);

struct Histogram {
    std::int64_t start_ns = 0; // the lower edge of the first bin
    std::int64_t bin_ns = 0;
    // counts[i]: values in [start + i bin, start + (i + 1) bin). The first
    // and last bins also hold every value below or above the range, so that
    // an outlier still shows.
    std::vector<std::uint64_t> counts;
};

// `bins` bins centred on `center_ns`, each a 1-2-5 step wide enough that the
// range is at least 20 spreads (about +-6.7 standard deviations), and at
// least `min_bin_ns`.
Histogram make_histogram(const std::vector<std::int64_t>& values, std::int64_t center_ns,
                         std::int64_t spread_ns, std::size_t bins = 40,
                         std::int64_t min_bin_ns = 100'000);

// The last `capacity` values added, in a ring allocated once.
class Window {
public:
    explicit Window(std::size_t capacity);
    void add(std::int64_t value);
    void clear();
    std::size_t size() const { return size_; }
    std::size_t capacity() const { return ring_.size(); }
    // The values held, oldest first.
    std::vector<std::int64_t> values() const;
    std::optional<Summary> summary() const { return summarize(values()); }

private:
    std::vector<std::int64_t> ring_;
    std::size_t next_ = 0;
    std::size_t size_ = 0;
};

} // namespace shmrefclock
