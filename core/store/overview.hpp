#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "store/database.hpp"

namespace msteams::store {

// The bridge's state as its tables show it, for metrics and admin diagnostics: the same from every node.
struct Overview {
    std::int64_t inbox_items = 0;
    std::int64_t inbox_oldest_at = 0;  // Unix ms the oldest queued notification arrived; 0: none
    std::int64_t outbox_items = 0;
    std::int64_t outbox_oldest_at = 0;  // Unix ms the oldest queued change was queued; 0: none
    std::int64_t dead_letters = 0;
    std::int64_t connected_users = 0;
    std::int64_t disconnected_users = 0;  // linked once, without a token now
    struct Subscriptions {
        std::string kind;  // "chats" (the global subscription) is always listed
        std::int64_t count = 0;
        std::int64_t soonest_expiry = 0;  // Unix ms; 0: none
        std::int64_t not_active = 0;
    };
    std::vector<Subscriptions> subscriptions;
};

// Two statements, each over small tables or indexes.
[[nodiscard]] Result<Overview> read_overview(Database& db);

}  // namespace msteams::store
