// The daemon's live state as one JSON document (docs/design.md, "Live
// state"): what the control socket answers, what `status` shows, what
// /metrics and the status page are rendered from. One producer, so that the
// three views cannot disagree.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/history.hpp"

namespace shmrefclock {

// Which parts of the state a view needs. The history (a point per second
// over the last hour, per refclock) is large; only the status page asks.
struct SnapshotOptions {
    bool history = false;
};

// A refclock's `history` as the snapshot has it: [[unix_s, value], ...].
inline nlohmann::ordered_json history_json(const std::vector<SecondHistory::Point>& points) {
    nlohmann::ordered_json array = nlohmann::ordered_json::array();
    for (const SecondHistory::Point& point : points) {
        array.push_back({point.unix_s, point.value});
    }
    return array;
}

// Reading the snapshot tolerantly (the renderers of /metrics and the status
// page): a key that is absent, or of another type, is nothing.
inline const nlohmann::ordered_json* snapshot_member(const nlohmann::ordered_json& object,
                                                     std::string_view key) {
    if (!object.is_object()) {
        return nullptr;
    }
    auto it = object.find(key);
    return it == object.end() ? nullptr : &*it;
}

inline std::optional<double> snapshot_number(const nlohmann::ordered_json& object,
                                             std::string_view key) {
    const nlohmann::ordered_json* value = snapshot_member(object, key);
    if (value == nullptr || !value->is_number()) {
        return std::nullopt;
    }
    return value->get<double>();
}

} // namespace shmrefclock
