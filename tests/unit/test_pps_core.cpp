// The pps source's decisions with no device, thread or timer: which fetch
// results are pulses, how they are numbered and dropped, staleness and
// reopening (core/pps_core.hpp).
#include <catch2/catch.hpp>

#include <cerrno>

#include "core/pps_core.hpp"

using namespace shmrefclock;

namespace {

constexpr std::int64_t ms = 1'000'000;
constexpr time_t N = 1795262400; // 2026-11-21T12:00:00Z

// The kernel unsynchronized: no witness.
const KernelClock no_kernel{};
// A receiver that does not label its pulses (NMEA).
const std::optional<PulseLabel> no_label{};

Stamp handled_at(time_t sec, long nsec) {
    return Stamp{timespec{sec, nsec}, 0};
}

// An NMEA lock sample for second `second`, received 130 ms after it.
Sample lock_for(time_t second) {
    Sample lock;
    lock.reference_time = {second, 0};
    lock.receive_time = {second, 130 * ms};
    lock.leap = Leap::insert;
    return lock;
}

PpsFetch pulse(unsigned long sequence, time_t sec, long nsec = 20'000) {
    return PpsFetch{sequence, 0, timespec{sec, nsec}};
}

std::optional<TimerRequest> timer(const Actions& actions, TimerId id) {
    for (const auto& request : actions.timers) {
        if (request.id == id) {
            return request;
        }
    }
    return std::nullopt;
}

bool logged(const Actions& actions, const std::string& text) {
    for (const auto& message : actions.messages) {
        if (message.text.find(text) != std::string::npos) {
            return true;
        }
    }
    return false;
}

} // namespace

