#include "app/diagnostics.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"

namespace msteams::app {

namespace {

std::string utc(std::int64_t unix_ms) { return unix_ms > 0 ? utc_text(unix_ms) : std::string("never"); }

// "3 h 5 min", "42 s": how long, in words an admin reads at a glance.
std::string span(std::int64_t ms) {
    if (ms < 0) {
        ms = 0;
    }
    auto const s = ms / 1000;
    if (s < 120) {
        return std::to_string(s) + " s";
    }
    if (s < 2 * 3600) {
        return std::to_string(s / 60) + " min";
    }
    if (s < 2 * 86400) {
        return std::to_string(s / 3600) + " h " + std::to_string(s / 60 % 60) + " min";
    }
    return std::to_string(s / 86400) + " days";
}

std::string age(std::int64_t since, std::int64_t now) { return since > 0 ? span(now - since) : std::string("—"); }

// This node: its mode, core, last notification, Graph, and the upgrade from the official plugin.
std::string node_lines(Diagnostics const& d) {
    std::string out;
    out += "- **Mode:** Teams chats " + d.chat_sync + (d.active ? "" : ", plugin not active") +
           (d.configured ? "" : ", not set up") + "; " +
           (d.leader ? "this node keeps the subscriptions and runs the jobs"
                     : "another node keeps the subscriptions and runs the jobs") +
           ".\n";
    out += "- **Core:** version " + d.version + ", up " + span(d.now - d.started_at) + ", restarted " +
           std::to_string(d.restarts) + (d.restarts == 1 ? " time" : " times") + ".\n";
    out += "- **Last change notification on this node:** " +
           (d.last_notification_at > 0
                ? utc(d.last_notification_at) + " (" + span(d.now - d.last_notification_at) + " ago)"
                : std::string("none since the core started")) +
           ".\n";
    out += "- **Microsoft Graph on this node:** " + std::to_string(d.graph_requests) + " requests, " +
           std::to_string(d.graph_throttled) + " throttled (429), " + std::to_string(d.graph_retries) + " retried; " +
           span(static_cast<std::int64_t>(d.graph_waited_ms)) + " spent waiting for the bridge's rate budgets.\n";
    if (!d.teams_tab_problem.empty()) {
        out += "- **Teams tab:** " + d.teams_tab_problem + ".\n";
    }
    if (!d.legacy_import.empty()) {
        out += "- **Upgrade from the official MS Teams plugin:** " + d.legacy_import + ".\n";
    }
    return out;
}

}  // namespace

std::string to_markdown(Diagnostics const& d) {
    std::string out = "\n\n#### Bridge status (node " + d.node + ")\n" + node_lines(d);
    if (d.credentials_problem) {
        out += "- **App credentials:** " +
               (d.credentials_problem->empty() ? std::string("working (Entra ID issues the app's token).")
                                               : "not working: " + *d.credentials_problem) +
               "\n";
        if (!d.missing_permissions.empty()) {
            std::string list;
            for (auto const& m : d.missing_permissions) {
                list += (list.empty() ? "`" : ", `") + m + "`";
            }
            out += "- **Missing application permissions:** " + list + " (grant them with admin consent in Entra ID).\n";
        }
        out += "- **Client secret:** " +
               (d.secret_expires_at
                    ? "expires " + utc(*d.secret_expires_at) + " (in " + span(*d.secret_expires_at - d.now) + ")."
                    : std::string("expiry unknown (the app needs Application.Read.All to read it).")) +
               "\n";
    }
    if (!d.overview) {
        out += "- **Database:** could not be read: " + d.database_problem + "\n";
        return out;
    }
    auto const& o = *d.overview;
    out += "- **Queues:** " + std::to_string(o.inbox_items) + " Teams changes waiting (oldest " +
           age(o.inbox_oldest_at, d.now) + "), " + std::to_string(o.outbox_items) +
           " Mattermost changes waiting (oldest " + age(o.outbox_oldest_at, d.now) + ").\n";
    out += "- **Users:** " + std::to_string(o.connected_users) + " connected, " + std::to_string(o.disconnected_users) +
           " need to connect again (connection lost or disconnected).\n";
    if (d.subscriptions.empty()) {
        out += "- **Subscriptions:** none" +
               std::string(d.chat_sync == "off" ? " (Teams chats are off)." : ": Teams messages are not received.") +
               "\n";
        return out;
    }
    auto const per_user =
        static_cast<std::size_t>(std::count_if(d.subscriptions.begin(), d.subscriptions.end(),
                                               [](auto const& s) { return s.kind == store::SubscriptionKind::user; }));
    if (d.planner_budget) {
        out += "- **Subscriptions (" + d.subscription_mode + "):** " + std::to_string(per_user) +
               " users on a rich subscription of their own, " +
               std::to_string(o.connected_users > static_cast<std::int64_t>(per_user)
                                  ? o.connected_users - static_cast<std::int64_t>(per_user)
                                  : 0) +
               " connected users heard through the global subscription; budget " + std::to_string(*d.planner_budget) +
               " subscriptions in all" +
               (*d.planner_budget < d.configured_budget
                    ? " (shrunk from " + std::to_string(d.configured_budget) +
                          " after Microsoft Graph refused one for the organization's quota)"
                    : "") +
               ". `/msteams status @user` tells why a user is or is not on one.\n";
    } else if (!d.subscription_mode.empty()) {
        out += "- **Subscriptions (" + d.subscription_mode + "):**\n";
    }
    out += "\n| Subscription | Resource | State | Expires |\n|---|---|---|---|\n";
    for (auto const& s : d.subscriptions) {
        if (s.kind == store::SubscriptionKind::user) {
            continue;  // counted above
        }
        out += "| " + std::string(store::text(s.kind)) + " | " + s.resource + " | " +
               std::string(store::text(s.state)) + " | " + utc(s.expires_at) + " (in " + span(s.expires_at - d.now) +
               ") |\n";
    }
    return out;
}

std::string to_json(Diagnostics const& d) {
    nlohmann::json j;
    j["node"] = {{"name", d.node},
                 {"version", d.version},
                 {"chat_sync", d.chat_sync},
                 {"active", d.active},
                 {"configured", d.configured},
                 {"leader", d.leader},
                 {"started_at", d.started_at},
                 {"restarts", d.restarts},
                 {"last_notification_at", d.last_notification_at}};
    j["graph"] = {{"requests", d.graph_requests},
                  {"throttled", d.graph_throttled},
                  {"retries", d.graph_retries},
                  {"rate_budget_wait_ms", d.graph_waited_ms}};
    if (d.credentials_problem) {
        j["credentials"] = {{"working", d.credentials_problem->empty()},
                            {"problem", *d.credentials_problem},
                            {"missing_permissions", d.missing_permissions},
                            {"secret_expires_at",
                             d.secret_expires_at ? nlohmann::json(*d.secret_expires_at) : nlohmann::json(nullptr)}};
    } else {
        j["credentials"] = nullptr;
    }
    if (d.overview) {
        auto const& o = *d.overview;
        j["queues"] = {{"inbox_items", o.inbox_items},
                       {"inbox_oldest_at", o.inbox_oldest_at},
                       {"outbox_items", o.outbox_items},
                       {"outbox_oldest_at", o.outbox_oldest_at},
                       {"dead_letters", o.dead_letters}};
        j["users"] = {{"connected", o.connected_users}, {"disconnected", o.disconnected_users}};
        auto subs = nlohmann::json::array();
        std::int64_t per_user = 0;
        for (auto const& s : d.subscriptions) {
            if (s.kind == store::SubscriptionKind::user) {
                ++per_user;
                continue;
            }
            subs.push_back({{"kind", std::string(store::text(s.kind))},
                            {"resource", s.resource},
                            {"state", std::string(store::text(s.state))},
                            {"expires_at", s.expires_at}});
        }
        j["subscriptions"] = std::move(subs);
        j["subscription_mode"] = d.subscription_mode;
        j["per_user_subscriptions"] = per_user;
        j["subscription_budget"] = d.planner_budget ? nlohmann::json(*d.planner_budget) : nlohmann::json(nullptr);
        j["database"] = {{"readable", true}};
    } else {
        j["database"] = {{"readable", false}, {"problem", d.database_problem}};
    }
    j["teams_tab_problem"] =
        d.teams_tab_problem.empty() ? nlohmann::json(nullptr) : nlohmann::json(d.teams_tab_problem);
    j["legacy_import"] = d.legacy_import.empty() ? nlohmann::json(nullptr) : nlohmann::json(d.legacy_import);
    j["now"] = d.now;
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace msteams::app
