#include "metrics/counters.hpp"

namespace msteams::metrics {

// Long (over 80 lines) on purpose: one line per counter, in the order of the struct.
// NOLINTNEXTLINE(readability-function-size)
std::vector<std::pair<std::string, std::uint64_t>> Counters::snapshot() const {
    std::vector<std::pair<std::string, std::uint64_t>> out;
    auto add = [&](char const* name, Counter const& c) { out.emplace_back(name, c.load()); };
    add("notifications_received", notifications_received);
    add("notifications_accepted", notifications_accepted);
    add("notifications_bad_client_state", notifications_bad_client_state);
    add("notifications_unknown_subscription", notifications_unknown_subscription);
    add("notifications_wrong_tenant", notifications_wrong_tenant);
    add("notifications_malformed", notifications_malformed);
    add("notifications_unlinked", notifications_unlinked);
    add("notification_batches_refused", notification_batches_refused);
    add("rich_unbridged", rich_unbridged);
    add("rich_applied", rich_applied);
    add("lifecycle_received", lifecycle_received);
    add("lifecycle_ignored", lifecycle_ignored);
    add("lifecycle_wrong_tenant", lifecycle_wrong_tenant);
    add("inbox_batches", inbox_batches);
    add("skipped_no_connected_member", skipped_no_connected_member);
    add("skipped_sync_off", skipped_sync_off);
    add("skipped_not_a_message", skipped_not_a_message);
    add("duplicates", duplicates);
    add("unchanged", unchanged);
    add("echoes", echoes);
    add("posts_created", posts_created);
    add("posts_updated", posts_updated);
    add("posts_deleted", posts_deleted);
    add("reactions_added", reactions_added);
    add("reactions_removed", reactions_removed);
    add("files_delivered", files_delivered);
    add("files_failed", files_failed);
    add("notifications_sent", notifications_sent);
    add("feed_queued", feed_queued);
    add("feed_sent", feed_sent);
    add("feed_skipped", feed_skipped);
    add("feed_failed", feed_failed);
    add("feed_blocked", feed_blocked);
    add("feed_bulk_requests", feed_bulk_requests);
    add("skipped_selective", skipped_selective);
    add("outbound_selective_skipped", outbound_selective_skipped);
    add("notifications_skipped_active", notifications_skipped_active);
    add("recovered_pending", recovered_pending);
    add("failures", failures);
    add("dropped", dropped);
    add("dead_lettered", dead_lettered);
    add("synthetic_users_created", synthetic_users_created);
    add("catchups", catchups);
    add("catchup_chunks", catchup_chunks);
    add("reconciles", reconciles);
    add("avatars_set", avatars_set);
    add("statuses_set", statuses_set);
    add("profile_sync_failures", profile_sync_failures);
    add("user_sync_runs", user_sync_runs);
    add("user_sync_users_listed", user_sync_users_listed);
    add("user_sync_failures", user_sync_failures);
    add("synthetic_users_updated", synthetic_users_updated);
    add("synthetic_users_deactivated", synthetic_users_deactivated);
    add("synthetic_users_reactivated", synthetic_users_reactivated);
    add("synthetic_team_memberships", synthetic_team_memberships);
    add("synthetic_users_promoted", synthetic_users_promoted);
    add("outbox_enqueued", outbox_enqueued);
    add("sent_posts", sent_posts);
    add("outbound_channel_cap_holds", outbound_channel_cap_holds);
    add("sent_edits", sent_edits);
    add("sent_deletes", sent_deletes);
    add("sent_reactions", sent_reactions);
    add("sent_files", sent_files);
    add("relayed_posts", relayed_posts);
    add("outbound_not_bridged", outbound_not_bridged);
    add("outbound_not_connected", outbound_not_connected);
    add("outbound_failures", outbound_failures);
    add("outbound_dropped", outbound_dropped);
    add("outbound_dead_lettered", outbound_dead_lettered);
    add("outbound_order_waits", outbound_order_waits);
    add("outbound_hooks_recovered", outbound_hooks_recovered);
    add("outbound_duplicates", outbound_duplicates);
    add("worker_exceptions", worker_exceptions);
    add("subscriptions_created", subscriptions_created);
    add("subscriptions_renewed", subscriptions_renewed);
    add("subscriptions_deleted", subscriptions_deleted);
    add("subscription_failures", subscription_failures);
    add("subscription_quota_refusals", subscription_quota_refusals);
    add("nodes_lost", nodes_lost);
    return out;
}

}  // namespace msteams::metrics
