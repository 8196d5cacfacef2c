#include "core/client_slots.hpp"

#include <limits>

namespace shmrefclock {

void ClientSlots::opened(Id id, std::int64_t now_ns) {
    auto [it, inserted] = clients_.try_emplace(id, Client{now_ns, now_ns, false, false});
    if (inserted) {
        ++held_;
    }
}

void ClientSlots::busy(Id id) {
    if (auto it = clients_.find(id); it != clients_.end()) {
        it->second.busy = true;
    }
}

void ClientSlots::idle(Id id, std::int64_t now_ns) {
    if (auto it = clients_.find(id); it != clients_.end()) {
        it->second.busy = false;
        it->second.idle_since_ns = now_ns;
    }
}

void ClientSlots::closed(Id id) {
    auto it = clients_.find(id);
    if (it == clients_.end()) {
        return;
    }
    if (!it->second.closing) {
        --held_;
    }
    clients_.erase(it);
}

void ClientSlots::close(Client& client) {
    if (!client.closing) {
        client.closing = true;
        --held_;
    }
}

bool ClientSlots::closing(Id id) const {
    auto it = clients_.find(id);
    return it != clients_.end() && it->second.closing;
}

std::optional<ClientSlots::Id> ClientSlots::longest_idle(std::int64_t idle_before_ns) const {
    // Ids grow with accept order, so among equal idle times the first found
    // is the older connection.
    std::optional<Id> victim;
    std::int64_t victim_idle_since = 0;
    for (const auto& [id, client] : clients_) {
        if (client.closing || client.busy || client.idle_since_ns > idle_before_ns) {
            continue;
        }
        if (!victim || client.idle_since_ns < victim_idle_since) {
            victim = id;
            victim_idle_since = client.idle_since_ns;
        }
    }
    return victim;
}

ClientSlots::Admission ClientSlots::admit(std::int64_t now_ns) {
    if (held_ < limit_) {
        return {};
    }
    std::optional<Id> victim = longest_idle(now_ns - grace_ns_);
    if (!victim) {
        if (held_ < limit_ + overflow_) {
            return {}; // every idle one is young: admitted over the limit
        }
        victim = longest_idle(std::numeric_limits<std::int64_t>::max());
    }
    if (!victim) {
        return {std::nullopt, true};
    }
    close(clients_.at(*victim));
    return {victim, false};
}

std::vector<ClientSlots::Id> ClientSlots::expire(std::int64_t now_ns) {
    std::vector<Id> ended;
    for (auto& [id, client] : clients_) {
        if (!client.closing && client.accepted_ns + lifetime_ns_ <= now_ns) {
            close(client);
            ended.push_back(id);
        }
    }
    return ended;
}

std::optional<std::int64_t> ClientSlots::next_expiry() const {
    std::optional<std::int64_t> earliest;
    for (const auto& [id, client] : clients_) {
        if (!client.closing && (!earliest || client.accepted_ns + lifetime_ns_ < *earliest)) {
            earliest = client.accepted_ns + lifetime_ns_;
        }
    }
    return earliest;
}

} // namespace shmrefclock
