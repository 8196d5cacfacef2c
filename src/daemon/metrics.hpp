// The Prometheus text exposition (format 0.0.4) of the live state
// (docs/design.md, "Live state"): pure, snapshot JSON in, text out.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace shmrefclock {

// The Content-Type Prometheus expects for format 0.0.4.
inline constexpr std::string_view metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

// Every counter the snapshot holds, generically (a scalar NAME ->
// shmrefclock_NAME_total{refclock=...}, an object -> one counter with a
// label), and gauges for the last sample, nmea_arrival, pps_latency and the
// build.
std::string render_metrics(const nlohmann::ordered_json& snapshot);

// A label value as the exposition format wants it: \ " and newline escaped.
std::string escape_label_value(std::string_view value);

} // namespace shmrefclock
