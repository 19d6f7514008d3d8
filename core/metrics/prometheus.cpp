#include "metrics/prometheus.hpp"

#include <charconv>
#include <cmath>

namespace msteams::metrics {

namespace {

std::string number(double v) {
    if (std::isnan(v)) {
        return "NaN";
    }
    if (std::isinf(v)) {
        return v > 0 ? "+Inf" : "-Inf";
    }
    char buf[64];
    auto const [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return ec == std::errc() ? std::string(buf, end) : std::string("NaN");
}

std::string escape_help(std::string_view help) {
    std::string out;
    out.reserve(help.size());
    for (char c : help) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

Labels with_values(std::vector<std::string> const& names, std::vector<std::string> const& values) {
    Labels labels;
    for (std::size_t i = 0; i < names.size() && i < values.size(); ++i) {
        labels.emplace_back(names[i], values[i]);
    }
    return labels;
}

}  // namespace

std::string escape_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '"': out += "\\\""; break;
            case '\n': out += "\\n"; break;
            default: out += c;
        }
    }
    return out;
}

Exposition::Exposition(Labels constant) : constant_(std::move(constant)) {}

void Exposition::header(std::string_view name, std::string_view help, std::string_view type) {
    if (last_ == name) {
        return;
    }
    last_ = std::string(name);
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += escape_help(help);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
}

void Exposition::sample(std::string_view name, Labels const& labels, double value, std::string_view le) {
    out_ += name;
    bool first = true;
    auto add = [&](std::string_view k, std::string_view v) {
        out_ += first ? '{' : ',';
        first = false;
        out_ += k;
        out_ += "=\"";
        out_ += escape_label_value(v);
        out_ += '"';
    };
    for (auto const& [k, v] : constant_) {
        add(k, v);
    }
    for (auto const& [k, v] : labels) {
        add(k, v);
    }
    if (!le.empty()) {
        add("le", le);
    }
    if (!first) {
        out_ += '}';
    }
    out_ += ' ';
    out_ += number(value);
    out_ += '\n';
}

void Exposition::counter(std::string_view name, std::string_view help, double value, Labels const& labels) {
    header(name, help, "counter");
    sample(name, labels, value);
}

void Exposition::gauge(std::string_view name, std::string_view help, double value, Labels const& labels) {
    header(name, help, "gauge");
    sample(name, labels, value);
}

void Exposition::histogram(std::string_view name, std::string_view help, Histogram::Snapshot const& h,
                           Labels const& labels) {
    header(name, help, "histogram");
    std::string const base(name);
    for (std::size_t i = 0; i < h.bounds.size(); ++i) {
        sample(base + "_bucket", labels, static_cast<double>(h.cumulative[i]), number(h.bounds[i]));
    }
    sample(base + "_bucket", labels, static_cast<double>(h.count), "+Inf");
    sample(base + "_sum", labels, h.sum);
    sample(base + "_count", labels, static_cast<double>(h.count));
}

void Exposition::counters(std::string_view name, std::string_view help, CounterFamily const& family) {
    header(name, help, "counter");
    for (auto const& s : family.snapshot()) {
        sample(name, with_values(family.label_names(), s.values), static_cast<double>(s.value));
    }
}

void Exposition::histograms(std::string_view name, std::string_view help, HistogramFamily const& family) {
    header(name, help, "histogram");
    for (auto const& s : family.snapshot()) {
        histogram(name, help, s.histogram, with_values(family.label_names(), s.values));
    }
}

