// `shmrefclock status --json`: the same report as the text, as one JSON
// document. Pure: a StatusReport in, text out.
#include "tools/status.hpp"

#include <utility>

#include <sys/timex.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/time_format.hpp"
#include "io/live_state_json.hpp"
#include "tools/status_report.hpp"

namespace shmrefclock {

using Json = nlohmann::ordered_json;

std::string format_status_json(const StatusReport& report) {
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
        {"offset_ns", kernel_ns(k, k.offset)},
        {"frequency_ppm", kernel_ppm(k.freq)},
        {"freq", k.freq},
        {"maxerror_us", k.maxerror},
        {"esterror_us", k.esterror},
        {"constant", k.constant},
        {"precision_us", k.precision},
        {"tolerance_ppm", kernel_ppm(k.tolerance)},
        {"tick_us", k.tick},
        {"tai_offset_s", k.tai},
        {"time", format_utc(time)},
        {"time_sec", time.tv_sec},
        {"time_nsec", time.tv_nsec},
        {"pps",
         {{"frequency_ppm", kernel_ppm(k.ppsfreq)},
          {"jitter_ns", kernel_ns(k, k.jitter)},
          {"shift", k.shift},
          {"stability_ppm", kernel_ppm(k.stabil)},
          {"calcnt", k.calcnt},
          {"errcnt", k.errcnt},
          {"jitcnt", k.jitcnt},
          {"stbcnt", k.stbcnt}}},
    };

    const StatusAnalysis analysis = analyze(report);
    const LeapView& leap = analysis.leap;
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

    const WitnessView& witness = analysis.witness;
    doc["witness"] = {
        {"computed_by", "status"},      {"active", witness.clock.synchronized},
        {"reason", witness.why},        {"maxerror_ns", witness.clock.maxerror_ns},
        {"bound_ns", witness.bound_ns}, {"disabled", witness.disabled},
    };
    doc["now"] = format_utc(report.now);
    doc["config"] = or_null(!report.config_path.empty(), report.config_path);

    Json& refclocks = doc["refclocks"] = Json::array();
    for (std::size_t i = 0; i < report.refclocks.size(); ++i) {
        const RefclockStatus& rc = report.refclocks[i];
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
        if (const auto& v = analysis.verdicts[i].verdict) {
            verdict = {{"kind", name(v->kind)},
                       {"difference_ns", v->difference_ns},
                       {"bound_ns", v->bound_ns},
                       {"detail", describe_verdict(analysis.verdicts[i], rc.witnessed)},
                       {"by", analysis.verdicts[i].from_daemon ? "daemon" : "status"}};
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
    doc["daemon"] = report.daemon.state ? to_json(*report.daemon.state) : Json(nullptr);
    doc["daemon_problem"] = or_null(!report.daemon.problem.empty(), report.daemon.problem);
    // replace: names, paths and the daemon's texts are not checked to be
    // UTF-8; a stray byte must not make the document impossible to print.
    return doc.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

} // namespace shmrefclock
