#include "core/witness.hpp"

#include <cstdlib>
#include <limits>

#include <fmt/format.h>

#include "core/time_format.hpp"
#include "shmrefclock/sample.hpp"

namespace shmrefclock {

namespace {

constexpr std::int64_t max_ns = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t ns_per_ms = 1'000'000;

std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
    std::int64_t sum = 0;
    if (__builtin_add_overflow(a, b, &sum)) {
        return b > 0 ? max_ns : -max_ns;
    }
    return sum;
}

std::int64_t magnitude(std::int64_t v) {
    return v < 0 ? (v == std::numeric_limits<std::int64_t>::min() ? max_ns : -v) : v;
}

} // namespace

std::int64_t saturating_diff_ns(timespec a, timespec b) {
    // A receiver can say year 9999 (or worse, in a ZDA): the library's
    // difference saturates rather than wrapping.
    return timespec_diff_ns(a, b);
}

std::string describe_difference(std::int64_t difference_ns) {
    const std::int64_t size = magnitude(difference_ns);
    const char* side = difference_ns < 0 ? "behind" : "ahead of";
    constexpr std::int64_t ns_per_day = 86'400 * ns_per_s;
    if (size >= 2 * 365 * ns_per_day) {
        return fmt::format("{:.1f} years {}", static_cast<double>(size) / (365.2425 * ns_per_day),
                           side);
    }
    if (size >= 2 * ns_per_day) {
        return fmt::format("{:.1f} days {}", static_cast<double>(size) / ns_per_day, side);
    }
    return fmt::format("{}.{:03} s {}", size / ns_per_s, (size % ns_per_s) / ns_per_ms, side);
}

std::int64_t witness_bound_ns(const KernelClock& kernel) {
    return saturating_add(kernel.maxerror_ns < 0 ? 0 : kernel.maxerror_ns, witness_margin_ns);
}

WitnessVerdict judge_witness(const WitnessSettings& settings, const KernelClock& kernel,
                             timespec reference, timespec receive) {
    WitnessVerdict v;
    v.difference_ns = saturating_add(saturating_diff_ns(reference, receive), settings.latency_ns);
    v.bound_ns = witness_bound_ns(kernel);
    if (!settings.enabled) {
        v.kind = WitnessVerdict::Kind::off;
    } else if (!kernel.synchronized) {
        // A Raspberry Pi without an RTC at boot, or this daemon the only
        // source: the clock knows nothing the receiver does not.
        v.kind = WitnessVerdict::Kind::no_witness;
    } else {
        v.kind = magnitude(v.difference_ns) > v.bound_ns ? WitnessVerdict::Kind::disagree
                                                         : WitnessVerdict::Kind::agree;
    }
    return v;
}

std::string_view name(WitnessVerdict::Kind kind) {
    switch (kind) {
    case WitnessVerdict::Kind::agree:
        return "agree";
    case WitnessVerdict::Kind::disagree:
        return "disagree";
    case WitnessVerdict::Kind::no_witness:
        return "no_witness";
    case WitnessVerdict::Kind::off:
        return "off";
    }
    return "invalid";
}

WitnessState Witness::state() const {
    WitnessState state;
    state.enabled = settings_.enabled;
    state.synchronized = kernel_.synchronized;
    state.maxerror_ns = kernel_.maxerror_ns;
    state.bound_ns = witness_bound_ns(kernel_);
    if (counters_.agreed + counters_.refused + counters_.unwitnessed > 0) {
        state.verdict =
            WitnessVerdictState{std::string(name(last_.kind)), last_.difference_ns, last_.bound_ns};
    }
    return state;
}

void Witness::end_run(Actions& actions, const WitnessVerdict& verdict) {
    if (run_ == 0) {
        return;
    }
    actions.log(MessageLevel::info,
                verdict.kind == WitnessVerdict::Kind::agree
                    ? fmt::format("receiver agrees with the kernel witness again after {} refused "
                                  "cycles",
                                  run_)
                    : fmt::format("kernel clock no longer synchronized: receiver believed "
                                  "without a witness after {} refused cycles",
                                  run_));
    run_ = 0;
}

bool Witness::allows(Actions& actions, timespec reference, timespec receive, std::int64_t now_ns,
                     std::string_view what) {
    last_ = judge_witness(settings_, kernel_, reference, receive);
    switch (last_.kind) {
    case WitnessVerdict::Kind::agree:
        ++counters_.agreed;
        end_run(actions, last_);
        return true;
    case WitnessVerdict::Kind::no_witness:
    case WitnessVerdict::Kind::off:
        ++counters_.unwitnessed;
        end_run(actions, last_);
        return true;
    case WitnessVerdict::Kind::disagree:
        break;
    }
    ++counters_.refused;
    ++run_;
    const std::string how = describe_difference(last_.difference_ns);
    const double maxerror_s = static_cast<double>(kernel_.maxerror_ns) / 1e9;
    if (run_ == 1) {
        actions.log(MessageLevel::warn,
                    fmt::format("receiver time {} ({}) is {} the system clock, which the kernel "
                                "says is synchronized (maxerror {:.3f} s): not published while "
                                "they disagree by more than {:.3f} s (docs/design.md, \"Evidence "
                                "for a receiver's time\"; witness = false turns this off)",
                                format_utc(reference), what, how, maxerror_s,
                                static_cast<double>(last_.bound_ns) / 1e9));
        run_logged_ns_ = now_ns;
    } else if (now_ns - run_logged_ns_ >= log_every_ns) {
        actions.log(MessageLevel::warn,
                    fmt::format("still refused by the kernel witness: {} cycles in a row; the "
                                "receiver is now {} the system clock (maxerror {:.3f} s)",
                                run_, how, maxerror_s));
        run_logged_ns_ = now_ns;
    }
    health_ = fmt::format("refused by the kernel witness: receiver {} the synchronized system "
                          "clock (bound {:.3f} s); {} cycles refused",
                          how, static_cast<double>(last_.bound_ns) / 1e9, counters_.refused);
    return false;
}

} // namespace shmrefclock
