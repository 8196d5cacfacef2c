#include "daemon/metrics.hpp"

#include <cmath>
#include <cstdint>
#include <map>
#include <vector>

#include <fmt/format.h>

namespace shmrefclock {

namespace {

// One metric family: the exposition wants HELP, TYPE and then all of its
// samples together (a family split in two is a duplicate to the parser).
struct Family {
    std::string help;
    std::string type;
    std::vector<std::string> samples;
};

class Exposition {
public:
    void add(const std::string& name, std::string_view type, std::string_view help,
             const std::string& labels, double value) {
        add_text(name, type, help, labels, number(value));
    }

    // A value already written out (an exact decimal of nanoseconds).
    void add_text(const std::string& name, std::string_view type, std::string_view help,
                  const std::string& labels, const std::string& value) {
        auto [it, inserted] = index_.try_emplace(name, families_.size());
        if (inserted) {
            families_.push_back({name, Family{std::string(help), std::string(type), {}}});
        }
        families_[it->second].second.samples.push_back(
            fmt::format("{}{} {}", name, labels.empty() ? "" : "{" + labels + "}", value));
    }

    std::string text() const {
        std::string out;
        for (const auto& [name, family] : families_) {
            out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escape_help(family.help), name,
                               family.type);
            for (const auto& sample : family.samples) {
                out += sample;
                out += '\n';
            }
        }
        return out;
    }

private:
    // Go's ParseFloat spellings for the values that are not finite; the
    // shortest representation that reads back exactly otherwise.
    static std::string number(double value) {
        if (std::isnan(value)) {
            return "NaN";
        }
        if (std::isinf(value)) {
            return value > 0 ? "+Inf" : "-Inf";
        }
        return fmt::format("{}", value);
    }

    // HELP text escapes only \ and newline (exposition format 0.0.4).
    static std::string escape_help(std::string_view text) {
        std::string out;
        for (char c : text) {
            if (c == '\\') {
                out += "\\\\";
            } else if (c == '\n') {
                out += "\\n";
            } else {
                out += c;
            }
        }
        return out;
    }

    std::vector<std::pair<std::string, Family>> families_;
    std::map<std::string, std::size_t> index_;
};

std::string label(std::string_view name, std::string_view value) {
    return fmt::format("{}=\"{}\"", name, escape_label_value(value));
}

// Every field of `object` that is a gauge (core/live_state.hpp), with
// `labels`; a number that is not known (NaN, from another process) is left
// out.
template <typename T> void add_gauges(Exposition& out, const T& object, const std::string& labels) {
    T::fields(object, Overload{[](const FieldInfo&, const std::string&) {},
                               [&](const FieldInfo& info, auto value) {
                                   const double number = static_cast<double>(value);
                                   if (!info.metric.empty() && !std::isnan(number)) {
                                       out.add(std::string(info.metric), "gauge", info.help, labels,
                                               number);
                                   }
                               }});
}

// Unix nanoseconds as exact decimal seconds: a double of ns / 1e9 would
// print ...130000001 for ...13.
std::string exact_seconds(std::int64_t ns) {
    const std::int64_t whole =
        ns >= 0 ? ns / 1'000'000'000 : -((-ns + 999'999'999) / 1'000'000'000);
    const std::int64_t fraction = ns - whole * 1'000'000'000;
    std::string text = fmt::format("{}.{:09d}", whole, fraction);
    while (text.back() == '0') {
        text.pop_back();
    }
    if (text.back() == '.') {
        text.pop_back();
    }
    return text;
}

void add_refclock(Exposition& out, const RefclockState& refclock) {
    const std::string rc = label("refclock", refclock.name);

    out.add("shmrefclock_refclock_info", "gauge",
            "Always 1: the refclock's source kind and health as labels.",
            rc + "," + label("source", refclock.source) + "," + label("health", refclock.health),
            1);
    add_gauges(out, refclock, rc);

    const auto& last = refclock.last_sample;
    out.add("shmrefclock_last_sample_valid", "gauge",
            "1 if the refclock has a last sample, 0 if it has none (or withdrew it).", rc,
            last ? 1 : 0);
    if (last) {
        add_gauges(out, *last, rc);
        out.add_text("shmrefclock_last_sample_receive_timestamp_seconds", "gauge",
                     "The last sample's receive time (system clock), Unix seconds.", rc,
                     exact_seconds(last->receive_ns));
    }

    // Every counter as shmrefclock_NAME_total; counts by reason with the
    // reason as the counter's label.
    RefclockState::counters(
        refclock, Overload{[&](const CounterInfo& info, std::uint64_t count) {
                               out.add(fmt::format("shmrefclock_{}_total", info.name), "counter",
                                       info.help, rc, static_cast<double>(count));
                           },
                           [&](const CounterInfo& info, const ReasonCounts& counts) {
                               for (const ReasonCount& each : counts) {
                                   out.add(fmt::format("shmrefclock_{}_total", info.name),
                                           "counter", info.help,
                                           rc + "," + label(info.label, each.reason),
                                           static_cast<double>(each.count));
                               }
                           }});

    if (refclock.pps && refclock.pps->quantization) {
        add_gauges(out, *refclock.pps->quantization, rc);
    }
    if (!refclock.nmea) {
        return;
    }
    if (const auto& arrival = refclock.nmea->arrival) {
        add_gauges(out, *arrival, rc);
    }
    if (const auto& latency = refclock.nmea->pps_latency) {
        add_gauges(out, *latency, rc + "," + label("pps_refclock", latency->pps_refclock));
    }
    if (const auto& receiver = refclock.nmea->receiver) {
        add_gauges(out, *receiver, rc);
    }
}

} // namespace

std::string escape_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

std::string render_metrics(const DaemonState& state) {
    Exposition out;
    out.add("shmrefclock_build_info", "gauge", "Always 1: the daemon's version as a label.",
            label("version", state.version), 1);
    add_gauges(out, state, "");
    for (const RefclockState& refclock : state.refclocks) {
        add_refclock(out, refclock);
    }
    return out.text();
}

} // namespace shmrefclock
