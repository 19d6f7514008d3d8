#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/overview.hpp"
#include "store/records.hpp"

// What `/msteams status` shows system admins and GET /api/v1/status answers them: this node, the queues, the
// subscriptions, Graph's throttling and the app's credentials. Plain language; no secrets, no message content.
namespace msteams::app {

struct Diagnostics {
    // this node
    std::string node;
    std::string version;
    std::string chat_sync;  // mirror, notifications, off
    bool active = false;
    bool configured = false;
    bool leader = false;
    std::int64_t started_at = 0;  // Unix ms
    std::int64_t restarts = 0;
    std::int64_t last_notification_at = 0;  // Unix ms this node last accepted a change notification; 0: never
    // Graph as this node saw it since its core started
    std::uint64_t graph_requests = 0;
    std::uint64_t graph_throttled = 0;  // 429 answers
    std::uint64_t graph_retries = 0;
    std::uint64_t graph_waited_ms = 0;  // waits for a turn under the bridge's own rate budgets
    // the app's credentials: nullopt when not tried (not configured), else "" when working or the problem
    std::optional<std::string> credentials_problem;
    std::optional<std::int64_t> secret_expires_at;  // Unix ms, when the app registration lets the bridge read it
    std::vector<std::string> missing_permissions;   // application permissions the configured features need and lack
    // the database (nullopt: it could not be read; database_problem says why)
    std::optional<store::Overview> overview;
    std::vector<store::SubscriptionRow> subscriptions;
    // How the bridge hears of Teams messages (global, global-rich, per-user, hybrid); per-user and hybrid: the
    // planner's budget in force (the global subscription included) and the configured one.
    std::string subscription_mode;
    std::optional<std::size_t> planner_budget;
    std::size_t configured_budget = 0;
    std::string database_problem;
    // The upgrade from the official plugin (sync::legacy_status); "" when there was none.
    std::string legacy_import;
    // The Teams tab: "" when Teams may frame Mattermost's pages, else what the admin should set.
    std::string teams_tab_problem;
    std::int64_t now = 0;  // Unix ms, for ages
};

[[nodiscard]] std::string to_markdown(Diagnostics const& d);
[[nodiscard]] std::string to_json(Diagnostics const& d);

}  // namespace msteams::app
