// The status page at / (docs/design.md, "Live state"): server-rendered
// HTML5 with inline SVG and CSS, no script and no external asset, from the
// typed live state (taken with SnapshotOptions::history). Pure.
#pragma once

#include <string>
#include <string_view>

#include "core/live_state.hpp"

namespace shmrefclock {

std::string render_status_page(const DaemonState& state);

// Text as HTML character data or a quoted attribute value: & < > " '.
std::string escape_html(std::string_view text);

} // namespace shmrefclock
