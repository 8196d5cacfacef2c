// The live state's statistics (core/running_stats.hpp, core/history.hpp)
// and the NMEA latency measured with PPS (core/nmea_latency.hpp): pure
// arithmetic, checked against values computed here from what was put in.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "core/history.hpp"
#include "core/nmea_latency.hpp"
#include "core/running_stats.hpp"

using namespace shmrefclock;

namespace {
constexpr std::int64_t us = 1'000;
constexpr std::int64_t ms = 1'000'000;
constexpr std::int64_t s = 1'000'000'000;
constexpr time_t N = 1795262400; // 2026-11-21T12:00:00Z

timespec at(time_t sec, std::int64_t nsec = 0) {
    return timespec{sec, static_cast<long>(nsec)};
}
} // namespace

TEST_CASE("stats: median and MAD of odd and even counts, order does not matter") {
    auto odd = summarize({5, 1, 9, 3, 7});
    REQUIRE(odd);
    CHECK(odd->count == 5);
    CHECK(odd->median_ns == 5);
    // |v - 5|: 0 4 4 2 2 -> median 2.
    CHECK(odd->spread_ns == 2);

    auto even = summarize({10, 2, 4, 8});
    REQUIRE(even);
    CHECK(even->median_ns == 6); // (4 + 8) / 2
    // |v - 6|: 4 4 2 2 -> (2 + 4) / 2 = 3.
    CHECK(even->spread_ns == 3);

    // Rounded towards minus infinity, also for negative values.
    CHECK(summarize({-3, 0})->median_ns == -2);
    CHECK(summarize({3, 0})->median_ns == 1);
    CHECK_FALSE(summarize({}));
}

TEST_CASE("stats: an outlier moves neither median nor spread much") {
    std::vector<std::int64_t> values;
    for (int i = 0; i < 99; ++i) {
        values.push_back(130 * ms + (i % 3 - 1) * ms); // 129, 130, 131 ms
    }
    values.push_back(900 * ms); // one cycle the loop was stalled for
    const auto summary = summarize(values);
    REQUIRE(summary);
    CHECK(summary->median_ns == 130 * ms);
    CHECK(summary->spread_ns == 1 * ms);
}

TEST_CASE("stats: extreme values neither overflow nor crash") {
    const std::int64_t max = std::numeric_limits<std::int64_t>::max();
    const std::int64_t min = std::numeric_limits<std::int64_t>::min();
    const auto summary = summarize({min, max});
    REQUIRE(summary);
    CHECK(summary->median_ns == -1); // floor((min + max) / 2) = floor(-0.5)
    CHECK(summary->spread_ns == max);
    const Histogram histogram = make_histogram({min, max, 0}, max, max);
    std::uint64_t total = 0;
    for (const auto count : histogram.counts) {
        total += count;
    }
    CHECK(total == 3);
}

TEST_CASE("stats: a random sample's median and MAD match a sorted computation") {
    std::mt19937_64 random(42);
    std::normal_distribution<double> jitter(0, 2e6);
    for (const std::size_t n : {1U, 2U, 3U, 64U, 101U, 600U}) {
        std::vector<std::int64_t> values;
        for (std::size_t i = 0; i < n; ++i) {
            values.push_back(130 * ms + static_cast<std::int64_t>(jitter(random)));
        }
        std::vector<std::int64_t> sorted = values;
        std::sort(sorted.begin(), sorted.end());
        const auto middle = [](const std::vector<std::int64_t>& v) {
            const std::size_t k = v.size() / 2;
            return v.size() % 2 == 1 ? v[k]
                                     : static_cast<std::int64_t>(
                                           std::floor((static_cast<double>(v[k - 1]) + v[k]) / 2));
        };
        const std::int64_t median = middle(sorted);
        std::vector<std::int64_t> deviations;
        for (const auto v : sorted) {
            deviations.push_back(std::abs(v - median));
        }
        std::sort(deviations.begin(), deviations.end());
        const auto summary = summarize(values);
        REQUIRE(summary);
        CHECK(summary->median_ns == median);
        CHECK(summary->spread_ns == middle(deviations));
    }
}

