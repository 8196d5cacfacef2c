#include "daemon/metrics.hpp"

#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include <fmt/format.h>

namespace shmrefclock {

namespace {

using Json = nlohmann::ordered_json;

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

// A JSON key as part of a metric name: [a-zA-Z0-9_] only, anything else _.
std::string name_part(std::string_view key) {
    std::string out;
    for (char c : key) {
        const bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        out += ok ? c : '_';
    }
    return out;
}

std::string label(std::string_view name, std::string_view value) {
    return fmt::format("{}=\"{}\"", name, escape_label_value(value));
}

// The label an object counter's keys go into (docs/design.md, "Live
// state"); a counter object added later without an entry here still
// renders, under the generic label "kind".
std::string_view label_for(std::string_view counter) {
    if (counter == "cycles") {
        return "outcome";
    }
    if (counter == "sentences") {
        return "result";
    }
    if (counter == "pulses") {
        return "verdict";
    }
    return "kind";
}

std::string counter_help(std::string_view counter) {
    static const std::map<std::string, std::string, std::less<>> help = {
        {"samples_published", "Samples published to the refclock's outputs."},
        {"withdrawals", "Times a published sample was withdrawn (valid cleared)."},
        {"device_opens", "Successful opens of the refclock's device."},
        {"device_failures", "Failed opens or reads of the refclock's device."},
        {"bytes", "Bytes read from the receiver."},
        {"sentences", "NMEA sentences read, by parse result."},
        {"cycles", "NMEA cycles ended, by outcome (published, or why not)."},
        {"pulses", "PPS pulses, by verdict (numbered, or why dropped)."},
    };
    if (auto it = help.find(counter); it != help.end()) {
        return it->second;
    }
    return fmt::format("The daemon's {} counter (docs/design.md, \"Live state\").", counter);
}

const Json* member(const Json& object, std::string_view key) {
    if (!object.is_object()) {
        return nullptr;
    }
    auto it = object.find(key);
    return it == object.end() ? nullptr : &*it;
}

std::optional<double> number_at(const Json& object, std::string_view key) {
    const Json* value = member(object, key);
    if (value == nullptr || !value->is_number()) {
        return std::nullopt;
    }
    return value->get<double>();
}

std::string string_at(const Json& object, std::string_view key) {
    const Json* value = member(object, key);
    return value != nullptr && value->is_string() ? value->get<std::string>() : std::string();
}

void add_gauge(Exposition& out, const Json& object, std::string_view key, const std::string& name,
               std::string_view help, const std::string& labels) {
    if (auto value = number_at(object, key)) {
        out.add(name, "gauge", help, labels, *value);
    }
}

void add_refclock(Exposition& out, const Json& refclock) {
    const std::string name = string_at(refclock, "name");
    const std::string rc = label("refclock", name);

    out.add("shmrefclock_refclock_info", "gauge",
            "Always 1: the refclock's source kind and health as labels.",
            rc + "," + label("source", string_at(refclock, "source")) + "," +
                label("health", string_at(refclock, "health")),
            1);
    add_gauge(out, refclock, "offset_s", "shmrefclock_configured_offset_seconds",
              "The refclock's configured offset.", rc);

    const Json* last = member(refclock, "last_sample");
    const bool valid = last != nullptr && last->is_object();
    out.add("shmrefclock_last_sample_valid", "gauge",
            "1 if the refclock has a last sample, 0 if it has none (or withdrew it).", rc,
            valid ? 1 : 0);
    if (valid) {
        add_gauge(out, *last, "age_s", "shmrefclock_last_sample_age_seconds",
                  "Age of the last sample: now minus its receive time.", rc);
        add_gauge(out, *last, "clock_minus_receive_s", "shmrefclock_last_sample_offset_seconds",
                  "The last sample's reference (clock) time minus its receive time.", rc);
        if (const Json* receive_ns = member(*last, "receive_ns");
            receive_ns != nullptr && receive_ns->is_number_integer()) {
            // Exact: a double of Unix nanoseconds / 1e9 would print
            // ...130000001 for ...13.
            const std::int64_t ns = receive_ns->get<std::int64_t>();
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
            out.add_text("shmrefclock_last_sample_receive_timestamp_seconds", "gauge",
                         "The last sample's receive time (system clock), Unix seconds.", rc, text);
        }
    }

    if (const Json* counters = member(refclock, "counters"); counters != nullptr) {
        for (const auto& [key, value] : counters->items()) {
            const std::string metric = "shmrefclock_" + name_part(key) + "_total";
            if (value.is_number()) {
                out.add(metric, "counter", counter_help(key), rc, value.get<double>());
            } else if (value.is_object()) {
                const std::string_view label_name = label_for(key);
                for (const auto& [what, count] : value.items()) {
                    if (count.is_number()) {
                        out.add(metric, "counter", counter_help(key),
                                rc + "," + label(label_name, what), count.get<double>());
                    }
                }
            }
        }
    }

    if (const Json* arrival = member(refclock, "nmea_arrival"); arrival != nullptr) {
        add_gauge(out, *arrival, "median_s", "shmrefclock_nmea_arrival_median_seconds",
                  "Median delay of a cycle's first byte after the second it names, against "
                  "the system clock.",
                  rc);
        add_gauge(out, *arrival, "spread_s", "shmrefclock_nmea_arrival_spread_seconds",
                  "Median absolute deviation of the NMEA arrival delay.", rc);
        add_gauge(out, *arrival, "cycles", "shmrefclock_nmea_arrival_cycles",
                  "Cycles the NMEA arrival median is taken over.", rc);
    }

    if (const Json* latency = member(refclock, "pps_latency"); latency != nullptr) {
        const std::string labels =
            rc + "," + label("pps_refclock", string_at(*latency, "pps_refclock"));
        add_gauge(out, *latency, "median_s", "shmrefclock_nmea_latency_median_seconds",
                  "Median delay of a cycle's first byte after the PPS edge of its second.", labels);
        add_gauge(out, *latency, "spread_s", "shmrefclock_nmea_latency_spread_seconds",
                  "Median absolute deviation of the PPS-measured NMEA latency.", labels);
        add_gauge(out, *latency, "suggested_offset_s",
                  "shmrefclock_nmea_latency_suggested_offset_seconds",
                  "The offset to configure for this NMEA refclock, measured against PPS.", labels);
        add_gauge(out, *latency, "pulses", "shmrefclock_nmea_latency_pulses",
                  "Pulses the PPS-measured NMEA latency is taken over.", labels);
        if (const Json* settled = member(*latency, "settled"); settled && settled->is_boolean()) {
            out.add("shmrefclock_nmea_latency_settled", "gauge",
                    "1 once the PPS-measured NMEA latency has settled.", labels,
                    settled->get<bool>() ? 1 : 0);
        }
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

std::string render_metrics(const nlohmann::ordered_json& snapshot) {
    Exposition out;
    out.add("shmrefclock_build_info", "gauge", "Always 1: the daemon's version as a label.",
            label("version", string_at(snapshot, "version")), 1);
    add_gauge(out, snapshot, "uptime_s", "shmrefclock_uptime_seconds",
              "Seconds since the daemon started.", "");
    if (const Json* refclocks = member(snapshot, "refclocks"); refclocks && refclocks->is_array()) {
        for (const auto& refclock : *refclocks) {
            add_refclock(out, refclock);
        }
    }
    return out.text();
}

} // namespace shmrefclock
