#include "core/alarm_schedule.hpp"

#include <algorithm>
#include <utility>

namespace shmrefclock {

AlarmSchedule::Id AlarmSchedule::add() {
    const Id id = next_id_++;
    alarms_.emplace(id, Alarm{});
    return id;
}

void AlarmSchedule::remove(Id id) {
    alarms_.erase(id);
}

void AlarmSchedule::arm(Id id, std::int64_t deadline_ns, std::int64_t period_ns) {
    const auto it = alarms_.find(id);
    if (it == alarms_.end()) {
        return;
    }
    it->second.deadline_ns = deadline_ns;
    it->second.period_ns = std::max<std::int64_t>(period_ns, 0);
}

void AlarmSchedule::disarm(Id id) {
    const auto it = alarms_.find(id);
    if (it != alarms_.end()) {
        it->second.deadline_ns.reset();
    }
}

bool AlarmSchedule::armed(Id id) const {
    const auto it = alarms_.find(id);
    return it != alarms_.end() && it->second.deadline_ns.has_value();
}

std::vector<AlarmSchedule::Id> AlarmSchedule::take_due(std::int64_t now_ns) {
    std::vector<std::pair<std::int64_t, Id>> due;
    for (auto& [id, alarm] : alarms_) {
        if (!alarm.deadline_ns || *alarm.deadline_ns > now_ns) {
            continue;
        }
        due.emplace_back(*alarm.deadline_ns, id);
        if (alarm.period_ns > 0) {
            const std::int64_t missed = (now_ns - *alarm.deadline_ns) / alarm.period_ns;
            *alarm.deadline_ns += (missed + 1) * alarm.period_ns;
        } else {
            alarm.deadline_ns.reset();
        }
    }
    std::sort(due.begin(), due.end());
    std::vector<Id> ids;
    ids.reserve(due.size());
    for (const auto& entry : due) {
        ids.push_back(entry.second);
    }
    return ids;
}

std::optional<std::int64_t> AlarmSchedule::next_deadline() const {
    std::optional<std::int64_t> next;
    for (const auto& [id, alarm] : alarms_) {
        if (alarm.deadline_ns && (!next || *alarm.deadline_ns < *next)) {
            next = alarm.deadline_ns;
        }
    }
    return next;
}

std::optional<std::int64_t> AlarmSchedule::next_wake(std::int64_t slack_ns) const {
    const std::optional<std::int64_t> earliest = next_deadline();
    if (!earliest) {
        return std::nullopt;
    }
    std::int64_t wake = *earliest;
    for (const auto& [id, alarm] : alarms_) {
        if (alarm.deadline_ns && *alarm.deadline_ns > wake &&
            *alarm.deadline_ns - *earliest <= slack_ns) {
            wake = *alarm.deadline_ns;
        }
    }
    return wake;
}

} // namespace shmrefclock
