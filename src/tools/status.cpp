#include "tools/status.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>

#include <fmt/format.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timex.h>
#include <sys/un.h>

#include "core/printable.hpp"
#include "core/time_format.hpp"
#include "core/witness.hpp"
#include "io/leap_seconds_file.hpp"
#include "io/unique_fd.hpp"

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

// What each state means (adjtimex(2)); TIME_ERROR is returned while the
// clock is unsynchronized (STA_UNSYNC or STA_CLOCKERR) or the PPS signal is
// in error in a mode that uses it.
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

// Offsets and jitter are in ns under STA_NANO, else in us; always show ns.
long long nanoseconds(const KernelTimex& k, long value) {
    return (k.status & STA_NANO) ? value : static_cast<long long>(value) * 1000;
}

// freq, ppsfreq, tolerance and stabil are ppm with a 16-bit binary fraction.
double ppm(long scaled) {
    return static_cast<double>(scaled) / 65536.0;
}

timespec kernel_time(const KernelTimex& k) {
    return timespec{k.time_sec, static_cast<long>(nanoseconds(k, k.time_frac))};
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

// PPS calibration interval 2^shift s. The kernel keeps shift in 2..8
// (PPS_INTMIN..PPS_INTMAX, kernel/time/ntp.c) and reports 0 when built
// without CONFIG_NTP_PPS, where the PPS fields are all unused zeros.
std::string pps_interval(int shift) {
    if (shift == 0) {
        return "none (shift 0: kernel without CONFIG_NTP_PPS, hardpps unavailable)";
    }
    if (shift < 0 || shift > 30) {
        return fmt::format("? (shift {})", shift);
    }
    return fmt::format("{} s (shift {})", 1L << shift, shift);
}

// The leap-second list at `now`, and the kernel's armed leap next to it.
struct LeapView {
    LeapListState state;
    std::string described;
    Leap announcing;
    std::optional<LeapEvent> next;
    std::string disagreement; // empty: the kernel agrees
};

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

// The kernel witness as the daemon would judge now: the kernel state read
// above, through the same kernel_clock_from() and judge_witness() the NMEA
// shell and core use (io/kernel_clock, core/witness). Computed by `status`:
// it is not the daemon's own record (no control socket yet).
struct WitnessView {
    KernelClock clock;
    std::int64_t bound_ns = 0;
    std::string why;                   // why it is active or not
    std::vector<std::string> disabled; // refclocks with witness = false
};

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

double seconds_of(std::int64_t ns) {
    return static_cast<double>(ns) / 1e9;
}

// The witness on a refclock's current sample; std::nullopt without a valid
// one. The published reference already includes the refclock's `offset`
// (Refclock::publish), and the receive time is the system clock's stamp, so
// the latency is 0 here.
std::optional<WitnessVerdict> sample_verdict(const RefclockStatus& rc, const KernelClock& clock) {
    if (!rc.unit || !rc.unit->snapshot || rc.unit->snapshot->valid != 1) {
        return std::nullopt;
    }
    const Sample& sample = rc.unit->snapshot->sample;
    return judge_witness(WitnessSettings{rc.witness, 0}, clock, sample.reference_time,
                         sample.receive_time);
}

std::string_view verdict_name(WitnessVerdict::Kind kind) {
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

std::string describe_verdict(const WitnessVerdict& v, bool witnessed) {
    const std::string clock =
        fmt::format("clock {} the system clock at receive", describe_difference(v.difference_ns));
    std::string text;
    switch (v.kind) {
    case WitnessVerdict::Kind::agree:
        text = fmt::format("agrees: {}, within {:.3f} s", clock, seconds_of(v.bound_ns));
        break;
    case WitnessVerdict::Kind::disagree:
        text = fmt::format("DISAGREES: {}, beyond {:.3f} s{}", clock, seconds_of(v.bound_ns),
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
        text += " (the daemon applies the witness to nmea refclocks only)";
    }
    return text;
}

std::string date_of(std::int64_t posix_seconds) {
    return format_utc(timespec{static_cast<time_t>(posix_seconds), 0}, 0).substr(0, 10);
}

std::string describe_event(const LeapEvent& event) {
    return fmt::format("{} at the end of {}", event.kind == Leap::insert ? "insertion" : "deletion",
                       date_of(event.at - seconds_per_day));
}

using Json = nlohmann::ordered_json;

// A value from the daemon's reply as text: numbers and strings as they are,
// an object as "key value, key value" (the counters by reason).
std::string text_of(const Json& value) {
    if (value.is_string()) {
        return printable(value.get<std::string>());
    }
    if (value.is_object()) {
        std::string text;
        for (const auto& [key, item] : value.items()) {
            text += fmt::format("{}{} {}", text.empty() ? "" : ", ", printable(key), text_of(item));
        }
        return text.empty() ? "none" : text;
    }
    if (value.is_number_float()) {
        return fmt::format("{:.9g}", value.get<double>());
    }
    return printable(value.dump(-1, ' ', false, Json::error_handler_t::replace));
}

const Json* member(const Json& object, const char* key) {
    if (!object.is_object()) {
        return nullptr;
    }
    const auto it = object.find(key);
    return it == object.end() || it->is_null() ? nullptr : &*it;
}

double number(const Json* value) {
    return value != nullptr && value->is_number() ? value->get<double>() : 0.0;
}

// Seconds with a sign, to the microsecond.
std::string seconds_text(const Json* value) {
    return value != nullptr && value->is_number() ? fmt::format("{:+.6f} s", value->get<double>())
                                                  : "?";
}

// The daemon's live state (docs/design.md, "Live state"), read defensively:
// a field the daemon does not have (an older or newer daemon, or one whose
// parts are still being added) is left out, never a failure.
std::string format_daemon(const DaemonReply& daemon) {
    std::string out;
    auto line = [&out](std::string_view label, const std::string& value) {
        out += fmt::format("  {:<15}{}\n", label, value);
    };
    if (!daemon.state) {
        return fmt::format("daemon: {}; showing the kernel and the segments only\n",
                           daemon.problem.empty() ? "no reply" : daemon.problem);
    }
    const Json& state = *daemon.state;
    out += fmt::format("daemon (live state from {})\n", printable(daemon.path));
    std::vector<std::string> about;
    if (const Json* pid = member(state, "pid")) {
        about.push_back("pid " + text_of(*pid));
    }
    if (const Json* version = member(state, "version")) {
        about.push_back("version " + text_of(*version));
    }
    if (const Json* uptime = member(state, "uptime_s")) {
        about.push_back(fmt::format("up {:.0f} s", number(uptime)));
    }
    line("daemon", fmt::format("{}", fmt::join(about, ", ")));
    if (const Json* config = member(state, "config")) {
        line("config", text_of(*config));
    }
    if (const Json* status = member(state, "status")) {
        line("status", text_of(*status));
    }
    const Json* refclocks = member(state, "refclocks");
    if (refclocks == nullptr || !refclocks->is_array()) {
        return out;
    }
    for (const Json& rc : *refclocks) {
        const Json* name = member(rc, "name");
        const Json* source = member(rc, "source");
        out += fmt::format("refclock \"{}\" ({}), live\n", name ? text_of(*name) : "?",
                           source ? text_of(*source) : "?");
        if (const Json* health = member(rc, "health")) {
            line("health", text_of(*health));
        }
        if (const Json* outputs = member(rc, "outputs")) {
            line("outputs", text_of(*outputs));
        }
        if (const Json* last = member(rc, "last_sample")) {
            line(
                "last sample",
                fmt::format("{}, clock-receive {}, age {:.3f} s",
                            member(*last, "reference") ? text_of(*member(*last, "reference")) : "?",
                            seconds_text(member(*last, "clock_minus_receive_s")),
                            number(member(*last, "age_s"))));
        } else {
            line("last sample", "none (nothing published now)");
        }
        if (const Json* counters = member(rc, "counters"); counters && counters->is_object()) {
            bool first = true;
            for (const auto& [key, value] : counters->items()) {
                line(first ? "counters" : "", fmt::format("{} {}", printable(key), text_of(value)));
                first = false;
            }
        }
        if (const Json* arrival = member(rc, "nmea_arrival")) {
            line("NMEA arrival",
                 fmt::format("median {}, spread {:.6f} s over {} cycles (after the second they "
                             "name, by the system clock)",
                             seconds_text(member(*arrival, "median_s")),
                             number(member(*arrival, "spread_s")),
                             member(*arrival, "cycles") ? text_of(*member(*arrival, "cycles"))
                                                        : "?"));
        }
        if (const Json* latency = member(rc, "pps_latency")) {
            const Json* settled = member(*latency, "settled");
            line(
                "PPS latency",
                fmt::format("median {}, spread {:.6f} s over {} pulses of {}",
                            seconds_text(member(*latency, "median_s")),
                            number(member(*latency, "spread_s")),
                            member(*latency, "pulses") ? text_of(*member(*latency, "pulses")) : "?",
                            member(*latency, "pps_refclock")
                                ? "\"" + text_of(*member(*latency, "pps_refclock")) + "\""
                                : "?"));
            if (const Json* offset = member(*latency, "suggested_offset_s")) {
                line("", fmt::format("suggested offset = {:.3f}{}", number(offset),
                                     settled && settled->is_boolean() && settled->get<bool>()
                                         ? ""
                                         : " (not settled yet)"));
            }
        }
    }
    return out;
}

} // namespace

std::string clock_state_name(int state) {
    if (state >= 0 && state < static_cast<int>(std::size(state_names))) {
        return std::string(state_names[state]);
    }
    return fmt::format("TIME_#{}", state);
}

// ---------------------------------------------------------------------------
// Text

std::string format_status(const StatusReport& report) {
    std::string out;
    auto line = [&out](std::string_view label, const std::string& value) {
        out += fmt::format("  {:<15}{}\n", label, value);
    };
    const KernelTimex& k = report.kernel;
    const auto names = set_bits(k.status);

    out += format_daemon(report.daemon);
    out += "kernel clock (ntp_adjtime, read-only)\n";
    line("state",
         fmt::format("{} ({}): {}", clock_state_name(k.state), k.state, state_meaning(k.state)));
    line("ntp_gettime", fmt::format("{} ({})", clock_state_name(k.gettime_state), k.gettime_state));
    line("status",
         fmt::format("{:#06x} {}", k.status,
                     names.empty() ? "(none)" : fmt::format("{}", fmt::join(names, " "))));
    line("offset", fmt::format("{:+} ns", nanoseconds(k, k.offset)));
    line("frequency", fmt::format("{:+.6f} ppm", ppm(k.freq)));
    line("maxerror", fmt::format("{} us", k.maxerror));
    line("esterror", fmt::format("{} us", k.esterror));
    line("constant", fmt::format("{}", k.constant));
    line("precision", fmt::format("{} us", k.precision));
    line("tolerance", fmt::format("{:.6f} ppm", ppm(k.tolerance)));
    line("tick", fmt::format("{} us", k.tick));
    line("TAI offset", fmt::format("{} s", k.tai));
    line("time", format_utc(kernel_time(k)));
    line("PPS frequency", fmt::format("{:+.6f} ppm", ppm(k.ppsfreq)));
    line("PPS jitter", fmt::format("{} ns", nanoseconds(k, k.jitter)));
    line("PPS interval", pps_interval(k.shift));
    line("PPS stability", fmt::format("{:.6f} ppm", ppm(k.stabil)));
    line("PPS counts",
         fmt::format("calcnt {} (calibrations), errcnt {} (errors),", k.calcnt, k.errcnt));
    line("", fmt::format("jitcnt {} (jitter exceeded), stbcnt {} (stability exceeded)", k.jitcnt,
                         k.stbcnt));

    const LeapView leap = leap_view(report);
    const LeapListLoad& list = report.leap_seconds.load;
    out += "leap-second list\n";
    line("path", report.leap_seconds.path.empty() ? "none (leap-seconds = \"\")"
                                                  : report.leap_seconds.path);
    line("state", leap.state == LeapListState::valid
                      ? leap.described
                      : leap.described + "; no leap second is announced");
    if (list.list) {
        line("updated", date_of(list.list->updated));
        line("expires", date_of(list.list->expires));
        line("next leap", leap.next ? describe_event(*leap.next) : "none in the list");
    }
    line("announcing",
         fmt::format("{} ({})", static_cast<int>(leap.announcing), leap_name(leap.announcing)));
    const char* armed = (k.status & STA_INS) != 0   ? "STA_INS set"
                        : (k.status & STA_DEL) != 0 ? "STA_DEL set"
                                                    : "STA_INS and STA_DEL clear";
    line("kernel", leap.disagreement.empty() ? fmt::format("agrees ({})", armed)
                                             : "DISAGREES: " + leap.disagreement);

    const WitnessView witness = witness_view(report);
    out += "kernel witness (computed by status from the kernel state above with the daemon's "
           "rule; not the daemon's own counters)\n";
    line("witness",
         witness.clock.synchronized
             ? fmt::format("active: {}; bound {:.3f} s (maxerror {:.3f} s + {:.3f} s)", witness.why,
                           seconds_of(witness.bound_ns), seconds_of(witness.clock.maxerror_ns),
                           seconds_of(witness_margin_ns))
             : fmt::format("inactive: {}; receivers are believed as they report", witness.why));
    if (!report.config_path.empty()) {
        line("disabled",
             witness.disabled.empty()
                 ? std::string("none (witness = false nowhere)")
                 : fmt::format("witness = false on \"{}\"", fmt::join(witness.disabled, "\", \"")));
    }

    for (const auto& rc : report.refclocks) {
        out += fmt::format("refclock \"{}\" ({})\n", rc.name, rc.source);
        if (rc.unit) {
            const UnitStatus& u = *rc.unit;
            line("SHM unit", fmt::format("{} (key {})", u.unit, key_text(u.unit)));
            if (!u.segment) {
                line("segment", "no segment");
            } else {
                const SegmentInfo& s = *u.segment;
                line("segment", fmt::format("shmid {}, owner uid {}, creator uid {}, mode {:04o}, "
                                            "{} bytes, {} attached",
                                            s.shmid, s.uid, s.cuid, s.mode, s.size, s.nattch));
            }
            if (!u.problem.empty()) {
                line("sample", "not readable: " + u.problem);
            } else if (u.snapshot) {
                const ShmSnapshot& snap = *u.snapshot;
                const Sample& sample = snap.sample;
                if (never_written(snap)) {
                    line("sample", fmt::format("none yet (never written), mode {}, valid {}",
                                               snap.mode, snap.valid));
                } else {
                    line("sample", fmt::format("{}, count {}, mode {}",
                                               snap.valid == 1 ? "valid" : "not valid", snap.count,
                                               snap.mode));
                    line("clock", format_utc(sample.reference_time));
                    line("receive", format_utc(sample.receive_time));
                    line("clock-receive",
                         fmt::format("{:+.9f} s",
                                     ns_to_seconds(timespec_diff_ns(sample.reference_time,
                                                                    sample.receive_time))));
                    line("age", fmt::format("{:.3f} s", ns_to_seconds(timespec_diff_ns(
                                                            report.now, sample.receive_time))));
                    line("leap", fmt::format("{} ({})", static_cast<int>(sample.leap),
                                             leap_name(sample.leap)));
                    line("precision", fmt::format("{}", sample.precision));
                }
                const auto verdict = sample_verdict(rc, witness.clock);
                line("witness", verdict ? describe_verdict(*verdict, rc.witnessed)
                                        : std::string("no valid sample to judge"));
            }
        }
        if (!rc.sock.empty()) {
            line("chrony SOCK", rc.sock_problem.empty()
                                    ? rc.sock
                                    : fmt::format("{} ({})", rc.sock, rc.sock_problem));
        }
    }
    return out;
}

// ---------------------------------------------------------------------------
// JSON

std::string format_status_json(const StatusReport& report) {
    using Json = nlohmann::ordered_json;
    // A present value, or null.
    auto or_null = [](bool present, auto&& value) -> Json {
        return present ? Json(std::forward<decltype(value)>(value)) : Json(nullptr);
    };
    const KernelTimex& k = report.kernel;
    const timespec time = kernel_time(k);
    Json doc;
    doc["kernel"] = {
        {"state", clock_state_name(k.state)},
        {"state_code", k.state},
        {"gettime_state", clock_state_name(k.gettime_state)},
        {"gettime_state_code", k.gettime_state},
        {"status", k.status},
        {"status_hex", fmt::format("{:#06x}", k.status)},
        {"status_bits", set_bits(k.status)},
        {"offset_ns", nanoseconds(k, k.offset)},
        {"frequency_ppm", ppm(k.freq)},
        {"freq", k.freq},
        {"maxerror_us", k.maxerror},
        {"esterror_us", k.esterror},
        {"constant", k.constant},
        {"precision_us", k.precision},
        {"tolerance_ppm", ppm(k.tolerance)},
        {"tick_us", k.tick},
        {"tai_offset_s", k.tai},
        {"time", format_utc(time)},
        {"time_sec", time.tv_sec},
        {"time_nsec", time.tv_nsec},
        {"pps",
         {{"frequency_ppm", ppm(k.ppsfreq)},
          {"jitter_ns", nanoseconds(k, k.jitter)},
          {"shift", k.shift},
          {"stability_ppm", ppm(k.stabil)},
          {"calcnt", k.calcnt},
          {"errcnt", k.errcnt},
          {"jitcnt", k.jitcnt},
          {"stbcnt", k.stbcnt}}},
    };

    const LeapView leap = leap_view(report);
    const LeapListLoad& list = report.leap_seconds.load;
    Json next_leap = nullptr;
    if (leap.next) {
        next_leap = {{"at", format_utc(timespec{static_cast<time_t>(leap.next->at), 0}, 0)},
                     {"at_sec", leap.next->at},
                     {"leap", static_cast<int>(leap.next->kind)}};
    }
    doc["leap_seconds"] = {
        {"path", or_null(!report.leap_seconds.path.empty(), report.leap_seconds.path)},
        {"state", to_string(leap.state)},
        {"detail", leap.described},
        {"updated", list.list ? Json(date_of(list.list->updated)) : Json(nullptr)},
        {"expires", list.list ? Json(date_of(list.list->expires)) : Json(nullptr)},
        {"expires_sec", list.list ? Json(list.list->expires) : Json(nullptr)},
        {"next_leap", next_leap},
        {"announcing", static_cast<int>(leap.announcing)},
        {"kernel_disagreement", or_null(!leap.disagreement.empty(), leap.disagreement)},
    };

    const WitnessView witness = witness_view(report);
    doc["witness"] = {
        {"computed_by", "status"},      {"active", witness.clock.synchronized},
        {"reason", witness.why},        {"maxerror_ns", witness.clock.maxerror_ns},
        {"bound_ns", witness.bound_ns}, {"disabled", witness.disabled},
    };
    doc["now"] = format_utc(report.now);
    doc["config"] = or_null(!report.config_path.empty(), report.config_path);

    Json& refclocks = doc["refclocks"] = Json::array();
    for (const auto& rc : report.refclocks) {
        Json segment = nullptr, sample = nullptr;
        if (rc.unit && rc.unit->segment) {
            const SegmentInfo& s = *rc.unit->segment;
            segment = {{"shmid", s.shmid}, {"uid", s.uid},
                       {"cuid", s.cuid},   {"mode", fmt::format("{:04o}", s.mode)},
                       {"size", s.size},   {"nattch", s.nattch}};
        }
        if (rc.unit && rc.unit->snapshot) {
            const ShmSnapshot& snap = *rc.unit->snapshot;
            const Sample& s = snap.sample;
            sample = {
                {"clock", format_utc(s.reference_time)},
                {"receive", format_utc(s.receive_time)},
                {"clock_sec", s.reference_time.tv_sec},
                {"clock_nsec", s.reference_time.tv_nsec},
                {"receive_sec", s.receive_time.tv_sec},
                {"receive_nsec", s.receive_time.tv_nsec},
                {"clock_minus_receive",
                 ns_to_seconds(timespec_diff_ns(s.reference_time, s.receive_time))},
                {"age", ns_to_seconds(timespec_diff_ns(report.now, s.receive_time))},
                {"leap", static_cast<int>(s.leap)},
                {"precision", s.precision},
                {"mode", snap.mode},
                {"count", snap.count},
                {"valid", snap.valid},
            };
        }
        Json verdict = nullptr;
        if (const auto v = sample_verdict(rc, witness.clock)) {
            verdict = {{"kind", verdict_name(v->kind)},
                       {"difference_ns", v->difference_ns},
                       {"bound_ns", v->bound_ns},
                       {"detail", describe_verdict(*v, rc.witnessed)}};
        }
        refclocks.push_back({
            {"name", rc.name},
            {"source", rc.source},
            {"unit", rc.unit ? Json(rc.unit->unit) : Json(nullptr)},
            {"key", rc.unit ? Json(key_text(rc.unit->unit)) : Json(nullptr)},
            {"segment", segment},
            {"sample", sample},
            {"problem", or_null(rc.unit && !rc.unit->problem.empty(),
                                rc.unit ? rc.unit->problem : std::string())},
            {"sock", or_null(!rc.sock.empty(), rc.sock)},
            {"sock_problem", or_null(!rc.sock_problem.empty(), rc.sock_problem)},
            {"witness",
             {{"enabled", rc.witness}, {"witnessed", rc.witnessed}, {"verdict", verdict}}},
        });
    }
    // The running daemon's own live state (docs/design.md, "Live state"), as
    // its control socket answered; null when it did not, and why.
    doc["daemon"] = report.daemon.state ? *report.daemon.state : Json(nullptr);
    doc["daemon_problem"] = or_null(!report.daemon.problem.empty(), report.daemon.problem);
    // replace: names, paths and the daemon's texts are not checked to be
    // UTF-8; a stray byte must not make the document impossible to print.
    return doc.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

// ---------------------------------------------------------------------------
// Reading

std::optional<SegmentInfo> parse_sysvipc_shm(std::string_view text, key_t key) {
    // Columns by header name: the kernel has added columns over time (rss, swap).
    std::istringstream in{std::string(text)};
    std::string header;
    if (!std::getline(in, header)) {
        return std::nullopt;
    }
    std::vector<std::string> columns;
    {
        std::istringstream names(header);
        for (std::string name; names >> name;) {
            columns.push_back(name);
        }
    }
    auto index = [&columns](std::string_view name) -> std::optional<std::size_t> {
        for (std::size_t i = 0; i < columns.size(); ++i) {
            if (columns[i] == name) {
                return i;
            }
        }
        return std::nullopt;
    };
    const auto i_key = index("key"), i_id = index("shmid"), i_perms = index("perms"),
               i_size = index("size"), i_nattch = index("nattch"), i_uid = index("uid"),
               i_cuid = index("cuid");
    if (!i_key || !i_id || !i_perms || !i_size || !i_nattch || !i_uid || !i_cuid) {
        return std::nullopt;
    }
    for (std::string row; std::getline(in, row);) {
        std::istringstream fields(row);
        std::vector<std::string> values;
        for (std::string value; fields >> value;) {
            values.push_back(value);
        }
        if (values.size() < columns.size()) {
            continue;
        }
        try {
            // The kernel prints the key as a signed decimal int and perms in octal.
            if (std::stol(values[*i_key]) != static_cast<long>(key)) {
                continue;
            }
            SegmentInfo info;
            info.shmid = std::stoi(values[*i_id]);
            info.mode = static_cast<unsigned>(std::stoul(values[*i_perms], nullptr, 8)) & 0777;
            info.size = std::stoull(values[*i_size]);
            info.nattch = std::stoul(values[*i_nattch]);
            info.uid = static_cast<uid_t>(std::stoul(values[*i_uid]));
            info.cuid = static_cast<uid_t>(std::stoul(values[*i_cuid]));
            return info;
        } catch (const std::exception&) {
            continue; // a malformed line is not our segment
        }
    }
    return std::nullopt;
}

UnitStatus read_unit_status(int unit) {
    UnitStatus u;
    u.unit = unit;
    // Look up only (no IPC_CREAT): status never creates a segment, which
    // would take the unit from the daemon that should own it.
    const int id = shmget(shm_key(unit), 0, 0);
    if (id < 0) {
        if (errno != ENOENT) {
            u.segment = SegmentInfo{};
            u.problem = fmt::format("cannot look up the segment: {}", std::strerror(errno));
        }
        return u;
    }
    // IPC_STAT before attaching, so that nattch does not count us.
    shmid_ds ds{};
    if (shmctl(id, IPC_STAT, &ds) == 0) {
        SegmentInfo info;
        info.shmid = id;
        info.uid = ds.shm_perm.uid;
        info.cuid = ds.shm_perm.cuid;
        info.mode = ds.shm_perm.mode & 0777;
        info.size = ds.shm_segsz;
        info.nattch = ds.shm_nattch;
        u.segment = info;
    } else {
        // IPC_STAT needs read permission; /proc/sysvipc/shm shows the same
        // to everyone (in our IPC namespace), so a non-root user still sees
        // who owns a 0600 segment.
        std::ifstream proc("/proc/sysvipc/shm");
        std::ostringstream text;
        text << proc.rdbuf();
        u.segment = parse_sysvipc_shm(text.str(), shm_key(unit));
        if (!u.segment) {
            u.segment = SegmentInfo{};
            u.segment->shmid = id;
        }
    }
    try {
        auto reader = ShmReader::open(unit);
        if (!reader) {
            u.segment.reset(); // removed between the two looks
            return u;
        }
        u.snapshot = reader->read();
        if (!u.snapshot) {
            u.problem = "being written: count kept changing while reading";
        }
    } catch (const ShmError& e) {
        u.problem = e.what();
    }
    return u;
}

namespace {

// Empty when a datagram could be sent to `path` now; else why not.
// connect() on a datagram socket sends nothing: chronyd does not notice.
std::string check_sock(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return fmt::format("{}: chronyd is not running with this SOCK refclock",
                           std::strerror(errno));
    }
    if (!S_ISSOCK(st.st_mode)) {
        return "not a socket";
    }
    sockaddr_un address{};
    if (path.size() >= sizeof(address.sun_path)) {
        return "path too long for a Unix socket";
    }
    UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) {
        return fmt::format("socket: {}", std::strerror(errno));
    }
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.data(), path.size());
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
        if (errno == ECONNREFUSED) {
            return "nobody is bound to it: left behind by a chronyd that stopped";
        }
        return fmt::format("cannot connect: {}", std::strerror(errno));
    }
    return {};
}

} // namespace

