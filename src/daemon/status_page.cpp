#include "daemon/status_page.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include <fmt/format.h>

namespace shmrefclock {

namespace {

using Json = nlohmann::ordered_json;

// The plot's drawing area inside its viewBox; the SVG scales to the width
// of the screen (CSS width: 100%), so a phone sees all of it.
constexpr double plot_width = 600;
constexpr double plot_height = 200;
constexpr double margin_left = 70;
constexpr double margin_bottom = 24;
constexpr double margin_top = 10;
constexpr double margin_right = 10;

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

// Any scalar as text, escaped; "-" for what is missing.
std::string text_at(const Json& object, std::string_view key) {
    const Json* value = member(object, key);
    if (value == nullptr || value->is_null()) {
        return "-";
    }
    if (value->is_string()) {
        return escape_html(value->get<std::string>());
    }
    return escape_html(value->dump());
}

std::string seconds(std::optional<double> value) {
    if (!value) {
        return "-";
    }
    return fmt::format("{:.6f}&#8239;s", *value);
}

std::string milliseconds(double value) {
    return fmt::format("{:.3f}", value * 1e3);
}

void row(std::string& out, std::string_view name, const std::string& value) {
    out += fmt::format("<tr><th scope=\"row\">{}</th><td>{}</td></tr>\n", name, value);
}

void counters_table(std::string& out, const Json& counters) {
    out += "<table class=\"counters\"><caption>Counters</caption>\n";
    for (const auto& [key, value] : counters.items()) {
        if (value.is_object()) {
            for (const auto& [what, count] : value.items()) {
                row(out, escape_html(key + " " + what), escape_html(count.dump()));
            }
        } else {
            row(out, escape_html(key), escape_html(value.dump()));
        }
    }
    out += "</table>\n";
}

// The NMEA arrival histogram: one bar per bin, heights scaled to the
// fullest bin.
void histogram(std::string& out, const Json& arrival) {
    const Json* hist = member(arrival, "histogram");
    const Json* counts = hist != nullptr ? member(*hist, "counts") : nullptr;
    const auto start = hist != nullptr ? number_at(*hist, "start_s") : std::nullopt;
    const auto bin = hist != nullptr ? number_at(*hist, "bin_s") : std::nullopt;
    if (counts == nullptr || !counts->is_array() || counts->empty() || !start || !bin) {
        out += "<p>No arrival histogram yet.</p>\n";
        return;
    }
    double peak = 0;
    for (const auto& c : *counts) {
        peak = std::max(peak, c.is_number() ? c.get<double>() : 0.0);
    }
    const double inner_w = plot_width - margin_left - margin_right;
    const double inner_h = plot_height - margin_top - margin_bottom;
    const double bar_w = inner_w / static_cast<double>(counts->size());
    out += fmt::format("<svg class=\"plot\" viewBox=\"0 0 {} {}\" role=\"img\" "
                       "aria-label=\"NMEA arrival delay histogram\">\n",
                       plot_width, plot_height);
    out += fmt::format("<rect class=\"frame\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>\n",
                       margin_left, margin_top, inner_w, inner_h);
    for (std::size_t i = 0; i < counts->size(); ++i) {
        const double count = (*counts)[i].is_number() ? (*counts)[i].get<double>() : 0.0;
        if (count <= 0 || peak <= 0) {
            continue;
        }
        const double h = inner_h * count / peak;
        const double lo = *start + *bin * static_cast<double>(i);
        out += fmt::format("<rect class=\"bar\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" "
                           "height=\"{:.1f}\"><title>{} to {} ms: {}</title></rect>\n",
                           margin_left + bar_w * static_cast<double>(i), margin_top + inner_h - h,
                           std::max(bar_w - 1, 1.0), h, milliseconds(lo), milliseconds(lo + *bin),
                           count);
    }
    const double end = *start + *bin * static_cast<double>(counts->size());
    const double base = plot_height - 6;
    out += fmt::format("<text x=\"{}\" y=\"{}\">{} ms</text>\n", margin_left, base,
                       milliseconds(*start));
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{} ms</text>\n",
                       plot_width - margin_right, base, milliseconds(end));
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", margin_left - 4,
                       margin_top + 12, peak);
    out += "</svg>\n";
}

