#include "core/running_stats.hpp"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

namespace shmrefclock {

namespace {

// The median of `values`, which it reorders. Not empty.
std::int64_t median_of(std::vector<std::int64_t>& values) {
    const std::size_t middle = values.size() / 2;
    std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(middle),
                     values.end());
    const std::int64_t upper = values[middle];
    if (values.size() % 2 == 1) {
        return upper;
    }
    const std::int64_t lower =
        *std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(middle));
    // floor((lower + upper) / 2) without overflow: C++20 shifts are
    // arithmetic, and the two low bits carry one only when both are set.
    return (lower >> 1) + (upper >> 1) + (lower & upper & 1);
}

// |a - b|, saturated.
std::int64_t distance(std::int64_t a, std::int64_t b) {
    if ((b > 0 && a < INT64_MIN + b) || (b < 0 && a > INT64_MAX + b)) {
        return INT64_MAX;
    }
    const std::int64_t d = a - b;
    return d < 0 ? (d == INT64_MIN ? INT64_MAX : -d) : d;
}

// The smallest 1-2-5 step (1, 2, 5, 10, 20, ... ns) not below `at_least`.
std::int64_t nice_step(std::int64_t at_least) {
    std::int64_t decade = 1;
    while (true) {
        for (const std::int64_t m : {1, 2, 5}) {
            if (m * decade >= at_least) {
                return m * decade;
            }
        }
        if (decade > INT64_MAX / 100) {
            return decade * 10;
        }
        decade *= 10;
    }
}

} // namespace

std::optional<Summary> summarize(std::vector<std::int64_t> values) {
    if (values.empty()) {
        return std::nullopt;
    }
    Summary summary;
    summary.count = values.size();
    summary.median_ns = median_of(values);
    for (std::int64_t& value : values) {
        value = distance(value, summary.median_ns);
    }
    summary.spread_ns = median_of(values);
    return summary;
}

Histogram make_histogram(const std::vector<std::int64_t>& values, std::int64_t center_ns,
                         std::int64_t spread_ns, std::size_t bins, std::int64_t min_bin_ns) {
    Histogram histogram;
    if (bins == 0) {
        return histogram;
    }
    const auto n = static_cast<std::int64_t>(bins);
    // Wide enough that `bins` bins span 20 spreads; values are seconds at
    // most in practice, so the products below stay far from overflow.
    const std::int64_t spread = std::min<std::int64_t>(spread_ns, INT64_MAX / 64);
    histogram.bin_ns =
        nice_step(std::max<std::int64_t>({min_bin_ns, 1, (20 * spread + n - 1) / n}));
    const std::int64_t bin = histogram.bin_ns;
    // A centre beyond +-73 years is no arrival delay; clamped, the bin
    // arithmetic below cannot overflow.
    center_ns = std::clamp<std::int64_t>(center_ns, -INT64_MAX / 4, INT64_MAX / 4);
    // The bin holding the centre, floored (towards minus infinity).
    const std::int64_t center_bin = center_ns / bin - (center_ns % bin < 0 ? 1 : 0);
    histogram.start_ns = (center_bin - n / 2) * bin;
    histogram.counts.assign(bins, 0);
    for (const std::int64_t value : values) {
        std::int64_t index = 0;
        if (value >= histogram.start_ns) {
            // In unsigned arithmetic: exact for value >= start, where the
            // signed difference may overflow.
            const std::uint64_t offset =
                static_cast<std::uint64_t>(value) - static_cast<std::uint64_t>(histogram.start_ns);
            index = static_cast<std::int64_t>(std::min<std::uint64_t>(
                offset / static_cast<std::uint64_t>(bin), static_cast<std::uint64_t>(n - 1)));
        }
        ++histogram.counts[static_cast<std::size_t>(index)];
    }
    return histogram;
}

Window::Window(std::size_t capacity) : ring_(capacity) {
    if (capacity == 0) {
        throw std::invalid_argument("Window: capacity 0");
    }
}

void Window::add(std::int64_t value) {
    ring_[next_] = value;
    next_ = (next_ + 1) % ring_.size();
    size_ = std::min(size_ + 1, ring_.size());
}

void Window::clear() {
    next_ = 0;
    size_ = 0;
}

std::vector<std::int64_t> Window::values() const {
    std::vector<std::int64_t> out;
    out.reserve(size_);
    const std::size_t first = (next_ + ring_.size() - size_) % ring_.size();
    for (std::size_t i = 0; i < size_; ++i) {
        out.push_back(ring_[(first + i) % ring_.size()]);
    }
    return out;
}

} // namespace shmrefclock
