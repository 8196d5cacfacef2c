// The Prometheus text exposition (format 0.0.4) of the live state
// (docs/design.md, "Live state"): pure, the typed state in, text out.
#pragma once

#include <string>
#include <string_view>

#include "core/live_state.hpp"

namespace shmrefclock {

// The Content-Type Prometheus expects for format 0.0.4.
inline constexpr std::string_view metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

// Every counter and gauge the state's structs declare (a count NAME ->
// shmrefclock_NAME_total{refclock=...}, counts by reason -> one counter
// with the reason as a label), the refclock's info, whether it has a sample,
// and the build.
std::string render_metrics(const DaemonState& state);

// A label value as the exposition format wants it: \ " and newline escaped.
std::string escape_label_value(std::string_view value);

} // namespace shmrefclock