StatusReport collect_status(const Config* config) {
    StatusReport report;
    // The daemon first: its live state, then the kernel and the segments
    // as they are a moment later.
    report.daemon =
        ask_daemon(config != nullptr ? config->daemon.control : std::string(default_control_path),
                   ControlRequest{});
    report.kernel = read_kernel_timex();
    report.leap_seconds.path =
        config != nullptr ? config->daemon.leap_seconds : std::string(default_leap_seconds_path);
    report.leap_seconds.load = load_leap_seconds_file(report.leap_seconds.path);
    if (config != nullptr) {
        report.config_path = config->path;
        for (const auto& rc : config->refclocks) {
            RefclockStatus status;
            status.name = rc.name;
            status.source = std::string(to_string(rc.source));
            if (rc.unit) {
                status.unit = read_unit_status(*rc.unit);
            }
            status.sock = rc.sock;
            status.witness = rc.witness;
            status.witnessed = rc.source == SourceKind::nmea;
            if (!rc.sock.empty()) {
                status.sock_problem = check_sock(rc.sock);
            }
            report.refclocks.push_back(std::move(status));
        }
    }
    // After the segments were read, so that the age of a sample read is never negative.
    clock_gettime(CLOCK_REALTIME, &report.now);
    return report;
}

} // namespace shmrefclock