namespace {

double value(Counters::Counter const& c) { return static_cast<double>(c.load(std::memory_order_relaxed)); }

// Long on purpose: every metric of the bridge, in the order of docs/operations.md, reads best as one list.
// NOLINTNEXTLINE(readability-function-size)
void render_counters(Exposition& e, Counters const& c) {
    auto const since = " Since the core started.";
    auto counter = [&](std::string_view name, std::string const& help, Counters::Counter const& v,
                       Labels const& labels = {}) { e.counter(name, help + since, value(v), labels); };

    // change notifications
    counter("msteams_notifications_received_total", "Change notifications received from Microsoft Graph.",
            c.notifications_received);
    counter("msteams_notifications_accepted_total", "Change notifications accepted and queued.",
            c.notifications_accepted);
    auto const refused = "Change notifications refused, by reason.";
    counter("msteams_notifications_refused_total", refused, c.notifications_bad_client_state,
            {{"reason", "bad_client_state"}});
    counter("msteams_notifications_refused_total", refused, c.notifications_unknown_subscription,
            {{"reason", "unknown_subscription"}});
    counter("msteams_notifications_refused_total", refused, c.notifications_wrong_tenant, {{"reason", "wrong_tenant"}});
    counter("msteams_notifications_refused_total", refused, c.notifications_malformed, {{"reason", "malformed"}});
    counter("msteams_notifications_refused_total", refused, c.notifications_unlinked, {{"reason", "unlinked"}});
    counter("msteams_notification_batches_refused_total",
            "Notification requests answered with an error (malformed bodies, database unavailable): Graph sends them "
            "again.",
            c.notification_batches_refused);
    counter("msteams_lifecycle_notifications_received_total", "Lifecycle notifications received.",
            c.lifecycle_received);
    auto const lifecycle_refused = "Lifecycle notifications not acted on, by reason.";
    counter("msteams_lifecycle_notifications_refused_total", lifecycle_refused, c.lifecycle_ignored,
            {{"reason", "ignored"}});
    counter("msteams_lifecycle_notifications_refused_total", lifecycle_refused, c.lifecycle_wrong_tenant,
            {{"reason", "wrong_tenant"}});
    e.counters("msteams_rich_notifications_refused_total",
               std::string("Rich notifications refused, by stage (webhook: their batch's validation tokens; worker: "
                           "their encrypted content) and reason; nothing of them is posted.") +
                   since,
               c.rich_refused);
    e.counters("msteams_tab_sign_ins_total",
               std::string("Sign-ins from the Teams tab (single sign-on), by outcome: signed_in, or why it was "
                           "refused.") +
                   since,
               c.tab_sign_ins);
    counter("msteams_rich_notifications_unbridged_total",
            "Rich notifications dropped unread (before decryption) because their chat has no connected member.",
            c.rich_unbridged);
    counter("msteams_rich_notifications_applied_total",
            "Teams messages applied from a rich notification's content, with no Graph read.", c.rich_applied);

    // what was bridged
    auto const bridged = "Changes bridged, by direction and kind.";
    auto to_mm = [&](char const* kind, Counters::Counter const& v) {
        counter("msteams_messages_bridged_total", bridged, v, {{"direction", "to_mattermost"}, {"kind", kind}});
    };
    auto to_teams = [&](char const* kind, Counters::Counter const& v) {
        counter("msteams_messages_bridged_total", bridged, v, {{"direction", "to_teams"}, {"kind", kind}});
    };
    to_mm("post", c.posts_created);
    to_mm("edit", c.posts_updated);
    to_mm("delete", c.posts_deleted);
    to_mm("reaction_add", c.reactions_added);
    to_mm("reaction_remove", c.reactions_removed);
    to_mm("file", c.files_delivered);
    to_mm("notification", c.notifications_sent);
    to_teams("post", c.sent_posts);
    to_teams("relayed_post", c.relayed_posts);
    to_teams("edit", c.sent_edits);
    to_teams("delete", c.sent_deletes);
    to_teams("reaction", c.sent_reactions);
    to_teams("file", c.sent_files);

    counter("msteams_channel_daily_cap_holds_total",
            "Posts to a linked channel held because the channel reached Graph's messages per app per day (sent "
            "later, never dropped).",
            c.outbound_channel_cap_holds);
    {
        auto const feed = std::string(
            "Teams activity-feed notifications for Teams-primary users, by outcome: queued "
            "(recipients worked out), sent, skipped (read or active in Mattermost), failed.");
        counter("msteams_feed_notifications_total", feed, c.feed_queued, {{"outcome", "queued"}});
        counter("msteams_feed_notifications_total", feed, c.feed_sent, {{"outcome", "sent"}});
        counter("msteams_feed_notifications_total", feed, c.feed_skipped, {{"outcome", "skipped"}});
        counter("msteams_feed_notifications_total", feed, c.feed_failed, {{"outcome", "failed"}});
        counter("msteams_feed_users_blocked_total",
                "Teams-primary users Microsoft refused to notify (app not installed or no consent), told once.",
                c.feed_blocked);
        counter("msteams_feed_bulk_requests_total",
                "Teams activity-feed notifications sent to several Teams-primary users in one request (up to 100).",
                c.feed_bulk_requests);
    }
    counter("msteams_echoes_dropped_total", "The bridge's own messages coming back from Teams, dropped.", c.echoes);
    counter("msteams_duplicates_dropped_total",
            "Notifications for changes already applied (Graph's redeliveries and the copies of a message), dropped.",
            c.duplicates);
    counter("msteams_unchanged_reads_total", "Messages read again with nothing new (reads forward overlap).",
            c.unchanged);
    auto const skipped = "Changes not bridged on purpose, by direction and reason.";
    counter("msteams_skipped_total", skipped, c.skipped_no_connected_member,
            {{"direction", "to_mattermost"}, {"reason", "no_connected_member"}});
    counter("msteams_skipped_total", skipped, c.skipped_sync_off,
            {{"direction", "to_mattermost"}, {"reason", "sync_off"}});
    counter("msteams_skipped_total", skipped, c.skipped_not_a_message,
            {{"direction", "to_mattermost"}, {"reason", "not_a_message"}});
    counter("msteams_skipped_total", skipped, c.outbound_not_bridged,
            {{"direction", "to_teams"}, {"reason", "not_bridged"}});
    counter("msteams_skipped_total", skipped, c.outbound_not_connected,
            {{"direction", "to_teams"}, {"reason", "not_connected"}});
    counter("msteams_skipped_total", skipped, c.skipped_selective,
            {{"direction", "to_mattermost"}, {"reason", "selective_sync"}});
    counter("msteams_skipped_total", skipped, c.outbound_selective_skipped,
            {{"direction", "to_teams"}, {"reason", "selective_sync"}});
    counter("msteams_skipped_total", skipped, c.notifications_skipped_active,
            {{"direction", "to_mattermost"}, {"reason", "active_in_teams"}});
    auto const failed = "Attempts that failed and will be tried again, by direction.";
    counter("msteams_failures_total", failed, c.failures, {{"direction", "to_mattermost"}});
    counter("msteams_failures_total", failed, c.outbound_failures, {{"direction", "to_teams"}});
    auto const given_up = "Changes given up after a permanent error, by direction.";
    counter("msteams_dropped_total", given_up, c.dropped, {{"direction", "to_mattermost"}});
    counter("msteams_dropped_total", given_up, c.outbound_dropped, {{"direction", "to_teams"}});
    auto const dead = "Changes set aside as dead letters after repeated failures, by direction.";
    counter("msteams_dead_lettered_total", dead, c.dead_lettered, {{"direction", "to_mattermost"}});
    counter("msteams_dead_lettered_total", dead, c.outbound_dead_lettered, {{"direction", "to_teams"}});
    counter("msteams_files_failed_total", "Teams files that could not be brought to Mattermost.", c.files_failed);
    counter("msteams_recovered_pending_total", "Posts found already made after a crash and linked, not made again.",
            c.recovered_pending);
    counter("msteams_inbox_batches_total", "Inbox batches (one chat's queued notifications) processed.",
            c.inbox_batches);
    counter("msteams_catchups_total", "Catch-up reads after downtime or a missed notification.", c.catchups);
    counter("msteams_catchup_chunks_total", "Further chunks read in long gaps.", c.catchup_chunks);
    counter("msteams_reconciles_total", "Chats queued for a read forward by the periodic reconciliation.",
            c.reconciles);
    counter("msteams_outbox_enqueued_total", "Mattermost changes queued for Teams.", c.outbox_enqueued);
    counter("msteams_outbound_order_waits_total",
            "Posts held a moment for an earlier post of their channel whose hook was on its way.",
            c.outbound_order_waits);
    counter("msteams_outbound_hooks_recovered_total",
            "Posts queued for Teams without their hook, which never came (Mattermost saved the post, then its server "
            "died).",
            c.outbound_hooks_recovered);
    counter("msteams_outbound_duplicates_dropped_total", "Posts already in Teams found queued again, not sent twice.",
            c.outbound_duplicates);
    counter("msteams_synthetic_users_created_total", "Mattermost users created for Teams people.",
            c.synthetic_users_created);
    counter("msteams_avatars_set_total", "Teams photos set as Mattermost avatars.", c.avatars_set);
    counter("msteams_statuses_set_total", "Teams presences mirrored as Mattermost statuses.", c.statuses_set);
    counter("msteams_profile_sync_failures_total", "Profile (photo, presence) updates that failed.",
            c.profile_sync_failures);
    counter("msteams_user_sync_runs_total", "Runs of the user sync job finished (or ended at their limit of changes).",
            c.user_sync_runs);
    counter("msteams_user_sync_users_listed_total", "Teams users read by the user sync job.", c.user_sync_users_listed);
    counter("msteams_user_sync_failures_total",
            "Teams users the user sync job could not create or change in Mattermost.", c.user_sync_failures);
    auto const synthetic_changes = "Synthetic users changed, by what happened to them.";
    counter("msteams_synthetic_user_changes_total", synthetic_changes, c.synthetic_users_updated,
            {{"change", "updated"}});
    counter("msteams_synthetic_user_changes_total", synthetic_changes, c.synthetic_users_deactivated,
            {{"change", "deactivated"}});
    counter("msteams_synthetic_user_changes_total", synthetic_changes, c.synthetic_users_reactivated,
            {{"change", "reactivated"}});
    counter("msteams_synthetic_user_changes_total", synthetic_changes, c.synthetic_team_memberships,
            {{"change", "added_to_team"}});
    counter("msteams_synthetic_user_changes_total", synthetic_changes, c.synthetic_users_promoted,
            {{"change", "promoted"}});
    counter("msteams_worker_exceptions_total", "Exceptions caught in a worker or the monitor (a bug; never fatal).",
            c.worker_exceptions);
    auto const subs = "Subscription operations at Microsoft Graph, by operation.";
    counter("msteams_subscription_operations_total", subs, c.subscriptions_created, {{"operation", "create"}});
    counter("msteams_subscription_operations_total", subs, c.subscriptions_renewed, {{"operation", "renew"}});
    counter("msteams_subscription_operations_total", subs, c.subscriptions_deleted, {{"operation", "delete"}});
    counter("msteams_subscription_operations_total", subs, c.subscription_failures, {{"operation", "failed"}});
    counter("msteams_subscription_quota_refusals_total",
            "Per-user subscriptions Microsoft Graph refused for the organization's quota; each shrank the budget.",
            c.subscription_quota_refusals);
    counter("msteams_nodes_lost_total",
            "Nodes found to have stopped without shutting down (their heartbeat too old); the posts whose hooks they "
            "may have lost were recovered.",
            c.nodes_lost);

    // Microsoft Graph and Entra
    e.counters("msteams_graph_requests_total",
               std::string("Requests sent to Microsoft Graph (each retry counts), by endpoint class and HTTP status "
                           "(\"error\": no answer).") +
                   since,
               c.graph_requests);
    e.histograms("msteams_graph_request_duration_seconds", "Microsoft Graph request latency, by endpoint class.",
                 c.graph_request_seconds);
    counter("msteams_graph_retries_total", "Microsoft Graph requests sent again after a 429, 5xx or lost connection.",
            c.graph_retries);
    e.counter("msteams_graph_limiter_wait_seconds_total",
              std::string("Time requests waited for a turn under the bridge's Graph rate budgets.") + since,
              value(c.graph_limiter_wait_ms) / 1000.0);
    e.counters("msteams_entra_requests_total",
               std::string("Token requests sent to Microsoft Entra ID, by grant and HTTP status.") + since,
               c.entra_requests);
    e.histograms("msteams_entra_request_duration_seconds", "Microsoft Entra ID token request latency, by grant.",
                 c.entra_request_seconds);
    e.counters(
        "msteams_token_refreshes_total",
        std::string("Refreshes of connected users' tokens, by result (revoked: the user must connect again).") + since,
        c.token_refreshes);

    // latencies and the database
    e.histogram("msteams_notification_to_post_seconds",
                "From a change notification's arrival to the Mattermost post it made.",
                c.notification_to_post_seconds.snapshot());
    e.histogram("msteams_post_to_teams_seconds", "From a Mattermost post's creation to its Teams message.",
                c.post_to_teams_seconds.snapshot());
    e.histogram("msteams_db_query_duration_seconds", "Latency of the bridge's database statements.",
                c.db_query_seconds.snapshot());
    counter("msteams_db_errors_total", "Database statements that failed.", c.db_errors);
}

void render_gauges(Exposition& e, Gauges const& g) {
    e.gauge("msteams_core_up", "1 while the core answers (the shim answers 0 while it restarts).", 1);
    e.gauge("msteams_plugin_active", "1 while the bridge runs with a complete configuration.", g.active ? 1 : 0);
    e.gauge("msteams_leader", "1 on the node that keeps the subscriptions and runs the periodic jobs.",
            g.leader ? 1 : 0);
    e.gauge("msteams_core_start_time_seconds", "When the core process started (Unix time).", g.start_time);
    e.counter("msteams_core_restarts_total", "Core processes started again after a crash, since the plugin started.",
              static_cast<double>(g.restarts));
    if (g.secret_seconds_to_expiry) {
        e.gauge("msteams_client_secret_seconds_to_expiry",
                "Seconds until the app's client secret expires (negative: expired), as this node last read it. "
                "Only on the leader, and only when the app may read it (Application.Read.All).",
                *g.secret_seconds_to_expiry);
    }
    e.gauge("msteams_database_up", "1 when the bridge's tables could be read for this scrape.", g.database ? 1 : 0);
    if (!g.database) {
        return;
    }
    auto const& d = *g.database;
    auto const shared = " Read from the database: the same on every node.";
    auto gauge = [&](std::string_view name, std::string const& help, double v, Labels const& labels = {}) {
        e.gauge(name, help + shared, v, labels);
    };
    gauge("msteams_inbox_items", "Teams notifications queued for Mattermost.", static_cast<double>(d.inbox_items));
    gauge("msteams_inbox_oldest_age_seconds", "Age of the oldest queued Teams notification (0: none).",
          d.inbox_oldest_age);
    gauge("msteams_outbox_items", "Mattermost changes queued for Teams.", static_cast<double>(d.outbox_items));
    gauge("msteams_outbox_oldest_age_seconds", "Age of the oldest queued Mattermost change (0: none).",
          d.outbox_oldest_age);
    gauge("msteams_dead_letters", "Changes set aside after repeated failures, waiting for an admin.",
          static_cast<double>(d.dead_letters));
    gauge("msteams_connected_users", "Mattermost users connected to their Teams account.",
          static_cast<double>(d.connected_users));
    gauge("msteams_disconnected_users",
          "Users who were connected and are not now (the connection was lost or they disconnected).",
          static_cast<double>(d.disconnected_users));
    for (auto const& s : d.subscriptions) {
        gauge("msteams_subscriptions", "Microsoft Graph subscriptions the bridge keeps, by kind.",
              static_cast<double>(s.count), {{"kind", s.kind}});
    }
    for (auto const& s : d.subscriptions) {
        gauge("msteams_subscription_seconds_to_expiry", "Seconds until the soonest subscription of the kind expires.",
              static_cast<double>(s.seconds_to_expiry), {{"kind", s.kind}});
    }
    for (auto const& s : d.subscriptions) {
        gauge("msteams_subscriptions_not_active",
              "Subscriptions of the kind waiting for reauthorization, removed or missed.",
              static_cast<double>(s.not_active), {{"kind", s.kind}});
    }
}

}  // namespace

std::string render(Counters const& counters, Gauges const& gauges, std::string const& node) {
    Exposition e({{"node", node}});
    render_gauges(e, gauges);
    render_counters(e, counters);
    return e.take();
}

}  // namespace msteams::metrics