TEST_CASE("stats: histogram bins are 1-2-5 steps centred on the median and count everything") {
    // 130 ms +- up to 3 ms, spread 1 ms: 20 spreads over 40 bins is 0.5 ms.
    std::vector<std::int64_t> values;
    for (int i = -3; i <= 3; ++i) {
        values.push_back(130 * ms + i * ms);
    }
    values.push_back(-5 * s); // beyond the range: in the first bin
    values.push_back(5 * s);  // and the last
    const Histogram histogram = make_histogram(values, 130 * ms, 1 * ms, 40);
    CHECK(histogram.bin_ns == 500 * us);
    REQUIRE(histogram.counts.size() == 40);
    CHECK(histogram.start_ns == 130 * ms - 20 * 500 * us);
    CHECK(histogram.counts.front() == 1);
    CHECK(histogram.counts.back() == 1);
    // 130 ms is the lower edge of bin 20; 127 ms of bin 14.
    CHECK(histogram.counts[20] == 1);
    CHECK(histogram.counts[14] == 1);
    CHECK(histogram.counts[26] == 1);
    std::uint64_t total = 0;
    for (const auto count : histogram.counts) {
        total += count;
    }
    CHECK(total == values.size());
    // No spread: the smallest bin; a negative centre floors correctly.
    const Histogram tight = make_histogram({-1}, -1, 0, 10);
    CHECK(tight.bin_ns == 100 * us);
    CHECK(tight.start_ns == -6 * 100 * us);
    CHECK(tight.counts[5] == 1);
    // 7 ms spread: 140 ms / 40 = 3.5 ms, rounded up to 5 ms.
    CHECK(make_histogram(values, 0, 7 * ms, 40).bin_ns == 5 * ms);
}

TEST_CASE("stats: a window keeps the last N values, oldest first") {
    Window window(3);
    CHECK(window.values().empty());
    CHECK_FALSE(window.summary());
    window.add(1);
    window.add(2);
    CHECK(window.values() == std::vector<std::int64_t>{1, 2});
    window.add(3);
    window.add(4);
    window.add(5);
    CHECK(window.size() == 3);
    CHECK(window.values() == std::vector<std::int64_t>{3, 4, 5});
    CHECK(window.summary()->median_ns == 4);
    window.clear();
    CHECK(window.size() == 0);
    CHECK_THROWS(Window(0));
}

