// The live state's JSON form (docs/design.md, "Live state"): what the
// control socket sends and `status` reads back, the one conversion each
// way. The document's shape comes from the structs' field and counter lists
// (core/live_state.hpp).
#pragma once

#include <nlohmann/json.hpp>

#include "core/live_state.hpp"

namespace shmrefclock {

nlohmann::ordered_json to_json(const DaemonState& state);

// Tolerant, for a reply from another process (an older or newer daemon): a
// field that is missing or of another type is left at its default, or is
// unknown_number for a number, or the text of a scalar for a string; an
// unknown key is ignored. Never throws on the document's content.
DaemonState daemon_state_from_json(const nlohmann::ordered_json& json);

} // namespace shmrefclock
