// The status page at / (docs/design.md, "Live state"): server-rendered
// HTML5 with inline SVG and CSS, no script and no external asset, from the
// snapshot JSON (taken with SnapshotOptions::history). Pure.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace shmrefclock {

std::string render_status_page(const nlohmann::ordered_json& snapshot);

// Text as HTML character data or a quoted attribute value: & < > " '.
std::string escape_html(std::string_view text);

} // namespace shmrefclock
