#include "tools/status_report.hpp"

#include <sys/timex.h>

#include <fmt/format.h>

#include "core/time_format.hpp"

namespace shmrefclock {

// The kernel's names (include/uapi/linux/timex.h), which ntptime also prints
// without the STA_ prefix.
const StatusBit status_bits[16] = {
    {STA_PLL, "STA_PLL"},
    {STA_PPSFREQ, "STA_PPSFREQ"},
    {STA_PPSTIME, "STA_PPSTIME"},
    {STA_FLL, "STA_FLL"},
    {STA_INS, "STA_INS"},
    {STA_DEL, "STA_DEL"},
    {STA_UNSYNC, "STA_UNSYNC"},
    {STA_FREQHOLD, "STA_FREQHOLD"},
    {STA_PPSSIGNAL, "STA_PPSSIGNAL"},
    {STA_PPSJITTER, "STA_PPSJITTER"},
    {STA_PPSWANDER, "STA_PPSWANDER"},
    {STA_PPSERROR, "STA_PPSERROR"},
    {STA_CLOCKERR, "STA_CLOCKERR"},
    {STA_NANO, "STA_NANO"},
    {STA_MODE, "STA_MODE"},
    {STA_CLK, "STA_CLK"},
};

namespace {

constexpr std::string_view state_names[] = {"TIME_OK",  "TIME_INS",  "TIME_DEL",
                                            "TIME_OOP", "TIME_WAIT", "TIME_ERROR"};

LeapView leap_view(const StatusReport& report) {
    const std::int64_t now = report.now.tv_sec;
    const LeapListLoad& load = report.leap_seconds.load;
    LeapView view{leap_list_state(load, now),
                  describe(load, now),
                  leap_announcement(load, now),
                  std::nullopt,
                  {}};
    if (load.list) {
        view.next = next_leap_event(*load.list, now);
    }
    // The daemon's view of the kernel's bits (io/kernel_clock), as LeapList
    // compares them when it logs a disagreement.
    const KernelClock clock = kernel_clock_from(report.kernel);
    view.disagreement =
        kernel_leap_disagreement(view.announcing, clock.leap_insert, clock.leap_delete);
    return view;
}

WitnessView witness_view(const StatusReport& report) {
    const KernelTimex& k = report.kernel;
    WitnessView view;
    view.clock = kernel_clock_from(k);
    view.bound_ns = witness_bound_ns(view.clock);
    if (view.clock.synchronized) {
        view.why =
            fmt::format("kernel synchronized ({}, STA_UNSYNC clear)", clock_state_name(k.state));
    } else {
        std::vector<std::string> reasons;
        if (k.state == TIME_ERROR) {
            reasons.emplace_back("state TIME_ERROR");
        }
        if ((k.status & STA_UNSYNC) != 0) {
            reasons.emplace_back("STA_UNSYNC set");
        }
        view.why = fmt::format("kernel not synchronized ({})", fmt::join(reasons, ", "));
    }
    for (const auto& rc : report.refclocks) {
        if (!rc.witness) {
            view.disabled.push_back(rc.name);
        }
    }
    return view;
}

std::optional<WitnessVerdict::Kind> verdict_kind(std::string_view text) {
    for (const auto kind : {WitnessVerdict::Kind::agree, WitnessVerdict::Kind::disagree,
                            WitnessVerdict::Kind::no_witness, WitnessVerdict::Kind::off}) {
        if (name(kind) == text) {
            return kind;
        }
    }
    return std::nullopt;
}

// The daemon's verdict on the refclock `name`, when it has judged one.
std::optional<WitnessVerdict> daemon_verdict(const DaemonState& daemon, const std::string& name) {
    for (const RefclockState& rc : daemon.refclocks) {
        if (rc.name != name || !rc.witness() || !rc.witness()->verdict) {
            continue;
        }
        const WitnessVerdictState& said = *rc.witness()->verdict;
        if (const auto kind = verdict_kind(said.kind)) {
            return WitnessVerdict{*kind, said.difference_ns, said.bound_ns};
        }
    }
    return std::nullopt;
}

// Without the daemon: the witness on the segment's current sample, as the
// daemon would judge it now. The published reference already includes the
// refclock's `offset` (Refclock::publish), and the receive time is the
// system clock's stamp, so the latency is 0 here.
std::optional<WitnessVerdict> computed_verdict(const RefclockStatus& rc, const KernelClock& clock) {
    if (!rc.unit || !rc.unit->snapshot || rc.unit->snapshot->valid != 1) {
        return std::nullopt;
    }
    const Sample& sample = rc.unit->snapshot->sample;
    return judge_witness(WitnessSettings{rc.witness, 0}, clock, sample.reference_time,
                         sample.receive_time);
}

} // namespace

std::string clock_state_name(int state) {
    if (state >= 0 && state < static_cast<int>(std::size(state_names))) {
        return std::string(state_names[state]);
    }
    return fmt::format("TIME_#{}", state);
}

std::string_view state_meaning(int state) {
    switch (state) {
    case TIME_OK:
        return "clock synchronized, no leap second pending";
    case TIME_INS:
        return "a leap second will be inserted at the end of the UTC day";
    case TIME_DEL:
        return "a leap second will be deleted at the end of the UTC day";
    case TIME_OOP:
        return "leap second in progress";
    case TIME_WAIT:
        return "a leap second has occurred";
    case TIME_ERROR:
        // Returned while the clock is unsynchronized (STA_UNSYNC or
        // STA_CLOCKERR) or the PPS signal is in error in a mode that uses it.
        return "clock not synchronized (or PPS in error)";
    default:
        return "unknown";
    }
}

std::string_view leap_name(Leap leap) {
    switch (leap) {
    case Leap::none:
        return "none";
    case Leap::insert:
        return "insert";
    case Leap::remove:
        return "delete";
    case Leap::unsynchronized:
        return "unsynchronized";
    }
    return "invalid";
}

long long kernel_ns(const KernelTimex& k, long value) {
    return (k.status & STA_NANO) ? value : static_cast<long long>(value) * 1000;
}

double kernel_ppm(long scaled) {
    return static_cast<double>(scaled) / 65536.0;
}

timespec kernel_time(const KernelTimex& k) {
    return timespec{k.time_sec, static_cast<long>(kernel_ns(k, k.time_frac))};
}

std::vector<std::string_view> set_bits(unsigned status) {
    std::vector<std::string_view> names;
    for (const auto& bit : status_bits) {
        if (status & bit.mask) {
            names.push_back(bit.name);
        }
    }
    return names;
}

std::string key_text(int unit) {
    return fmt::format("{:#010x}", static_cast<unsigned>(shm_key(unit)));
}

bool never_written(const ShmSnapshot& snap) {
    return snap.count == 0 && snap.sample.receive_time.tv_sec == 0 &&
           snap.sample.receive_time.tv_nsec == 0;
}

// The kernel keeps shift in 2..8 (PPS_INTMIN..PPS_INTMAX, kernel/time/ntp.c)
// and reports 0 when built without CONFIG_NTP_PPS, where the PPS fields are
// all unused zeros.
std::string pps_interval(int shift) {
    if (shift == 0) {
        return "none (shift 0: kernel without CONFIG_NTP_PPS, hardpps unavailable)";
    }
    if (shift < 0 || shift > 30) {
        return fmt::format("? (shift {})", shift);
    }
    return fmt::format("{} s (shift {})", 1L << shift, shift);
}

std::string date_of(std::int64_t posix_seconds) {
    return format_utc(timespec{static_cast<time_t>(posix_seconds), 0}, 0).substr(0, 10);
}

std::string describe_event(const LeapEvent& event) {
    return fmt::format("{} at the end of {}", event.kind == Leap::insert ? "insertion" : "deletion",
                       date_of(event.at - seconds_per_day));
}

StatusAnalysis analyze(const StatusReport& report) {
    StatusAnalysis analysis{leap_view(report), witness_view(report), {}};
    for (const RefclockStatus& rc : report.refclocks) {
        RefclockVerdict verdict;
        if (report.daemon.state) {
            verdict.verdict = daemon_verdict(*report.daemon.state, rc.name);
            verdict.from_daemon = true;
        } else {
            verdict.verdict = computed_verdict(rc, analysis.witness.clock);
        }
        analysis.verdicts.push_back(verdict);
    }
    return analysis;
}

std::string describe_verdict(const RefclockVerdict& verdict, bool witnessed) {
    if (!verdict.verdict) {
        return verdict.from_daemon ? "none from the daemon (it judges each cycle of an nmea "
                                     "refclock and each pulse of a pps refclock)"
                                   : "no valid sample to judge";
    }
    const WitnessVerdict& v = *verdict.verdict;
    // A verdict the daemon reached is one it acted on.
    witnessed = witnessed || verdict.from_daemon;
    const std::string clock =
        fmt::format("clock {} the system clock at receive", describe_difference(v.difference_ns));
    std::string text;
    switch (v.kind) {
    case WitnessVerdict::Kind::agree:
        text = fmt::format("agrees: {}, within {:.3f} s", clock, ns_to_seconds(v.bound_ns));
        break;
    case WitnessVerdict::Kind::disagree:
        text = fmt::format("DISAGREES: {}, beyond {:.3f} s{}", clock, ns_to_seconds(v.bound_ns),
                           witnessed ? ": the daemon refuses such a cycle" : "");
        break;
    case WitnessVerdict::Kind::no_witness:
        text = fmt::format("no witness (kernel not synchronized): {}; believed", clock);
        break;
    case WitnessVerdict::Kind::off:
        text = fmt::format("off (witness = false): {}; believed", clock);
        break;
    }
    if (!witnessed) {
        text += " (the daemon applies the witness to nmea and pps refclocks only)";
    }
    if (verdict.from_daemon) {
        text += " (the daemon's own, on the last cycle or pulse it judged)";
    }
    return text;
}

} // namespace shmrefclock
