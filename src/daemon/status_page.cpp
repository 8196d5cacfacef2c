#include "daemon/status_page.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include <fmt/format.h>

namespace shmrefclock {

namespace {

// The plot's drawing area inside its viewBox; the SVG scales to the width
// of the screen (CSS width: 100%), so a phone sees all of it.
constexpr double plot_width = 600;
constexpr double plot_height = 200;
constexpr double margin_left = 70;
constexpr double margin_bottom = 24;
constexpr double margin_top = 10;
constexpr double margin_right = 10;

// Text from the configuration or a receiver, escaped; "-" for none.
std::string text(const std::string& value) {
    return value.empty() ? "-" : escape_html(value);
}

// "-" for a number another process did not send.
std::string seconds(double value) {
    if (std::isnan(value)) {
        return "-";
    }
    return fmt::format("{:.6f}&#8239;s", value);
}

std::string milliseconds(double value) {
    return fmt::format("{:.3f}", value * 1e3);
}

void row(std::string& out, std::string_view name, const std::string& value) {
    out += fmt::format("<tr><th scope=\"row\">{}</th><td>{}</td></tr>\n", name, value);
}

// Every counter the refclock's structs declare (core/live_state.hpp).
void counters_table(std::string& out, const RefclockState& refclock) {
    out += "<table class=\"counters\"><caption>Counters</caption>\n";
    RefclockState::counters(
        refclock, Overload{[&out](const CounterInfo& info, std::uint64_t count) {
                               row(out, info.name, fmt::format("{}", count));
                           },
                           [&out](const CounterInfo& info, const ReasonCounts& counts) {
                               for (const ReasonCount& each : counts) {
                                   row(out,
                                       escape_html(fmt::format("{} {}", info.name, each.reason)),
                                       fmt::format("{}", each.count));
                               }
                           }});
    out += "</table>\n";
}

// The NMEA arrival histogram: one bar per bin, heights scaled to the
// fullest bin.
void histogram(std::string& out, const NmeaArrival& arrival) {
    const std::vector<std::uint64_t>& counts = arrival.counts;
    const double start = arrival.start_s;
    const double bin = arrival.bin_s;
    if (counts.empty() || std::isnan(start) || std::isnan(bin)) {
        out += "<p>No arrival histogram yet.</p>\n";
        return;
    }
    double peak = 0;
    for (const std::uint64_t c : counts) {
        peak = std::max(peak, static_cast<double>(c));
    }
    const double inner_w = plot_width - margin_left - margin_right;
    const double inner_h = plot_height - margin_top - margin_bottom;
    const double bar_w = inner_w / static_cast<double>(counts.size());
    out += fmt::format("<svg class=\"plot\" viewBox=\"0 0 {} {}\" role=\"img\" "
                       "aria-label=\"NMEA arrival delay histogram\">\n",
                       plot_width, plot_height);
    out += fmt::format("<rect class=\"frame\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>\n",
                       margin_left, margin_top, inner_w, inner_h);
    for (std::size_t i = 0; i < counts.size(); ++i) {
        const double count = static_cast<double>(counts[i]);
        if (count <= 0 || peak <= 0) {
            continue;
        }
        const double h = inner_h * count / peak;
        const double lo = start + bin * static_cast<double>(i);
        out += fmt::format("<rect class=\"bar\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" "
                           "height=\"{:.1f}\"><title>{} to {} ms: {}</title></rect>\n",
                           margin_left + bar_w * static_cast<double>(i), margin_top + inner_h - h,
                           std::max(bar_w - 1, 1.0), h, milliseconds(lo), milliseconds(lo + bin),
                           count);
    }
    const double end = start + bin * static_cast<double>(counts.size());
    const double base = plot_height - 6;
    out += fmt::format("<text x=\"{}\" y=\"{}\">{} ms</text>\n", margin_left, base,
                       milliseconds(start));
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{} ms</text>\n",
                       plot_width - margin_right, base, milliseconds(end));
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", margin_left - 4,
                       margin_top + 12, peak);
    out += "</svg>\n";
}

// Clock - receive over the history's span (the last hour): a polyline, the
// y axis in ms from the smallest to the largest value.
void history_plot(std::string& out, const RefclockState& refclock) {
    std::vector<std::pair<double, double>> points;
    if (refclock.history) {
        for (const SecondHistory::Point& point : *refclock.history) {
            points.emplace_back(static_cast<double>(point.unix_s), point.value);
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

void refclock_section(std::string& out, const RefclockState& refclock) {
    out += fmt::format("<section class=\"refclock\">\n<h2>{} <small>{}</small></h2>\n",
                       text(refclock.name), text(refclock.source));
    out += "<table>\n";
    row(out, "Health", text(refclock.health));
    row(out, "Outputs", text(refclock.outputs));
    row(out, "Offset", seconds(refclock.offset_s));
    if (const auto& last = refclock.last_sample) {
        row(out, "Last sample: reference", text(last->reference));
        row(out, "Last sample: receive", text(last->receive));
        row(out, "Clock &#8722; receive", seconds(last->clock_minus_receive_s));
        row(out, "Age", seconds(last->age_s));
        row(out, "Leap", fmt::format("{}", last->leap));
    } else {
        row(out, "Last sample", "none");
    }
    out += "</table>\n";
    counters_table(out, refclock);
    const auto* nmea = refclock.nmea ? &*refclock.nmea : nullptr;
    if (nmea != nullptr && nmea->pps_latency) {
        const PpsLatency& latency = *nmea->pps_latency;
        out += "<h3>NMEA latency measured by PPS</h3>\n<table>\n";
        row(out, "PPS refclock", text(latency.pps_refclock));
        row(out, "Median", seconds(latency.median_s));
        row(out, "Spread", seconds(latency.spread_s));
        row(out, "Pulses", fmt::format("{}", latency.pulses));
        row(out, "Suggested offset", seconds(latency.suggested_offset_s));
        row(out, "Settled", latency.settled ? "true" : "false");
        out += "</table>\n";
    }
    if (nmea != nullptr && nmea->arrival) {
        const NmeaArrival& arrival = *nmea->arrival;
        out += "<h3>NMEA arrival after the second (system clock)</h3>\n<table>\n";
        row(out, "Cycles", fmt::format("{}", arrival.cycles));
        row(out, "Median", seconds(arrival.median_s));
        row(out, "Spread", seconds(arrival.spread_s));
        out += "</table>\n";
        histogram(out, arrival);
    }
    out += fmt::format("<h3>{} over the last hour</h3>\n",
                       refclock.source == "pps" ? "Pulse offset (clock &#8722; receive)"
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

std::string render_status_page(const DaemonState& state) {
    std::string out;
    out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
           "<meta http-equiv=\"refresh\" content=\"10\">\n<title>shmrefclock</title>\n<style>";
    out += style;
    out += "</style>\n</head>\n<body>\n";
    out += fmt::format("<h1>shmrefclock <small>{}</small></h1>\n", text(state.version));
    out += "<table>\n";
    row(out, "Status", text(state.status));
    row(out, "Now", text(state.now));
    row(out, "Started", text(state.started));
    if (!std::isnan(state.uptime_s)) {
        row(out, "Uptime", fmt::format("{:.0f}&#8239;s", state.uptime_s));
    }
    row(out, "Configuration", text(state.config));
    out += "</table>\n";
    if (state.refclocks.empty()) {
        out += "<p>No refclocks.</p>\n";
    }
    for (const RefclockState& refclock : state.refclocks) {
        refclock_section(out, refclock);
    }
    out += "</body>\n</html>\n";
    return out;
}

} // namespace shmrefclock
