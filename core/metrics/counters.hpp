#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "metrics/instruments.hpp"

// What the bridge did, counted by the modules that do it (sync, subscriptions) and by the observers app wires to the
// Graph client, Entra and the database. Read by the admin stats route, the Prometheus exposition and the benchmark;
// never holds secrets. Everything here counts from the core's start.
namespace msteams::metrics {

struct Counters {
    using Counter = std::atomic<std::uint64_t>;

    // change notifications (/changes)
    Counter notifications_received{0};
    Counter notifications_accepted{0};
    Counter notifications_bad_client_state{0};
    Counter notifications_unknown_subscription{0};
    Counter notifications_wrong_tenant{0};  // tenantId missing or not the configured tenant
    Counter notifications_malformed{0};
    Counter notifications_unlinked{0};        // about a Teams channel that is not (or no longer) linked
    Counter notification_batches_refused{0};  // malformed bodies, database unavailable
    // rich notifications (resource data): refused at the webhook because of their batch's validationTokens (reason:
    // missing, malformed, signature, claims, expired); dropped unread because their chat has no connected member;
    // refused by the worker because their encryptedContent did not decrypt (reason: certificate, malformed, key,
    // signature, data, content); applied from their content without reading Graph
    CounterFamily rich_refused{{"stage", "reason"}};
    Counter rich_unbridged{0};
    // the Teams tab's sign-ins (outcome: signed_in, or why one was refused: expired, tenant, audience, deactivated, …)
    CounterFamily tab_sign_ins{{"outcome"}};
    Counter rich_applied{0};
    std::atomic<std::int64_t> last_notification_at_ms{0};  // Unix ms this node last accepted one; 0: never
    // lifecycle notifications (/lifecycle)
    Counter lifecycle_received{0};
    Counter lifecycle_ignored{0};
    Counter lifecycle_wrong_tenant{0};

    // inbound pipeline
    Counter inbox_batches{0};
    Counter skipped_no_connected_member{0};
    Counter skipped_sync_off{0};
    Counter skipped_not_a_message{0};
    Counter duplicates{0};  // notifications for changes already applied
    Counter unchanged{0};   // messages read again (reading a chat forward overlaps) with nothing new
    Counter echoes{0};
    Counter posts_created{0};
    Counter posts_updated{0};
    Counter posts_deleted{0};
    Counter reactions_added{0};
    Counter reactions_removed{0};
    Counter files_delivered{0};
    Counter files_failed{0};
    Counter notifications_sent{0};  // notifications-only mode
    // Teams activity feed of Teams-primary users: recipients queued, notifications sent, not sent (read or active in
    // Mattermost, no longer Teams-primary), failed (refused by Microsoft, or tried too often), users blocked (told)
    Counter feed_queued{0};
    Counter feed_sent{0};
    Counter feed_skipped{0};
    Counter feed_failed{0};
    Counter feed_blocked{0};
    Counter feed_bulk_requests{0};  // notifications sent to several recipients in one request
    // Rollout: chats left alone by selective sync (both directions), notifications-only users not told because
    // they were at Teams right then.
    Counter skipped_selective{0};
    Counter outbound_selective_skipped{0};
    Counter notifications_skipped_active{0};
    Counter recovered_pending{0};
    Counter failures{0};
    Counter dropped{0};        // given up (permanent errors)
    Counter dead_lettered{0};  // inbox items or messages set aside after repeated failures
    Counter synthetic_users_created{0};
    Counter catchups{0};
    Counter catchup_chunks{0};  // further chunks read in a long gap (oldest first)
    Counter reconciles{0};      // chats queued for a read forward by the periodic reconciliation

    // outbound pipeline
    Counter outbox_enqueued{0};
    Counter sent_posts{0};
    Counter sent_edits{0};
    Counter sent_deletes{0};
    Counter sent_reactions{0};
    Counter sent_files{0};
    Counter relayed_posts{0};
    // Linked channels: posts held because the channel reached Graph's messages per app per channel per day
    Counter outbound_channel_cap_holds{0};
    Counter outbound_not_bridged{0};
    Counter outbound_not_connected{0};
    Counter outbound_failures{0};
    Counter outbound_dropped{0};
    Counter outbound_dead_lettered{0};
    Counter outbound_order_waits{0};      // posts set aside a moment for an earlier post whose hook was on its way
    Counter outbound_hooks_recovered{0};  // posts queued without their hook, which never came (its server died)
    Counter outbound_duplicates{0};       // posts already in Teams found queued again, not sent twice

    // Teams people's profiles (synthetic users): photos set as avatars, statuses mirrored from presence
    Counter avatars_set{0};
    Counter statuses_set{0};
    Counter profile_sync_failures{0};

    // the user sync job (syncUsersInterval) and automatic promotion
    Counter user_sync_runs{0};               // runs finished (or ended at their limit of changes)
    Counter user_sync_users_listed{0};       // Teams users read from the tenant's listing
    Counter user_sync_failures{0};           // a user Mattermost refused to create or change (passed over)
    Counter synthetic_users_updated{0};      // name, email or sign-in brought up to date with Teams
    Counter synthetic_users_deactivated{0};  // Teams account disabled or deleted, or a guest not synced
    Counter synthetic_users_reactivated{0};  // their Teams account came back
    Counter synthetic_team_memberships{0};   // synthetic users made members of a Mattermost team
    Counter synthetic_users_promoted{0};     // became the person's own account at their single sign-on

    // exceptions caught at a worker or monitor loop (a bug: logged, counted, never fatal)
    Counter worker_exceptions{0};

    // subscriptions
    Counter subscriptions_created{0};
    Counter subscriptions_renewed{0};
    Counter subscriptions_deleted{0};
    Counter subscription_failures{0};
    // per-user subscriptions Graph refused for the organization's quota (each shrank the planner's budget)
    Counter subscription_quota_refusals{0};
    // nodes of the cluster that stopped beating without stopping (killed), whose lost hooks were recovered
    Counter nodes_lost{0};

    // Microsoft Graph and Entra, as the app's observers see them (per request, retries included)
    CounterFamily graph_requests{{"endpoint", "status"}};  // status: the HTTP status, or "error" (no answer)
    HistogramFamily graph_request_seconds{{"endpoint"}};
    Counter graph_retries{0};
    Counter graph_limiter_wait_ms{0};  // time requests waited for a rate-limiter turn
    CounterFamily entra_requests{{"grant", "status"}};
    HistogramFamily entra_request_seconds{{"grant"}};
    CounterFamily token_refreshes{
        {"result"}, 8, {{"ok"}, {"revoked"}, {"failed"}}};  // ok, revoked (the user must connect again), failed

    // delivery latencies
    Histogram notification_to_post_seconds;  // a change notification's arrival → its Mattermost post
    Histogram post_to_teams_seconds;         // a Mattermost post's creation → its Teams message

    // the Mattermost database
    Histogram db_query_seconds;
    Counter db_errors{0};

    [[nodiscard]] std::vector<std::pair<std::string, std::uint64_t>> snapshot() const;
};

}  // namespace msteams::metrics