// Clock - receive over the history's span (the last hour): a polyline, the
// y axis in ms from the smallest to the largest value.
void history_plot(std::string& out, const Json& refclock) {
    const Json* history = member(refclock, "history");
    std::vector<std::pair<double, double>> points;
    if (history != nullptr && history->is_array()) {
        for (const auto& point : *history) {
            if (point.is_array() && point.size() >= 2 && point[0].is_number() &&
                point[1].is_number()) {
                points.emplace_back(point[0].get<double>(), point[1].get<double>());
            }
        }
    }
    const double inner_w = plot_width - margin_left - margin_right;
    const double inner_h = plot_height - margin_top - margin_bottom;
    out += fmt::format("<svg class=\"plot\" viewBox=\"0 0 {} {}\" role=\"img\" "
                       "aria-label=\"clock minus receive over time\">\n",
                       plot_width, plot_height);
    out += fmt::format("<rect class=\"frame\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>\n",
                       margin_left, margin_top, inner_w, inner_h);
    if (points.empty()) {
        // The frame stays, so that the page keeps its layout from the
        // start; the telling text inside it.
        out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">No history yet"
                           "</text>\n</svg>\n",
                           margin_left + inner_w / 2, margin_top + inner_h / 2);
        return;
    }
    double t0 = points.front().first, t1 = t0, lo = points.front().second, hi = lo;
    for (const auto& [t, v] : points) {
        t0 = std::min(t0, t);
        t1 = std::max(t1, t);
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    if (hi - lo < 1e-6) { // a flat line: a microsecond of range around it
        lo -= 5e-7;
        hi += 5e-7;
    }
    const double span = std::max(t1 - t0, 1.0);
    out += "<polyline class=\"line\" points=\"";
    for (const auto& [t, v] : points) {
        out += fmt::format("{:.1f},{:.1f} ", margin_left + inner_w * (t - t0) / span,
                           margin_top + inner_h * (hi - v) / (hi - lo));
    }
    out += "\"/>\n";
    const double base = plot_height - 6;
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{} ms</text>\n",
                       margin_left - 4, margin_top + 12, milliseconds(hi));
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{} ms</text>\n",
                       margin_left - 4, margin_top + inner_h, milliseconds(lo));
    out +=
        fmt::format("<text x=\"{}\" y=\"{}\">-{:.0f} min</text>\n", margin_left, base, span / 60);
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">now</text>\n",
                       plot_width - margin_right, base);
    out += "</svg>\n";
}

