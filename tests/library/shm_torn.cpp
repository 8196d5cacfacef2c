// The C++ side of test_python_torn.py: writes N samples to a unit as fast as
// it can, or reads a unit until it has seen sample N, checking every sample
// it reads. Every field of sample i is derived from i (payload() below, the
// same formula as test_python_torn.py's), so a copy that mixes two writes is
// caught: the reference time alone no longer decodes to a whole i, or the
// other fields disagree with the i it decodes to.
//
//   shm_torn write UNIT N     exit 0 when done; between writes it spins for
//                             2 us with the sample valid, as a reader would
//                             otherwise mostly find `valid` 0 (mid-write)
//   shm_torn read UNIT N      exit 0 if no torn sample, 1 if any; stats on stdout
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "shmrefclock/shm.hpp"

using namespace shmrefclock;

namespace {

constexpr std::int64_t base_ns = 1'700'000'000'000'000'000;
constexpr std::int64_t step_ns = 1'000'000'007; // moves seconds and nanoseconds

struct Payload {
    std::int64_t reference_ns;
    std::int64_t receive_ns;
    int leap;
    int precision;
};

Payload payload(std::int64_t i) {
    const std::int64_t reference = base_ns + i * step_ns;
    return {reference, reference + 500'000'000 + (i % 1009) * 1000, static_cast<int>(i % 3),
            -1 - static_cast<int>(i % 29)};
}

// The i a sample was written as, or -1 when its fields are not one write's.
std::int64_t decode(const ShmSnapshot& snap) {
    const std::int64_t reference = timespec_to_ns(snap.sample.reference_time);
    const std::int64_t d = reference - base_ns;
    if (d <= 0 || d % step_ns != 0) {
        return -1;
    }
    const std::int64_t i = d / step_ns;
    const Payload p = payload(i);
    if (timespec_to_ns(snap.sample.receive_time) != p.receive_ns ||
        static_cast<int>(snap.sample.leap) != p.leap || snap.sample.precision != p.precision) {
        return -1;
    }
    return i;
}

int write_samples(int unit, std::int64_t n) {
    ShmWriter writer(unit);
    const auto start = std::chrono::steady_clock::now();
    for (std::int64_t i = 1; i <= n; ++i) {
        const Payload p = payload(i);
        writer.write(p.reference_ns, p.receive_ns, static_cast<Leap>(p.leap), p.precision);
        const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(2);
        while (std::chrono::steady_clock::now() < until) {
        }
    }
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    std::printf("{\"written\": %lld, \"seconds\": %.3f}\n", static_cast<long long>(n),
                took.count());
    // Stay attached (the last sample valid) until the reader has seen it.
    std::this_thread::sleep_for(std::chrono::seconds(2));
    return 0;
}

int read_samples(int unit, std::int64_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    std::optional<ShmReader> reader;
    while (!(reader = ShmReader::open(unit))) {
        if (std::chrono::steady_clock::now() > deadline) {
            std::fprintf(stderr, "shm_torn: unit %d never appeared\n", unit);
            return 2;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    long long reads = 0, busy = 0, withdrawn = 0, taken = 0, distinct = 0, torn = 0;
    std::int64_t last = 0;
    while (last != n) {
        if (std::chrono::steady_clock::now() > deadline) {
            std::fprintf(stderr, "shm_torn: sample %lld never seen\n", static_cast<long long>(n));
            return 2;
        }
        ++reads;
        auto snap = reader->read();
        if (!snap) {
            ++busy; // count changed three times running: a write in progress
            continue;
        }
        if (snap->valid != 1) {
            ++withdrawn; // mid-write or before the first: readers skip it
            continue;
        }
        ++taken;
        const std::int64_t i = decode(*snap);
        if (i < 0) {
            ++torn;
            continue;
        }
        if (i != last) {
            ++distinct;
            last = i;
        }
    }
    std::printf("{\"reads\": %lld, \"busy\": %lld, \"withdrawn\": %lld, \"taken\": %lld, "
                "\"distinct\": %lld, \"torn\": %lld}\n",
                reads, busy, withdrawn, taken, distinct, torn);
    return torn == 0 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s write|read UNIT N\n", argv[0]);
        return 2;
    }
    const std::string what = argv[1];
    const int unit = std::atoi(argv[2]);
    const std::int64_t n = std::atoll(argv[3]);
    try {
        if (what == "write") {
            return write_samples(unit, n);
        }
        if (what == "read") {
            return read_samples(unit, n);
        }
    } catch (const ShmError& e) {
        std::fprintf(stderr, "shm_torn: %s\n", e.what());
        return 2;
    }
    std::fprintf(stderr, "shm_torn: %s is neither write nor read\n", what.c_str());
    return 2;
}