TEST_CASE("history: one point per second, the last hour, oldest first") {
    SecondHistory history;
    history.add(1000, 0.5);
    history.add(1000, 0.7); // a second sample in the same second: not kept
    history.add(1001, -0.25);
    auto points = history.points(1001);
    REQUIRE(points.size() == 2);
    CHECK(points[0].unix_s == 1000);
    CHECK(points[0].value == 0.5);
    CHECK(points[1].value == -0.25);
    // An hour later only points after now - 3600 remain.
    CHECK(history.points(1000 + 3600).size() == 1);
    CHECK(history.points(1001 + 3600).empty());
    // The ring holds 3600 points; the 3601st replaces the oldest.
    SecondHistory full;
    for (std::int64_t t = 0; t <= 3600; ++t) {
        full.add(t, static_cast<double>(t));
    }
    points = full.points(3600);
    REQUIRE(points.size() == 3600);
    CHECK(points.front().unix_s == 1);
    CHECK(points.back().unix_s == 3600);
    // Stored compactly (8 bytes a point): a date in 2040 and an NMEA offset
    // come back to the second and to a float's precision.
    SecondHistory compact;
    compact.add(2'200'000'000, -0.1234567);
    points = compact.points(2'200'000'000);
    REQUIRE(points.size() == 1);
    CHECK(points[0].unix_s == 2'200'000'000);
    CHECK(points[0].value == Approx(-0.1234567).margin(1e-8));
}

// ---------------------------------------------------------------------------
// The NMEA latency measured with PPS.

TEST_CASE("latency: (R - E) - (S - N) with the system clock's offset cancelling") {
    // True latency 130 ms; the system clock is 37 ms ahead, so the kernel
    // stamps the pulse of second N at N + 37 ms and the first byte of the
    // cycle naming S = N at N + 167 ms.
    const std::int64_t latency =
        NmeaLatency::latency_ns(at(N, 37 * ms), at(N), at(N, 167 * ms), at(N));
    CHECK(latency == 130 * ms);
    // The clock 250 ms behind: the same.
    CHECK(NmeaLatency::latency_ns(at(N - 1, 750 * ms), at(N), at(N - 1, 880 * ms), at(N)) ==
          130 * ms);
}

TEST_CASE("latency: a lock sample from another second than the pulse's (N != S)") {
    // The pulse of N + 1 numbered by the cycle that named N (the next cycle
    // had not come yet): R - E spans the second in between.
    const timespec edge = at(N + 1, 5 * ms);  // clock 5 ms ahead
    const timespec receive = at(N, 135 * ms); // 130 ms + 5 ms
    CHECK(NmeaLatency::latency_ns(edge, at(N + 1), receive, at(N)) == 130 * ms);
    // And a lock sample from the second after the pulse (handled late).
    CHECK(NmeaLatency::latency_ns(at(N, 5 * ms), at(N), at(N + 1, 135 * ms), at(N + 1)) ==
          130 * ms);
    // A sign error would give -130 ms or 2 s: neither.
}

TEST_CASE("latency: settles after 30 pulses with a small spread, logs once, again on a move") {
    NmeaLatency latency;
    std::mt19937_64 random(7);
    std::uniform_int_distribution<std::int64_t> jitter(-2 * ms, 2 * ms);
    int reports = 0;
    std::optional<NmeaLatency::Report> first;
    for (std::size_t i = 0; i < 100; ++i) {
        const time_t second = N + static_cast<time_t>(i);
        const std::int64_t clock_error = 11 * ms;
        auto report = latency.add(at(second, clock_error), at(second),
                                  at(second, 130 * ms + clock_error + jitter(random)), at(second));
        if (i + 1 < NmeaLatency::min_pulses) {
            CHECK_FALSE(report);
            CHECK_FALSE(latency.settled());
        }
        if (report) {
            ++reports;
            if (!first) {
                first = report;
                CHECK(i + 1 == NmeaLatency::min_pulses);
            }
        }
    }
    CHECK(reports == 1);
    REQUIRE(first);
    CHECK(std::abs(first->summary.median_ns - 130 * ms) < 1 * ms);
    CHECK(first->summary.count == NmeaLatency::min_pulses);
    CHECK(latency.settled());
    CHECK(latency.pulses() == 100);

    // The receiver changes (another baud rate): 160 ms. Once the window's
    // median has moved past 5 ms it is logged again, once.
    reports = 0;
    std::optional<NmeaLatency::Report> moved;
    for (std::size_t i = 100; i < 300; ++i) {
        const time_t second = N + static_cast<time_t>(i);
        if (auto report = latency.add(at(second), at(second), at(second, 160 * ms), at(second))) {
            ++reports;
            moved = report;
        }
    }
    CHECK(reports == 1);
    REQUIRE(moved);
    CHECK(moved->summary.median_ns > 135 * ms);
    CHECK(latency.summary()->median_ns == 160 * ms);
    CHECK(latency.summary()->count == NmeaLatency::window);
}

TEST_CASE("latency: a receiver that jitters too much never settles") {
    NmeaLatency latency;
    // 130 ms with 15 ms of normal jitter: MAD about 10 ms, standard error
    // about 1.7 ms over the whole window.
    std::mt19937_64 random(11);
    std::normal_distribution<double> jitter(0, 15e6);
    for (std::size_t i = 0; i < 300; ++i) {
        const time_t second = N + static_cast<time_t>(i);
        const auto late = 130 * ms + static_cast<std::int64_t>(jitter(random));
        CHECK_FALSE(latency.add(at(second), at(second), at(second, late), at(second)));
    }
    CHECK_FALSE(latency.settled());
    REQUIRE(latency.summary());
    CHECK(latency.summary()->spread_ns > 5 * ms);
    // The settle rule at its edge: 30 pulses with MAD 2.9 ms is settled,
    // 2.95 ms not (1.858 x 2.95 / sqrt(30) = 1.0007 ms).
    CHECK(NmeaLatency::settled(Summary{0, 2'900 * us, 30}));
    CHECK_FALSE(NmeaLatency::settled(Summary{0, 2'950 * us, 30}));
    CHECK_FALSE(NmeaLatency::settled(Summary{0, 0, 29}));
}

TEST_CASE("latency: saturates on absurd inputs", "[time64]") {
    const std::int64_t max = std::numeric_limits<std::int64_t>::max();
    const time_t tmax = std::numeric_limits<time_t>::max();
    CHECK(NmeaLatency::latency_ns(at(0), at(tmax), at(tmax), at(0)) == max);
    CHECK(NmeaLatency::latency_ns(at(tmax), at(0), at(0), at(tmax)) == -max);
}
