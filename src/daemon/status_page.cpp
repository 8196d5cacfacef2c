#include "daemon/status_page.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "core/ubx_epoch.hpp"

namespace shmrefclock {

namespace {

// The plot's drawing area inside its viewBox; the SVG scales to the width
// of the screen (CSS width: 100%), so a phone sees all of it.
constexpr double plot_width = 600;
constexpr double plot_height = 200;
constexpr double margin_left = 100; // room for "-130.981 ms"
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

// A counter's row: its title for people with its metric beside it, and the
// count (dimmed when zero).
void counter_row(std::string& out, std::string_view css, std::string_view title,
                 const std::string& metric, std::uint64_t count) {
    out += fmt::format("<tr class=\"{}{}\"><th scope=\"row\">{} <code class=\"metric\">{}</code>"
                       "</th><td>{}</td></tr>\n",
                       css, count == 0 ? " zero" : "", title, metric, count);
}

// Every counter the refclock's structs declare (core/live_state.hpp), by
// its title; counts by reason under their counter, by the reason's words.
void counters_table(std::string& out, const RefclockState& refclock) {
    out += "<table class=\"counters\"><caption>Counters (since start-up or the last reload)"
           "</caption>\n";
    RefclockState::counters(
        refclock,
        Overload{[&out](const CounterInfo& info, std::uint64_t count) {
                     counter_row(out, "single", info.title,
                                 fmt::format("shmrefclock_{}_total", info.name), count);
                 },
                 [&out](const CounterInfo& info, const ReasonCounts& counts) {
                     out += fmt::format("<tr class=\"group\"><th colspan=\"2\">{}, by {}</th>"
                                        "</tr>\n",
                                        info.title, info.label);
                     for (const ReasonCount& each : counts) {
                         counter_row(out, "reason",
                                     text(each.words.empty() ? each.reason : each.words),
                                     escape_html(fmt::format("shmrefclock_{}_total{{{}=\"{}\"}}",
                                                             info.name, info.label, each.reason)),
                                     each.count);
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
    out += fmt::format("<svg class=\"plot histogram\" viewBox=\"0 0 {} {}\" role=\"img\" "
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
    out += fmt::format("<svg class=\"plot history\" viewBox=\"0 0 {} {}\" role=\"img\" "
                       "aria-label=\"clock minus receive over the last hour\">\n",
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
    out += fmt::format("<text x=\"{}\" y=\"{}\">-{}</text>\n", margin_left, base,
                       span < 120 ? fmt::format("{:.0f} s", span)
                                  : fmt::format("{:.0f} min", span / 60));
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">now</text>\n",
                       plot_width - margin_right, base);
    out += "</svg>\n";
}

// The health line: whether the refclock publishes now, why in its source's
// words (its health), and how old its last sample is.
void health_line(std::string& out, const RefclockState& refclock) {
    const auto& last = refclock.last_sample;
    std::string age = "no sample now";
    if (last) {
        age = std::isnan(last->age_s) ? std::string("last sample age unknown")
                                      : fmt::format("last sample {:.1f}&#8239;s ago", last->age_s);
    }
    out += fmt::format("<p class=\"health {}\"><strong class=\"state\">{}</strong> "
                       "<span class=\"reason\">{}</span> <span class=\"age\">{}</span></p>\n",
                       last ? "ok" : "bad", last ? "publishing" : "not publishing",
                       text(refclock.health), age);
}

// What a user comes for, first: health, offset and its plot, and the offset
// to configure when PPS measured one.
void summary_section(std::string& out, const RefclockState& refclock, std::size_t index) {
    out += fmt::format("<section class=\"refclock\" id=\"refclock-{}\">\n<h2>{} <small>{}</small>"
                       "</h2>\n",
                       index, text(refclock.name), text(refclock.source));
    health_line(out, refclock);
    const auto& last = refclock.last_sample;
    out += fmt::format("<p class=\"offset\">{} <strong>{}</strong></p>\n",
                       refclock.source == "pps" ? "Pulse offset (clock &#8722; receive)"
                                                : "Clock &#8722; receive",
                       !last || std::isnan(last->clock_minus_receive_s)
                           ? std::string("none")
                           : milliseconds(last->clock_minus_receive_s) + "&#8239;ms");
    history_plot(out, refclock);
    const auto* latency =
        refclock.nmea && refclock.nmea->pps_latency ? &*refclock.nmea->pps_latency : nullptr;
    if (latency != nullptr) {
        out += fmt::format(
            "<p class=\"suggested\">Suggested <code>offset = {:.3f}</code> (configured "
            "{:.3f}): the NMEA latency measured with pps refclock &quot;{}&quot; over {} pulses "
            "(spread {}&#8239;ms){}</p>\n",
            latency->suggested_offset_s, refclock.offset_s, text(latency->pps_refclock),
            latency->pulses, milliseconds(latency->spread_s),
            latency->settled ? "" : ", not settled yet");
    }
    out += fmt::format("<p class=\"more\"><a href=\"#refclock-{}-details\">Details and counters"
                       "</a></p>\n</section>\n",
                       index);
}

// Everything else about the refclock, counters last.
void details_section(std::string& out, const RefclockState& refclock, std::size_t index) {
    out += fmt::format("<section class=\"details\" id=\"refclock-{}-details\">\n<h2>{} "
                       "<small>{}: details</small></h2>\n<table>\n",
                       index, text(refclock.name), text(refclock.source));
    row(out, "Outputs", text(refclock.outputs));
    row(out, "Configured offset", seconds(refclock.offset_s));
    if (const auto& last = refclock.last_sample) {
        row(out, "Last sample: reference", text(last->reference));
        row(out, "Last sample: receive", text(last->receive));
        row(out, "Leap", fmt::format("{}", last->leap));
    } else {
        row(out, "Last sample", "none");
    }
    out += "</table>\n";
    const auto* nmea = refclock.nmea ? &*refclock.nmea : nullptr;
    if (nmea != nullptr && nmea->receiver) {
        out += "<h3>u-blox receiver</h3>\n<table>\n";
        row(out, "Health", text(ubx::describe(*nmea->receiver)));
        out += "</table>\n";
    }
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
    counters_table(out, refclock);
    out += "</section>\n";
}

// One column on a phone; on a wider screen the refclocks' summaries side
// by side (as many as fit at 24em each), so that their health, offset and
// plot are all seen first.
constexpr std::string_view style = R"(
body{font-family:system-ui,sans-serif;margin:0 auto;padding:0.5em;max-width:100em;color:#111;background:#fff}
h1{font-size:1.3em;margin:0.1em 0}h2{font-size:1.15em;margin:0 0 0.3em}h3{font-size:1em;margin:0.8em 0 0.2em}
p{margin:0.3em 0}small{font-weight:normal;color:#555}
.daemon,.health,td,th{overflow-wrap:anywhere}
.daemon span+span::before,.health .age::before{content:" \00b7  "}
.overview{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,24em),1fr));gap:0.6em;margin:0.5em 0}
section.refclock{border:1px solid #ccc;border-radius:4px;padding:0.5em;min-width:0}
.health{padding:0.2em 0.4em;border-left:0.4em solid}
.health.ok{border-color:#2a7d3a;background:#eef7ef}
.health.bad{border-color:#b5444a;background:#fbeeee}
.offset strong{font-size:1.3em;font-variant-numeric:tabular-nums}
.suggested{background:#fff7e0;padding:0.2em 0.4em}
section.details{border-top:1px solid #ccc;margin-top:1em;padding-top:0.5em}
table{border-collapse:collapse;width:100%;max-width:44em;margin:0.3em 0}
th,td{text-align:left;padding:0.15em 0.4em;border-bottom:1px solid #eee;font-variant-numeric:tabular-nums;vertical-align:top}
th{font-weight:600;width:45%}
caption{text-align:left;font-weight:600}
.counters th{width:75%}.counters td{text-align:right}
.counters tr.reason th{padding-left:1.2em;font-weight:normal}
.counters tr.group th{padding-top:0.5em}
.counters tr.zero{color:#777}
code.metric{display:block;font-size:0.8em;font-weight:normal;color:#555}
svg.plot{width:100%;height:auto;display:block}
svg.histogram{max-width:44em}
svg .frame{fill:none;stroke:#999}
svg .bar{fill:#4a7ab5}
svg .line{fill:none;stroke:#b5444a;stroke-width:1.5}
svg text{font-size:15px;fill:#333}
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
    out += fmt::format("<h1>shmrefclock <small>{}</small></h1>\n<p class=\"daemon\">",
                       text(state.version));
    if (!std::isnan(state.uptime_s)) {
        out += fmt::format("<span>up {:.0f}&#8239;s</span>", state.uptime_s);
    }
    out += fmt::format("<span>now {}</span></p>\n", text(state.now));
    if (state.refclocks.empty()) {
        out += "<p>No refclocks.</p>\n";
    }
    out += "<div class=\"overview\">\n";
    for (std::size_t i = 0; i < state.refclocks.size(); ++i) {
        summary_section(out, state.refclocks[i], i);
    }
    out += "</div>\n";
    for (std::size_t i = 0; i < state.refclocks.size(); ++i) {
        details_section(out, state.refclocks[i], i);
    }
    out += "<section class=\"details\">\n<h2>Daemon</h2>\n<table>\n";
    row(out, "Status", text(state.status));
    row(out, "Started", text(state.started));
    row(out, "Configuration", text(state.config));
    out += "</table>\n</section>\n";
    out += "</body>\n</html>\n";
    return out;
}

} // namespace shmrefclock