void refclock_section(std::string& out, const Json& refclock) {
    const std::string source = text_at(refclock, "source");
    out += fmt::format("<section class=\"refclock\">\n<h2>{} <small>{}</small></h2>\n",
                       text_at(refclock, "name"), source);
    out += "<table>\n";
    row(out, "Health", text_at(refclock, "health"));
    row(out, "Outputs", text_at(refclock, "outputs"));
    row(out, "Offset", seconds(number_at(refclock, "offset_s")));
    const Json* last = member(refclock, "last_sample");
    if (last != nullptr && last->is_object()) {
        row(out, "Last sample: reference", text_at(*last, "reference"));
        row(out, "Last sample: receive", text_at(*last, "receive"));
        row(out, "Clock &#8722; receive", seconds(number_at(*last, "clock_minus_receive_s")));
        row(out, "Age", seconds(number_at(*last, "age_s")));
        row(out, "Leap", text_at(*last, "leap"));
    } else {
        row(out, "Last sample", "none");
    }
    out += "</table>\n";
    if (const Json* counters = member(refclock, "counters"); counters && counters->is_object()) {
        counters_table(out, *counters);
    }
    if (const Json* latency = member(refclock, "pps_latency"); latency && latency->is_object()) {
        out += "<h3>NMEA latency measured by PPS</h3>\n<table>\n";
        row(out, "PPS refclock", text_at(*latency, "pps_refclock"));
        row(out, "Median", seconds(number_at(*latency, "median_s")));
        row(out, "Spread", seconds(number_at(*latency, "spread_s")));
        row(out, "Pulses", text_at(*latency, "pulses"));
        row(out, "Suggested offset", seconds(number_at(*latency, "suggested_offset_s")));
        row(out, "Settled", text_at(*latency, "settled"));
        out += "</table>\n";
    }
    if (const Json* arrival = member(refclock, "nmea_arrival"); arrival && arrival->is_object()) {
        out += "<h3>NMEA arrival after the second (system clock)</h3>\n<table>\n";
        row(out, "Cycles", text_at(*arrival, "cycles"));
        row(out, "Median", seconds(number_at(*arrival, "median_s")));
        row(out, "Spread", seconds(number_at(*arrival, "spread_s")));
        out += "</table>\n";
        histogram(out, *arrival);
    }
    out += fmt::format("<h3>{} over the last hour</h3>\n",
                       source == "pps" ? "Pulse offset (clock &#8722; receive)"
                                       : "Clock &#8722; receive");
    history_plot(out, refclock);
    out += "</section>\n";
}

constexpr std::string_view style = R"(
body{font-family:system-ui,sans-serif;margin:0 auto;padding:0.5em;max-width:60em;color:#111;background:#fff}
h1{font-size:1.4em}h2{font-size:1.2em;margin-bottom:0.2em}h3{font-size:1em}
small{font-weight:normal;color:#555}
section.refclock{border-top:1px solid #ccc;padding-top:0.5em}
table{border-collapse:collapse;width:100%;max-width:40em;margin:0.3em 0}
th,td{text-align:left;padding:0.15em 0.4em;border-bottom:1px solid #eee;word-break:break-word;font-variant-numeric:tabular-nums}
th{font-weight:600;width:45%}
caption{text-align:left;font-weight:600}
svg.plot{width:100%;max-width:40em;height:auto;display:block}
svg .frame{fill:none;stroke:#999}
svg .bar{fill:#4a7ab5}
svg .line{fill:none;stroke:#b5444a;stroke-width:1.5}
svg text{font-size:12px;fill:#333}
)";

} // namespace

std::string escape_html(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
        case '&':
            out += "&amp;";
            break;
        case '<':
            out += "&lt;";
            break;
        case '>':
            out += "&gt;";
            break;
        case '"':
            out += "&quot;";
            break;
        case '\'':
            out += "&#39;";
            break;
        default:
            out += c;
        }
    }
    return out;
}

std::string render_status_page(const nlohmann::ordered_json& snapshot) {
    std::string out;
    out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
           "<meta http-equiv=\"refresh\" content=\"10\">\n<title>shmrefclock</title>\n<style>";
    out += style;
    out += "</style>\n</head>\n<body>\n";
    out += fmt::format("<h1>shmrefclock <small>{}</small></h1>\n", text_at(snapshot, "version"));
    out += "<table>\n";
    row(out, "Status", text_at(snapshot, "status"));
    row(out, "Now", text_at(snapshot, "now"));
    row(out, "Started", text_at(snapshot, "started"));
    if (auto uptime = number_at(snapshot, "uptime_s")) {
        row(out, "Uptime", fmt::format("{:.0f}&#8239;s", *uptime));
    }
    row(out, "Configuration", text_at(snapshot, "config"));
    out += "</table>\n";
    const Json* refclocks = member(snapshot, "refclocks");
    if (refclocks == nullptr || !refclocks->is_array() || refclocks->empty()) {
        out += "<p>No refclocks.</p>\n";
    } else {
        for (const auto& refclock : *refclocks) {
            refclock_section(out, refclock);
        }
    }
    out += "</body>\n</html>\n";
    return out;
}

} // namespace shmrefclock
