// Which second a PPS pulse gets, and why a pulse is dropped (docs/design.md,
// "PPS: numbering a pulse"). Expected values are written out by hand from the rule
// (carried = lock reference + (pulse − lock receive), rounded to the nearest
// second, kept within 0.4 s), or computed by integer floor division where a
// sweep needs many.
#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "core/pps_numbering.hpp"

using namespace shmrefclock;

namespace {

constexpr time_t N = 1'700'000'000; // the second the pulses mark

timespec at(time_t sec, long nsec = 0) {
    return timespec{sec, nsec};
}

Sample lock_sample(timespec reference, timespec receive, Leap leap = Leap::none) {
    Sample s;
    s.reference_time = reference;
    s.receive_time = receive;
    s.leap = leap;
    return s;
}

// Handled promptly: 50 µs after the pulse.
timespec soon_after(timespec pulse) {
    pulse.tv_nsec += 50'000;
    if (pulse.tv_nsec >= 1'000'000'000) {
        pulse.tv_nsec -= 1'000'000'000;
        ++pulse.tv_sec;
    }
    return pulse;
}

bool same(timespec a, timespec b) {
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

PulseNumbering by_lock(timespec pulse, const std::optional<Sample>& lock) {
    return number_pulse(pulse, lock, soon_after(pulse));
}

} // namespace

TEST_CASE("a fresh NMEA-style lock numbers the pulse with its second") {
    // NMEA for N-1 received at N-1 + 0.3000001 s, calibrated with offset 0.3:
    // the lock's reference is N-1 + 0.3. The edge comes 20 µs after N.
    const auto lock = lock_sample(at(N - 1, 300'000'000), at(N - 1, 300'000'100));
    const auto pulse = at(N, 20'000);
    const auto n = by_lock(pulse, lock);
    REQUIRE(n.verdict == PulseVerdict::numbered);
    CHECK(same(n.second, at(N)));
    // age = 1 s + 20 µs − 0.3000001 s = 0.7000199 s
    CHECK(n.lock_age_ns == 700'019'900);
    // carried = N-1 + 0.3 + 0.7000199 = N + 19.9 µs
    CHECK(same(n.carried, at(N, 19'900)));
    CHECK(n.residual_ns == 19'900);
}

TEST_CASE("no lock sample: dropped") {
    const auto n = by_lock(at(N, 20'000), std::nullopt);
    CHECK(n.verdict == PulseVerdict::no_lock_time);
}

TEST_CASE("a lock sample exactly 2 s old is used, one older is stale") {
    const auto pulse = at(N, 20'000);
    // Reference == receive (a lock with no offset), received exactly 2 s
    // before the pulse.
    const auto two_s = lock_sample(at(N - 2, 20'000), at(N - 2, 20'000));
    auto n = by_lock(pulse, two_s);
    REQUIRE(n.verdict == PulseVerdict::numbered);
    CHECK(n.lock_age_ns == 2'000'000'000);
    CHECK(same(n.second, at(N)));

    const auto older = lock_sample(at(N - 2, 19'999), at(N - 2, 19'999));
    n = by_lock(pulse, older);
    CHECK(n.verdict == PulseVerdict::lock_stale);
    CHECK(n.lock_age_ns == 2'000'000'001);

    // Much older: a lock refclock sampling every 10 s.
    n = by_lock(pulse, lock_sample(at(N - 9, 500), at(N - 9, 500)));
    CHECK(n.verdict == PulseVerdict::lock_stale);
}

TEST_CASE("a lock sample received after the pulse counts, up to 2 s after") {
    const auto pulse = at(N, 20'000);
    // Received 1 ms after the edge, before the loop handled the pulse: the
    // carry runs backwards, which is just as valid.
    auto n = number_pulse(pulse, lock_sample(at(N, 1'020'000), at(N, 1'020'000)), at(N, 2'000'000));
    REQUIRE(n.verdict == PulseVerdict::numbered);
    CHECK(n.lock_age_ns == -1'000'000);
    CHECK(same(n.carried, pulse));
    CHECK(same(n.second, at(N)));

    // Exactly 2 s after: accepted (the pulse was handled late, but < 2 s).
    n = number_pulse(pulse, lock_sample(at(N + 2, 20'000), at(N + 2, 20'000)), at(N + 2, 20'000));
    CHECK(n.verdict == PulseVerdict::numbered);
    // 1 ns more: refused, like chrony's |samplediff| >= 2 s. (Handled at
    // 2 s, so the pulse itself is not late; only a clock step makes this.)
    n = number_pulse(pulse, lock_sample(at(N + 2, 20'001), at(N + 2, 20'001)), at(N + 2, 20'000));
    CHECK(n.verdict == PulseVerdict::lock_in_future);
    CHECK(n.lock_age_ns == -2'000'000'001);
}

TEST_CASE("a pulse handled more than 2 s after its edge is late") {
    const auto pulse = at(N, 20'000);
    const auto lock = lock_sample(at(N, 10'000), at(N, 10'000));
    CHECK(number_pulse(pulse, lock, at(N + 2, 20'000)).verdict == PulseVerdict::numbered);
    CHECK(number_pulse(pulse, lock, at(N + 2, 20'001)).verdict == PulseVerdict::pulse_late);
    CHECK(number_pulse_by_system_clock(pulse, at(N + 2, 20'000)).verdict == PulseVerdict::numbered);
    CHECK(number_pulse_by_system_clock(pulse, at(N + 2, 20'001)).verdict ==
          PulseVerdict::pulse_late);
}

TEST_CASE("the 0.4 s window: exactly 0.4 s is accepted on both sides") {
    // A lock whose reference == receive, sampled at the pulse: carried is
    // the lock's own reference time.
    auto carried_at = [](timespec carried) {
        // Lock received 0.1 s before the pulse; its reference is then
        // carried − 0.1 s.
        const auto pulse = at(N, 0);
        const auto receive = at(N - 1, 900'000'000);
        timespec reference = carried;
        reference.tv_nsec -= 100'000'000;
        if (reference.tv_nsec < 0) {
            reference.tv_nsec += 1'000'000'000;
            --reference.tv_sec;
        }
        return by_lock(pulse, lock_sample(reference, receive));
    };
    auto n = carried_at(at(N, 400'000'000));
    REQUIRE(n.verdict == PulseVerdict::numbered);
    CHECK(same(n.second, at(N)));
    CHECK(n.residual_ns == 400'000'000);

    n = carried_at(at(N, 400'000'001));
    CHECK(n.verdict == PulseVerdict::outside_window);
    CHECK(n.residual_ns == 400'000'001);

    n = carried_at(at(N - 1, 600'000'000)); // N − 0.4 s
    REQUIRE(n.verdict == PulseVerdict::numbered);
    CHECK(same(n.second, at(N)));
    CHECK(n.residual_ns == -400'000'000);

    n = carried_at(at(N - 1, 599'999'999)); // N − 0.400000001 s
    CHECK(n.verdict == PulseVerdict::outside_window);
    CHECK(n.residual_ns == -400'000'001);

    // Half a second: as far from N as from N+1, outside either way.
    n = carried_at(at(N, 500'000'000));
    CHECK(n.verdict == PulseVerdict::outside_window);
    n = carried_at(at(N, 499'999'999));
    CHECK(n.verdict == PulseVerdict::outside_window);
}

TEST_CASE("rounding across a second boundary") {
    // Carried time 0.3 s before N (tv_sec is N-1): the pulse marks N.
    const auto lock = lock_sample(at(N - 1, 400'000'000), at(N - 1, 700'000'000));
    const auto pulse = at(N - 1, 999'980'000); // an edge 20 µs early
    const auto n = by_lock(pulse, lock);
    REQUIRE(n.verdict == PulseVerdict::numbered);
    // carried = N-1 + 0.4 + (0.99998 − 0.7) = N-1 + 0.69998 → N, −0.30002 s
    CHECK(same(n.carried, at(N - 1, 699'980'000)));
    CHECK(same(n.second, at(N)));
    CHECK(n.residual_ns == -300'020'000);
}

TEST_CASE("the lock's offset decides the second: negative and positive") {
    const auto pulse = at(N, 20'000);
    const auto receive = at(N - 1, 600'000'000); // lock received 0.40002 s earlier
    struct Case {
        long long lock_offset_ns; // lock reference − lock receive
        PulseVerdict verdict;
        time_t second;
        std::int64_t residual_ns;
    };
    const Case cases[] = {
        // carried = pulse + lock offset; N + 20 µs + offset
        {0, PulseVerdict::numbered, N, 20'000},
        {300'000'000, PulseVerdict::numbered, N, 300'020'000},
        {-300'000'000, PulseVerdict::numbered, N, -299'980'000},
        {380'000'000, PulseVerdict::numbered, N, 380'020'000},
        {-400'020'000, PulseVerdict::numbered, N, -400'000'000},
        {-400'020'001, PulseVerdict::outside_window, 0, -400'000'001},
        {500'000'000, PulseVerdict::outside_window, 0, -499'980'000},
        // N − 0.49998 s: rounds to N, still outside.
        {-500'000'000, PulseVerdict::outside_window, 0, -499'980'000},
        {600'000'000, PulseVerdict::numbered, N + 1, -399'980'000},
        // A lock that is a whole second off ("off by one") numbers every
        // pulse one second off: the lock's time is trusted, not checked.
        {-1'000'000'000, PulseVerdict::numbered, N - 1, 20'000},
        {1'000'000'000, PulseVerdict::numbered, N + 1, 20'000},
    };
    for (const auto& c : cases) {
        CAPTURE(c.lock_offset_ns);
        const std::int64_t ref_ns = static_cast<std::int64_t>(receive.tv_sec) * 1'000'000'000 +
                                    receive.tv_nsec + c.lock_offset_ns;
        const auto reference = at(static_cast<time_t>(ref_ns / 1'000'000'000),
                                  static_cast<long>(ref_ns % 1'000'000'000));
        const auto n = by_lock(pulse, lock_sample(reference, receive));
        CHECK(n.verdict == c.verdict);
        if (c.verdict == PulseVerdict::numbered) {
            CHECK(same(n.second, at(c.second)));
        }
        CHECK(n.residual_ns == c.residual_ns);
    }
}

TEST_CASE("lock = system: the pulse's own time is rounded") {
    auto n = number_pulse_by_system_clock(at(N, 20'000), at(N, 100'000));
    REQUIRE(n.verdict == PulseVerdict::numbered);
    CHECK(same(n.second, at(N)));
    CHECK(same(n.carried, at(N, 20'000)));
    CHECK(n.residual_ns == 20'000);
    CHECK(n.lock_age_ns == 0);

    n = number_pulse_by_system_clock(at(N - 1, 999'980'000), at(N, 100'000));
    REQUIRE(n.verdict == PulseVerdict::numbered);
    CHECK(same(n.second, at(N)));
    CHECK(n.residual_ns == -20'000);

    // A pulse half a second off the system clock's second.
    n = number_pulse_by_system_clock(at(N, 500'020'000), at(N, 600'000'000));
    CHECK(n.verdict == PulseVerdict::outside_window);
    CHECK(n.residual_ns == -499'980'000);

    n = number_pulse_by_system_clock(at(N, 400'000'000), at(N, 500'000'000));
    CHECK(n.verdict == PulseVerdict::numbered);
    n = number_pulse_by_system_clock(at(N, 400'000'001), at(N, 500'000'000));
    CHECK(n.verdict == PulseVerdict::outside_window);
}

TEST_CASE("sweep: every carried offset in [-1.5 s, 1.5 s] against floor division") {
    // Step ~7.8 ms plus the boundaries ±1 ns; the expected second is
    // floor((x + 0.5 s) / 1 s) computed on integer nanoseconds from N.
    constexpr std::int64_t s = 1'000'000'000;
    std::set<std::int64_t> offsets;
    for (std::int64_t x = -1'500'000'000; x <= 1'500'000'000; x += 7'777'777) {
        offsets.insert(x);
    }
    for (std::int64_t k = -1; k <= 1; ++k) {
        for (std::int64_t edge : {-500'000'000LL, -400'000'000LL, 400'000'000LL, 500'000'000LL}) {
            for (std::int64_t d = -1; d <= 1; ++d) {
                offsets.insert(k * s + edge + d);
            }
        }
    }
    for (const std::int64_t x : offsets) {
        CAPTURE(x);
        const auto floor_div = [](std::int64_t a, std::int64_t b) {
            return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
        };
        const std::int64_t second = floor_div(x + s / 2, s);
        const std::int64_t residual = x - second * s;
        const bool inside = residual >= -400'000'000 && residual <= 400'000'000;
        const std::int64_t pulse_ns = static_cast<std::int64_t>(N) * s + x;
        const auto pulse = at(static_cast<time_t>(floor_div(pulse_ns, s)),
                              static_cast<long>(pulse_ns - floor_div(pulse_ns, s) * s));

        const auto by_system = number_pulse_by_system_clock(pulse, soon_after(pulse));
        CHECK(by_system.residual_ns == residual);
        CHECK((by_system.verdict == PulseVerdict::numbered) == inside);
        if (inside) {
            CHECK(same(by_system.second, at(N + static_cast<time_t>(second))));
        }

        // The same through a lock received exactly at N with no offset
        // (ages within ±1.5 s, all accepted).
        const auto by_ref = by_lock(pulse, lock_sample(at(N), at(N)));
        CHECK(by_ref.residual_ns == residual);
        CHECK((by_ref.verdict == PulseVerdict::numbered) == inside);
        if (inside) {
            CHECK(same(by_ref.second, at(N + static_cast<time_t>(second))));
        }
    }
}

TEST_CASE("every verdict has its own phrase") {
    std::set<std::string> phrases;
    for (std::size_t i = 0; i < pulse_verdict_count; ++i) {
        const auto phrase = std::string(to_string(static_cast<PulseVerdict>(i)));
        CHECK(!phrase.empty());
        CHECK(phrase != "?");
        phrases.insert(phrase);
    }
    CHECK(phrases.size() == pulse_verdict_count);
}