TEST_CASE("pps core: a pulse is numbered by the lock, with its leap, and arms the stale timer") {
    PpsCore core(PpsSettings{"/dev/pps0", "gps", PpsEdge::assert_edge});
    core.opened("/dev/pps0");
    const Actions actions =
        core.fetched(pulse(1, N + 1), lock_for(N), no_label, handled_at(N + 1, 25'000), no_kernel);
    REQUIRE(actions.publish);
    // The lock is told, so that it measures its latency from the pulse.
    REQUIRE(actions.lock_pulse);
    CHECK(actions.lock_pulse->edge.tv_sec == N + 1);
    CHECK(actions.lock_pulse->edge.tv_nsec == 20'000);
    CHECK(actions.lock_pulse->second.tv_sec == N + 1);
    CHECK(actions.lock_pulse->lock_sample.reference_time.tv_sec == N);
    CHECK(actions.publish->reference_time.tv_sec == N + 1);
    CHECK(actions.publish->reference_time.tv_nsec == 0);
    CHECK(actions.publish->receive_time.tv_nsec == 20'000);
    CHECK(actions.publish->leap == Leap::insert);
    CHECK_FALSE(actions.publish->pulse);
    const auto stale = timer(actions, TimerId::stale);
    REQUIRE(stale);
    // 2 s after the edge: the pulse was handled 5 us after it.
    CHECK(stale->after_ns == SourceRules::stale_after_ns - 5'000);
    CHECK(core.health() == "locked to gps");
    CHECK(core.counters().by_verdict[static_cast<std::size_t>(PulseVerdict::numbered)] == 1);
}

TEST_CASE("pps core: repeated sequence numbers are dropped and counted, other edges are not") {
    PpsCore core(PpsSettings{"/dev/pps0", "system", PpsEdge::assert_edge});
    core.opened("/dev/pps0");
    REQUIRE(
        core.fetched(pulse(7, N), std::nullopt, no_label, handled_at(N, ms), no_kernel).publish);
    // The same assert event again (a fetch that timed out with nothing new).
    Actions again =
        core.fetched(pulse(7, N), std::nullopt, no_label, handled_at(N, 2 * ms), no_kernel);
    CHECK_FALSE(again.publish);
    CHECK(core.counters().repeated == 1);
    CHECK(logged(again, "dropped: sequence 7 repeated"));
    // A wake-up for the clear edge: the clear sequence moved, ours did not.
    PpsFetch clear = pulse(7, N);
    clear.other_sequence = 1;
    CHECK_FALSE(
        core.fetched(clear, std::nullopt, no_label, handled_at(N, 3 * ms), no_kernel).publish);
    CHECK(core.counters().repeated == 1);
    // lock = system: chrony's SOCK numbers the second itself.
    const Actions next =
        core.fetched(pulse(8, N + 1), std::nullopt, no_label, handled_at(N + 1, ms), no_kernel);
    REQUIRE(next.publish);
    CHECK(next.publish->pulse);
    CHECK(next.publish->leap == Leap::none);
    CHECK_FALSE(next.lock_pulse); // no lock refclock to tell
}

TEST_CASE("pps core: a pulse 0.5 s off the lock's second is dropped with its values") {
    PpsCore core(PpsSettings{"/dev/pps0", "gps", PpsEdge::assert_edge});
    core.opened("/dev/pps0");
    // The lock says N at N + 0.13 s: a pulse at N + 0.63 s carries to N + 0.5.
    const Actions actions = core.fetched(pulse(1, N, 630 * ms), lock_for(N), no_label,
                                         handled_at(N, 631 * ms), no_kernel);
    CHECK_FALSE(actions.publish);
    CHECK(logged(actions, "dropped: lock time is more than 0.4 s from a second"));
    CHECK(logged(actions, "gps reference " + std::to_string(N) + ".000000000"));
    CHECK(core.health() == "no lock: pulses are more than 0.4 s from gps's second");
    CHECK(core.counters().by_verdict[static_cast<std::size_t>(PulseVerdict::outside_window)] == 1);
    // No lock sample at all.
    core.fetched(pulse(2, N + 1), std::nullopt, no_label, handled_at(N + 1, ms), no_kernel);
    CHECK(core.health() == "no lock: gps has no time");
}

TEST_CASE("pps core: stale withdraws once and waits for pulses again") {
    PpsCore core(PpsSettings{"/dev/pps0", "gps", PpsEdge::clear_edge});
    core.opened("/dev/pps0");
    REQUIRE(core.fetched(pulse(1, N + 1), lock_for(N), no_label, handled_at(N + 1, ms), no_kernel)
                .publish);
    const Actions stale = core.stale();
    CHECK(stale.withdraw);
    CHECK(core.health() == "waiting for pulses on /dev/pps0");
    CHECK_FALSE(core.stale().withdraw); // nothing left to withdraw
}

TEST_CASE("pps core: silence reopens at once, errors back off, pulses reset the back-off") {
    PpsCore core(PpsSettings{"", "gps", PpsEdge::assert_edge});
    const Actions silent = core.fetch_failed(ETIMEDOUT);
    CHECK(silent.close_device);
    REQUIRE(timer(silent, TimerId::reopen));
    CHECK(timer(silent, TimerId::reopen)->after_ns == 1);

    std::vector<std::int64_t> delays;
    for (int i = 0; i < 3; ++i) {
        const Actions failed = core.fetch_failed(ENODEV);
        CHECK(failed.close_device);
        delays.push_back(timer(failed, TimerId::reopen)->after_ns / ns_per_s);
    }
    CHECK(delays == std::vector<std::int64_t>{1, 2, 4});
    CHECK_THAT(core.health(), Catch::StartsWith("time_pps_fetch on "));
    CHECK_THAT(core.health(), Catch::EndsWith("(retrying in 4 s)"));

    core.opened("/dev/pps1");
    core.fetched(pulse(1, N + 1), lock_for(N), no_label, handled_at(N + 1, ms), no_kernel);
    const Actions failed = core.device_failed("no device /dev/pps1");
    CHECK(failed.withdraw);
    CHECK(timer(failed, TimerId::reopen)->after_ns == ns_per_s);
    CHECK(core.health() == "no device /dev/pps1 (retrying in 1 s)");
}

TEST_CASE("pps core: a clock step withdraws the pulse and drops pulses stamped before it") {
    // Done-when 4's PPS half. The lock refclock withdraws its own sample at
    // the step (NmeaCore::clock_stepped), so a pulse after it finds no lock
    // until a sample stamped on the new scale; a pulse whose edge the
    // kernel stamped before the step is dropped even numbered by the
    // system clock, which would otherwise number it on the new scale.
    for (const char* lock : {"gps", "system"}) {
        INFO(lock);
        PpsCore core(PpsSettings{"/dev/pps0", lock, PpsEdge::assert_edge});
        core.opened("/dev/pps0");
        REQUIRE(core.fetched(pulse(1, N + 1), lock_for(N), no_label, handled_at(N + 1, 25'000),
                             no_kernel)
                    .publish);
        // The clock steps back 0.5 s at old N + 1.6: the loop learns of it
        // at new N + 1.1 + 1 ms.
        const Actions stepped = core.clock_stepped(handled_at(N + 1, 101 * ms));
        CHECK(stepped.withdraw);
        CHECK(logged(stepped, "system clock stepped"));
        // The pulse at old N + 1.000 02 (before the step), handled after it.
        const Actions old_pulse = core.fetched(pulse(2, N + 1, 20'000), lock_for(N), no_label,
                                               handled_at(N + 1, 102 * ms), no_kernel);
        CHECK_FALSE(old_pulse.publish);
        CHECK(
            core.counters().by_verdict[static_cast<std::size_t>(PulseVerdict::before_clock_step)] ==
            1);
        // The next pulse, on the new scale (true N + 2 reads N + 1.5 - the
        // step was a correction of +0.5 s error, or an error; either way),
        // numbered by a lock sample stamped after the step.
        Sample fresh = lock_for(N + 1);
        fresh.receive_time = {N + 1, 140 * ms};
        const Actions next = core.fetched(pulse(3, N + 2, 30'000), fresh, no_label,
                                          handled_at(N + 2, 35'000), no_kernel);
        REQUIRE(next.publish);
        CHECK(next.publish->reference_time.tv_sec == N + 2);
    }
}

TEST_CASE("pps core counters: K pulses 0.5 s off, numbered ones and repeats, exactly") {
    PpsCore core(PpsSettings{"/dev/pps0", "gps", PpsEdge::assert_edge});
    core.opened("/dev/pps0");
    const std::size_t off_pulses = 4; // K
    const std::size_t good_pulses = 3;
    unsigned long sequence = 0;
    time_t second = N;
    for (std::size_t i = 0; i < good_pulses; ++i, ++second) {
        // The lock says `second` at +0.13 s; the pulse of second + 1.
        REQUIRE(core.fetched(pulse(++sequence, second + 1), lock_for(second), no_label,
                             handled_at(second + 1, ms), no_kernel)
                    .publish);
    }
    for (std::size_t i = 0; i < off_pulses; ++i, ++second) {
        // At +0.63 s: carried to half a second.
        CHECK_FALSE(core.fetched(pulse(++sequence, second, 630 * ms), lock_for(second), no_label,
                                 handled_at(second, 631 * ms), no_kernel)
                        .publish);
    }
    // The last fetch returned again with nothing new: a repeat.
    core.fetched(pulse(sequence, second - 1, 630 * ms), lock_for(second - 1), no_label,
                 handled_at(second - 1, 900 * ms), no_kernel);
    core.fetch_failed(EIO);
    const auto& counters = core.counters();
    const auto by = [&](PulseVerdict v) {
        return counters.by_verdict[static_cast<std::size_t>(v)];
    };
    CHECK(by(PulseVerdict::outside_window) == off_pulses);
    CHECK(by(PulseVerdict::numbered) == good_pulses);
    CHECK(counters.repeated == 1);
    CHECK(counters.device_opens == 1);
    CHECK(counters.device_failures == 1);
    std::uint64_t total = 0;
    for (const auto n : counters.by_verdict) {
        total += n;
    }
    CHECK(total == off_pulses + good_pulses);
    CHECK(name(PulseVerdict::outside_window) == "outside_window");
}

TEST_CASE("pps core: the kernel witness judges pulses as it judges NMEA samples") {
    // The lock names every second one second late (its sample is 2 s old at
    // most, or lock = "system" on a clock stepped wrong): the synchronized
    // kernel refuses the pulse; unsynchronized, there is no witness.
    PpsCore core(PpsSettings{"/dev/pps0", "gps", PpsEdge::assert_edge});
    core.opened("/dev/pps0");
    KernelClock kernel;
    kernel.synchronized = true;
    kernel.maxerror_ns = 10 * ms;
    Sample late = lock_for(N);
    late.receive_time = {N + 1, 130 * ms};
    const Actions refused =
        core.fetched(pulse(1, N + 1), late, no_label, handled_at(N + 1, 25'000), kernel);
    CHECK_FALSE(refused.publish);
    CHECK(core.counters().by_verdict[static_cast<std::size_t>(PulseVerdict::witness)] == 1);
    CHECK_THAT(core.health(), Catch::Contains("refused by the kernel witness"));
    CHECK(logged(refused, "(pulse) is 1.000 s behind"));
    const Actions right =
        core.fetched(pulse(2, N + 2), lock_for(N + 1), no_label, handled_at(N + 2, 25'000), kernel);
    REQUIRE(right.publish);
    CHECK(right.publish->reference_time.tv_sec == N + 2);
    kernel.synchronized = false;
    CHECK(
        core.fetched(pulse(3, N + 3), lock_for(N + 1), no_label, handled_at(N + 3, 25'000), kernel)
            .publish);
    CHECK(name(PulseVerdict::witness) == "witness");
}

// ---- Pulses labelled by the receiver (u-blox TIM-TP, issue 21) ----

namespace {

// TIM-TP sent with the epoch of `second` (its bytes from 130 ms after it):
// the next pulse is second + 1.
PulseLabel label_for(time_t second, std::optional<std::int32_t> q_err_ps) {
    PulseLabel label;
    label.second = {second + 1, 0};
    label.announced = {second, 130 * ms};
    label.q_err_ps = q_err_ps;
    return label;
}

} // namespace

TEST_CASE("pps core: a labelled pulse is numbered by its label and corrected by qErr") {
    PpsCore core(PpsSettings{"/dev/pps0", "gps", PpsEdge::assert_edge});
    core.opened("/dev/pps0");
    // The edge stamped 20 us after N + 1, qErr +10086 ps (u-blox-m8t-time's
    // largest). qErr is how early the edge came: the true second is the
    // edge + qErr (satpulse, gps/gpsprot/msg.go: "the true time of the top
    // of second is the time of the pulse plus the PulseOffset", which its
    // u-blox driver sets to qErr; the same sign in clkPoC's F9T correction,
    // pairQerr.py: gnsTs.refTs + qErr). So the sample's receive time, the
    // system clock at the true second, is 20 us + 10.086 ns.
    const Actions actions = core.fetched(pulse(1, N + 1), lock_for(N), label_for(N, 10086),
                                         handled_at(N + 1, ms), no_kernel);
    REQUIRE(actions.publish);
    CHECK(actions.publish->reference_time.tv_sec == N + 1);
    CHECK(actions.publish->receive_time.tv_sec == N + 1);
    CHECK(actions.publish->receive_time.tv_nsec == 20'000 + 10);
    CHECK(core.counters().labelled == 1);
    CHECK(core.counters().q_err_applied == 1);
    CHECK(core.last_q_err_ps() == 10086);
    // A negative qErr: the edge came late, the true second before it.
    const Actions late = core.fetched(pulse(2, N + 2), lock_for(N + 1), label_for(N + 1, -10158),
                                      handled_at(N + 2, ms), no_kernel);
    REQUIRE(late.publish);
    CHECK(late.publish->receive_time.tv_nsec == 20'000 - 10);
    // qErr not valid (qErrInvalid): labelled, not corrected.
    const Actions invalid =
        core.fetched(pulse(3, N + 3), lock_for(N + 2), label_for(N + 2, std::nullopt),
                     handled_at(N + 3, ms), no_kernel);
    REQUIRE(invalid.publish);
    CHECK(invalid.publish->receive_time.tv_nsec == 20'000);
    CHECK(core.counters().labelled == 3);
    CHECK(core.counters().q_err_applied == 2);
}

TEST_CASE("pps core: a label that names another second than the fix drops the pulse") {
    PpsCore core(PpsSettings{"/dev/pps0", "gps", PpsEdge::assert_edge});
    core.opened("/dev/pps0");
    // The fix carried to the pulse says N + 1, the TIM-TP before it N + 2:
    // one of them is a wrong second.
    PulseLabel wrong = label_for(N, 0);
    wrong.second = {N + 2, 0};
    const Actions actions =
        core.fetched(pulse(1, N + 1), lock_for(N), wrong, handled_at(N + 1, ms), no_kernel);
    CHECK_FALSE(actions.publish);
    CHECK(core.counters().by_verdict.at(static_cast<std::size_t>(PulseVerdict::label_disagrees)) ==
          1);
    CHECK(logged(actions, "labelled it"));
    CHECK(core.health().find("TIM-TP") != std::string::npos);
}

TEST_CASE("pps core: a pulse the receiver says is not locked to GNSS is withheld") {
    PpsCore core(PpsSettings{"/dev/pps0", "gps", PpsEdge::assert_edge});
    core.opened("/dev/pps0");
    PulseLabel unlocked = label_for(N, 0);
    unlocked.locked = false; // TIM-TP TpNotLocked
    const Actions actions =
        core.fetched(pulse(1, N + 1), lock_for(N), unlocked, handled_at(N + 1, ms), no_kernel);
    CHECK_FALSE(actions.publish);
    CHECK(core.counters().by_verdict.at(static_cast<std::size_t>(PulseVerdict::not_locked)) == 1);
    CHECK(core.health().find("not locked to GNSS") != std::string::npos);
    // Locked again: published.
    const Actions locked = core.fetched(pulse(2, N + 2), lock_for(N + 1), label_for(N + 1, 0),
                                        handled_at(N + 2, ms), no_kernel);
    CHECK(locked.publish);
}

TEST_CASE("pps core: the receiver's tAcc goes with a labelled pulse") {
    PpsCore core(PpsSettings{"/dev/pps0", "gps", PpsEdge::assert_edge});
    core.opened("/dev/pps0");
    PulseLabel label = label_for(N, 0);
    label.t_acc_ns = 3'000;
    const Actions actions =
        core.fetched(pulse(1, N + 1), lock_for(N), label, handled_at(N + 1, ms), no_kernel);
    REQUIRE(actions.publish);
    CHECK(actions.publish_accuracy_ns == 3'000);
    // Without a label (NMEA only): none.
    const Actions unlabelled =
        core.fetched(pulse(2, N + 2), lock_for(N + 1), no_label, handled_at(N + 2, ms), no_kernel);
    REQUIRE(unlabelled.publish);
    CHECK_FALSE(unlabelled.publish_accuracy_ns);
}

TEST_CASE("precision from a receiver's accuracy: the smallest power of two seconds not below it") {
    // 2^-30 s = 0.931 ns, 2^-29 s = 1.863 ns, 2^-25 s = 29.80 ns,
    // 2^-9 s = 1.953 ms, 2^-8 s = 3.906 ms, 2^0 = 1 s, 2^2 = 4 s, 2^3 = 8 s.
    CHECK(precision_for_accuracy(0) == -30);
    CHECK(precision_for_accuracy(1) == -29);
    CHECK(precision_for_accuracy(20) == -25);
    CHECK(precision_for_accuracy(29) == -25);
    CHECK(precision_for_accuracy(30) == -24);
    CHECK(precision_for_accuracy(1'953'125) == -9); // exactly 2^-9 s
    CHECK(precision_for_accuracy(2'000'000) == -8);
    CHECK(precision_for_accuracy(1'000'000'000) == 0);
    CHECK(precision_for_accuracy(1'000'000'001) == 1);
    // u-blox's largest tAcc, 2^32 - 1 ns = 4.29 s, and beyond: at most 3.
    CHECK(precision_for_accuracy(4'294'967'295) == 3);
    CHECK(precision_for_accuracy(std::int64_t{1} << 62) == 3);
}

TEST_CASE("pps core: a label announced after the edge, or long before it, is not this pulse's") {
    PpsCore core(PpsSettings{"/dev/pps0", "gps", PpsEdge::assert_edge});
    core.opened("/dev/pps0");
    // Announced 1 ms after the edge (a label of the next pulse, read before
    // this one was handled): not used, the fix numbers the pulse.
    PulseLabel after = label_for(N + 1, 5000);
    after.announced = {N + 1, 1 * ms};
    const Actions a =
        core.fetched(pulse(1, N + 1), lock_for(N), after, handled_at(N + 1, 2 * ms), no_kernel);
    REQUIRE(a.publish);
    CHECK(a.publish->reference_time.tv_sec == N + 1);
    CHECK(a.publish->receive_time.tv_nsec == 20'000);
    // Announced 1.3 s before the edge (a pulse lost in between): not used.
    PulseLabel old = label_for(N, 5000);
    old.announced = {N, 720 * ms};
    const Actions b =
        core.fetched(pulse(2, N + 2), lock_for(N + 1), old, handled_at(N + 2, ms), no_kernel);
    REQUIRE(b.publish);
    CHECK(b.publish->receive_time.tv_nsec == 20'000);
    CHECK(core.counters().labelled == 0);
}

TEST_CASE("pps core: a labelled pulse carries the receiver's leap for its own second") {
    PpsCore core(PpsSettings{"/dev/pps0", "gps", PpsEdge::assert_edge});
    core.opened("/dev/pps0");
    // The lock's sample of 23:59:59 on December 30 carries its day's leap
    // (none here: lock_for's insert cleared); the pulse of 00:00:00 on
    // December 31 is the label's, with that day's insert.
    Sample lock = lock_for(N);
    lock.leap = Leap::none;
    PulseLabel label = label_for(N, 0);
    label.leap = Leap::insert;
    const Actions actions =
        core.fetched(pulse(1, N + 1), lock, label, handled_at(N + 1, ms), no_kernel);
    REQUIRE(actions.publish);
    CHECK(actions.publish->leap == Leap::insert);
    // Not labelled: the lock's.
    const Actions plain =
        core.fetched(pulse(2, N + 2), lock_for(N + 1), no_label, handled_at(N + 2, ms), no_kernel);
    REQUIRE(plain.publish);
    CHECK(plain.publish->leap == Leap::insert);
}
