// `shmrefclock status` as text for people: the daemon's live state first,
// then the kernel, the leap-second list, the witness and each configured
// refclock's segment. Pure: a StatusReport in, text out.
#include "tools/status.hpp"

#include <cmath>
#include <sys/timex.h>

#include <fmt/format.h>

#include "core/printable.hpp"
#include "core/time_format.hpp"
#include "core/ubx_epoch.hpp"
#include "tools/status_report.hpp"

namespace shmrefclock {

namespace {

// One "  label          value" line.
class Lines {
public:
    explicit Lines(std::string& out) : out_(out) {}
    void operator()(std::string_view label, const std::string& value) {
        out_ += fmt::format("  {:<15}{}\n", label, value);
    }

private:
    std::string& out_;
};

// A number from the daemon: "?" when it did not send one.
std::string fixed(double value, std::string_view format) {
    return std::isnan(value) ? std::string("?") : fmt::format(fmt::runtime(format), value);
}

std::string text(const std::string& value) {
    return value.empty() ? std::string("?") : printable(value);
}

// "samples_published 57", "sentences ok 400, bad_checksum 3": every counter
// the refclock's structs declare (core/live_state.hpp).
std::vector<std::string> counter_texts(const RefclockState& rc) {
    std::vector<std::string> texts;
    RefclockState::counters(
        rc, Overload{[&texts](const CounterInfo& info, std::uint64_t count) {
                         texts.push_back(fmt::format("{} {}", info.name, count));
                     },
                     [&texts](const CounterInfo& info, const ReasonCounts& counts) {
                         std::string by_reason;
                         for (const ReasonCount& each : counts) {
                             by_reason += fmt::format("{}{} {}", by_reason.empty() ? "" : ", ",
                                                      printable(each.reason), each.count);
                         }
                         texts.push_back(fmt::format("{} {}", info.name,
                                                     by_reason.empty() ? "none" : by_reason));
                     }});
    return texts;
}

void refclock_text(std::string& out, const RefclockState& rc) {
    Lines line(out);
    out += fmt::format("refclock \"{}\" ({}), live\n", text(rc.name), text(rc.source));
    if (!rc.health.empty()) {
        line("health", printable(rc.health));
    }
    if (!rc.outputs.empty()) {
        line("outputs", printable(rc.outputs));
    }
    if (const auto& last = rc.last_sample) {
        line("last sample", fmt::format("{}, clock-receive {}, age {}", text(last->reference),
                                        fixed(last->clock_minus_receive_s, "{:+.6f} s"),
                                        fixed(last->age_s, "{:.3f} s")));
    } else {
        line("last sample", "none (nothing published now)");
    }
    bool first = true;
    for (const std::string& counter : counter_texts(rc)) {
        line(first ? "counters" : "", counter);
        first = false;
    }
    if (rc.pps && rc.pps->quantization) {
        line("PPS qErr", fmt::format("{} on the last pulse labelled by the receiver (applied)",
                                     fixed(rc.pps->quantization->q_err_s * 1e9, "{:+.3f} ns")));
    }
    if (!rc.nmea) {
        return;
    }
    if (const auto& arrival = rc.nmea->arrival) {
        line("NMEA arrival",
             fmt::format("median {}, spread {} over {} cycles (after the second they name, by "
                         "the system clock)",
                         fixed(arrival->median_s, "{:+.6f} s"),
                         fixed(arrival->spread_s, "{:.6f} s"), arrival->cycles));
    }
    if (const auto& receiver = rc.nmea->receiver) {
        line("u-blox receiver", printable(ubx::describe(*receiver)));
    }
    if (const auto& latency = rc.nmea->pps_latency) {
        line("PPS latency", fmt::format("median {}, spread {} over {} pulses of \"{}\"",
                                        fixed(latency->median_s, "{:+.6f} s"),
                                        fixed(latency->spread_s, "{:.6f} s"), latency->pulses,
                                        text(latency->pps_refclock)));
        line("",
             fmt::format("suggested offset = {}{}", fixed(latency->suggested_offset_s, "{:.3f}"),
                         latency->settled ? "" : " (not settled yet)"));
    }
}

// The daemon's live state (docs/design.md, "Live state"), as read from its
// reply: a field an older or newer daemon did not send is shown as "?" or
// left out, never a failure.
std::string format_daemon(const DaemonReply& daemon) {
    if (!daemon.state) {
        return fmt::format("daemon: {}; showing the kernel and the segments only\n",
                           daemon.problem.empty() ? "no reply" : daemon.problem);
    }
    std::string out;
    Lines line(out);
    const DaemonState& state = *daemon.state;
    out += fmt::format("daemon (live state from {})\n", printable(daemon.path));
    std::vector<std::string> about;
    if (state.pid != 0) {
        about.push_back(fmt::format("pid {}", state.pid));
    }
    if (!state.version.empty()) {
        about.push_back("version " + printable(state.version));
    }
    if (!std::isnan(state.uptime_s)) {
        about.push_back(fmt::format("up {:.0f} s", state.uptime_s));
    }
    line("daemon", fmt::format("{}", fmt::join(about, ", ")));
    if (!state.config.empty()) {
        line("config", printable(state.config));
    }
    if (!state.status.empty()) {
        line("status", printable(state.status));
    }
    for (const RefclockState& rc : state.refclocks) {
        refclock_text(out, rc);
    }
    return out;
}

} // namespace

std::string format_status(const StatusReport& report) {
    std::string out;
    Lines line(out);
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
    line("offset", fmt::format("{:+} ns", kernel_ns(k, k.offset)));
    line("frequency", fmt::format("{:+.6f} ppm", kernel_ppm(k.freq)));
    line("maxerror", fmt::format("{} us", k.maxerror));
    line("esterror", fmt::format("{} us", k.esterror));
    line("constant", fmt::format("{}", k.constant));
    line("precision", fmt::format("{} us", k.precision));
    line("tolerance", fmt::format("{:.6f} ppm", kernel_ppm(k.tolerance)));
    line("tick", fmt::format("{} us", k.tick));
    line("TAI offset", fmt::format("{} s", k.tai));
    line("time", format_utc(kernel_time(k)));
    line("PPS frequency", fmt::format("{:+.6f} ppm", kernel_ppm(k.ppsfreq)));
    line("PPS jitter", fmt::format("{} ns", kernel_ns(k, k.jitter)));
    line("PPS interval", pps_interval(k.shift));
    line("PPS stability", fmt::format("{:.6f} ppm", kernel_ppm(k.stabil)));
    line("PPS counts",
         fmt::format("calcnt {} (calibrations), errcnt {} (errors),", k.calcnt, k.errcnt));
    line("", fmt::format("jitcnt {} (jitter exceeded), stbcnt {} (stability exceeded)", k.jitcnt,
                         k.stbcnt));

    const StatusAnalysis analysis = analyze(report);
    const LeapView& leap = analysis.leap;
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

    const WitnessView& witness = analysis.witness;
    out += report.daemon.state
               ? "kernel witness (from the kernel state above with the daemon's rule; the "
                 "verdicts on the refclocks are the daemon's own)\n"
               : "kernel witness (computed by status from the kernel state above with the "
                 "daemon's rule; not the daemon's own counters)\n";
    line("witness",
         witness.clock.synchronized
             ? fmt::format("active: {}; bound {:.3f} s (maxerror {:.3f} s + {:.3f} s)", witness.why,
                           ns_to_seconds(witness.bound_ns),
                           ns_to_seconds(witness.clock.maxerror_ns),
                           ns_to_seconds(witness_margin_ns))
             : fmt::format("inactive: {}; receivers are believed as they report", witness.why));
    if (!report.config_path.empty()) {
        line("disabled",
             witness.disabled.empty()
                 ? std::string("none (witness = false nowhere)")
                 : fmt::format("witness = false on \"{}\"", fmt::join(witness.disabled, "\", \"")));
    }

    for (std::size_t i = 0; i < report.refclocks.size(); ++i) {
        const RefclockStatus& rc = report.refclocks[i];
        const RefclockVerdict& verdict = analysis.verdicts[i];
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
            }
        }
        // Beside the sample it judged, or the daemon's, with or without one.
        if (verdict.from_daemon || (rc.unit && rc.unit->snapshot)) {
            line("witness", describe_verdict(verdict, rc.witnessed));
        }
        if (!rc.sock.empty()) {
            line("chrony SOCK", rc.sock_problem.empty()
                                    ? rc.sock
                                    : fmt::format("{} ({})", rc.sock, rc.sock_problem));
        }
    }
    return out;
}

} // namespace shmrefclock
