#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "store/database.hpp"

// The bridge's tables (migration 002): Teams users with a Mattermost user, portals, chats, the message map,
// reactions, the inbox, subscriptions and leases. Functions taking a Tx run inside the caller's transaction.
namespace msteams::store {

// A Teams user who has a Mattermost user without being connected (msteams_users).
struct TeamsUser {
    std::string teams_user_id;
    std::string mm_user_id;
    bool synthetic = false;
    std::string display_name;
    std::string email;
    std::int64_t created_at = 0;
    std::int64_t promoted_at = 0;
};

struct Portal {
    std::string teams_thread_id;
    std::string kind;  // "chat" or "channel"
    std::string teams_team_id;
    std::string mm_channel_id;
    std::string creator_mm_user_id;
    std::int64_t created_at = 0;
    std::int64_t cursor_ms = 0;
};

struct ChatInfo {
    std::string chat_id;
    std::vector<std::string> member_ids;  // sorted
    std::string web_url;
    std::int64_t checked_at = 0;
};

struct MessageLink {
    std::string teams_thread_id;
    std::string teams_message_id;
    std::string mm_post_id;  // "" while pending
    std::string mm_channel_id;
    std::string origin;  // "teams" or "mattermost"
    std::int64_t teams_modified_at = 0;
    std::int64_t pending_since = 0;
    bool deleted = false;
};

struct ReactionLink {
    std::string mm_post_id;
    std::string mm_user_id;
    std::string emoji_name;
    std::string teams_user_id;
    std::string reaction_type;
};

struct InboxItem {
    std::int64_t id = 0;
    std::int64_t received_at = 0;
    std::string subscription_id;
    std::string change_type;  // created, updated, deleted, catchup
    std::string thread_id;
    std::string message_id;
    int attempts = 0;
};

struct OutboxItem {
    std::int64_t id = 0;
    std::int64_t created_at = 0;
    std::string channel_id;
    std::string kind;  // post, edit, delete, react, unreact
    std::string post_id;
    std::string user_id;
    std::string payload;  // JSON
    std::string event_key;
    std::int64_t sort_at = 0;  // when it happened in Mattermost: items are sent in this order
    int attempts = 0;
};

// An inbox or outbox item that kept failing, set aside so that the rest of its conversation goes on.
struct DeadLetter {
    std::int64_t id = 0;
    std::string direction;  // "inbound" or "outbound"
    std::string thread_id;  // the Teams chat (inbound) or the Mattermost channel (outbound)
    std::string payload;    // JSON: what retry_dead_letters puts back
    std::string error;
    int attempts = 0;
    std::int64_t first_failed_at = 0;
    std::int64_t last_failed_at = 0;
};

struct SubscriptionRow {
    std::string id;
    std::string kind;  // "chats", "user", "channel"
    std::string resource;
    std::string owner;
    std::int64_t expires_at = 0;
    std::int64_t created_at = 0;
    std::string state;  // active, reauthorize, removed, missed
    std::string client_state_hash;
};

class Bridge {
public:
    explicit Bridge(std::shared_ptr<Database> db);
    [[nodiscard]] Database& db() const noexcept { return *db_; }
    [[nodiscard]] std::shared_ptr<Database> const& database() const noexcept { return db_; }

    // --- users
    [[nodiscard]] Result<std::optional<TeamsUser>> user_by_teams_id(std::string const& teams_user_id);
    [[nodiscard]] Result<std::optional<TeamsUser>> user_by_mm_id(std::string const& mm_user_id);
    // Inserts, or returns the row another node inserted first for the same Teams user.
    [[nodiscard]] Result<TeamsUser> add_user(TeamsUser const& user);
    [[nodiscard]] Status mark_promoted(std::string const& mm_user_id, std::int64_t at);

    // --- portals
    [[nodiscard]] Result<std::optional<Portal>> portal_by_thread(std::string const& teams_thread_id);
    [[nodiscard]] Result<std::optional<Portal>> portal_by_channel(std::string const& mm_channel_id);
    // Inserts; when the thread already has a portal, returns that one.
    [[nodiscard]] Result<Portal> add_portal(Portal const& portal);
    [[nodiscard]] Result<std::vector<Portal>> portals(std::string const& kind);
    // The newest cursor of any chat portal: until when the bridge had read Teams (0 when it never did).
    [[nodiscard]] Result<std::int64_t> newest_chat_cursor();
    // Mattermost users with a connected Teams account (at most `limit`).
    [[nodiscard]] Result<std::vector<std::string>> connected_users(std::size_t limit);
    [[nodiscard]] Status advance_cursor(Tx& tx, std::string const& teams_thread_id, std::int64_t cursor_ms);
    // What the bridge itself changed in a Teams conversation is counted, so that the inbound side can tell whether
    // what it read from Teams is older than the bridge's own latest change (then it reads again). 0 without a portal.
    [[nodiscard]] Result<std::int64_t> thread_version(Tx& tx, std::string const& teams_thread_id);
    // The sender's side of it: a write to Teams is announced (committed) before its first request, in flight until
    // `until_ms` unless renewed, and ended together with what it recorded. Each moves the version.
    [[nodiscard]] Status begin_thread_write(std::string const& teams_thread_id, std::int64_t until_ms);
    [[nodiscard]] Status renew_thread_write(std::string const& teams_thread_id, std::int64_t until_ms);
    [[nodiscard]] Status end_thread_write(Tx& tx, std::string const& teams_thread_id);
    // True when the version is still `version` and no write is in flight at `now_ms` (true without a portal).
    [[nodiscard]] Result<bool> thread_unchanged(Tx& tx, std::string const& teams_thread_id, std::int64_t version,
                                                std::int64_t now_ms);

    // --- chats
    [[nodiscard]] Result<std::optional<ChatInfo>> chat(std::string const& chat_id);
    [[nodiscard]] Status put_chat(ChatInfo const& chat);

    // --- message map
    [[nodiscard]] Result<std::optional<MessageLink>> message(Tx& tx, std::string const& thread_id,
                                                             std::string const& message_id);
    [[nodiscard]] Result<std::optional<MessageLink>> message_by_post(std::string const& mm_post_id);
    // Records that a post is about to be created (committed on its own, before the post exists), so that a crash
    // between creating the post and committing the link can be recovered without a second post.
    [[nodiscard]] Status mark_pending(MessageLink const& link);
    // Outbound sends in flight (recorded before the Graph request, removed when its link is committed): their
    // echoes must wait, and after a crash the sender looks in Teams before sending again.
    [[nodiscard]] Result<bool> sending_to(std::string const& thread_id, std::int64_t since_ms);
    [[nodiscard]] Status forget(Tx& tx, std::string const& thread_id, std::string const& message_id);
    // Sets the post id and modification time (insert or update).
    [[nodiscard]] Status put_message(Tx& tx, MessageLink const& link);

    // --- reactions
    [[nodiscard]] Result<std::vector<ReactionLink>> reactions(Tx& tx, std::string const& mm_post_id);
    [[nodiscard]] Status add_reaction(Tx& tx, ReactionLink const& r);
    [[nodiscard]] Status remove_reaction(Tx& tx, ReactionLink const& r);

    // --- notifications-only mode; true when this (message, user) was not notified before
    [[nodiscard]] Result<bool> claim_notification(Tx& tx, std::string const& thread_id, std::string const& message_id,
                                                  std::string const& mm_user_id);
    // Undoes a claim whose notification could not be sent (it is tried again).
    [[nodiscard]] Status release_notification(Tx& tx, std::string const& thread_id, std::string const& message_id,
                                              std::string const& mm_user_id);

    // --- inbox
    [[nodiscard]] Status enqueue(std::vector<InboxItem> const& items);
    // Claims, in a short transaction of its own, the oldest ready item of a thread no other worker holds a lease
    // on, and the thread's other ready items (the caller coalesces them): they are the caller's until
    // `lease_until` (Unix ms), and each counts an attempt (a crash counts too). Empty when there is nothing to do.
    // Order within a thread is by id.
    [[nodiscard]] Result<std::vector<InboxItem>> claim(std::int64_t now_ms, std::int64_t lease_until,
                                                       std::size_t max_items);
    // Extends the lease on claimed items (long batches).
    [[nodiscard]] Status renew(std::vector<std::int64_t> const& ids, std::int64_t lease_until);
    [[nodiscard]] Status remove(Tx& tx, std::vector<std::int64_t> const& ids);
    // A failed attempt: released, retried after `not_before`.
    [[nodiscard]] Status postpone(std::vector<std::int64_t> const& ids, std::int64_t not_before,
                                  std::string const& error);
    // Not a failure: released, tried again after `not_before` without counting the attempt.
    [[nodiscard]] Status delay(std::vector<std::int64_t> const& ids, std::int64_t not_before);
    // Moves inbox items to the dead letters (removing them from the inbox), in the caller's transaction.
    [[nodiscard]] Status dead_letter_inbox(Tx& tx, std::vector<InboxItem> const& items, std::string const& error,
                                           std::int64_t now_ms);
    // Sets aside one Teams message of a chat that could not be applied (its chat goes on without it).
    [[nodiscard]] Status dead_letter_message(Tx& tx, std::string const& thread_id, std::string const& message_id,
                                             std::string const& error, int attempts, std::int64_t now_ms);
    [[nodiscard]] Result<std::int64_t> inbox_size();
    // Queues a read forward of every chat portal active since `active_since` (its cursor or creation) that has no
    // such read queued already; returns how many were queued.
    [[nodiscard]] Result<std::int64_t> enqueue_reconcile(std::int64_t active_since, std::int64_t now_ms);

    // --- outbox (same rules as the inbox, keyed by channel; one item at a time)
    // Adds the items not already there (by event_key); returns how many were new.
    [[nodiscard]] Result<std::int64_t> enqueue_outbox(std::vector<OutboxItem> const& items);
    // The next item of a channel no other sender holds, in (sort_at, id) order, among items that happened before
    // `settled_ms` (Mattermost runs post hooks concurrently, so they can arrive a little out of order). The claim is
    // committed: the item is the caller's until `lease_until_ms` (renew_outbox extends it), with no transaction open.
    [[nodiscard]] Result<std::optional<OutboxItem>> claim_outbox(std::int64_t now_ms, std::int64_t settled_ms,
                                                                 std::int64_t lease_until_ms);
    [[nodiscard]] Status renew_outbox(std::int64_t id, std::int64_t lease_until_ms);
    [[nodiscard]] Status remove_outbox(Tx& tx, std::int64_t id);
    [[nodiscard]] Status postpone_outbox(std::int64_t id, std::int64_t not_before, std::string const& error);
    [[nodiscard]] Result<std::int64_t> outbox_size();
    // Moves an outbox item to the dead letters.
    [[nodiscard]] Status dead_letter_outbox(OutboxItem const& item, std::string const& error, std::int64_t now_ms);

    // --- dead letters
    [[nodiscard]] Result<std::int64_t> dead_letter_count();
    // The newest `limit` dead letters, newest first.
    [[nodiscard]] Result<std::vector<DeadLetter>> dead_letters(std::size_t limit);
    // Puts dead letters back in the inbox or outbox: one by id, or all when `id` is empty; returns how many.
    [[nodiscard]] Result<std::int64_t> retry_dead_letters(std::optional<std::int64_t> id, std::int64_t now_ms);

    // --- subscriptions
    [[nodiscard]] Result<std::vector<SubscriptionRow>> subscriptions();
    [[nodiscard]] Result<bool> subscription_known(std::string const& id);
    [[nodiscard]] Status put_subscription(SubscriptionRow const& row);
    [[nodiscard]] Status set_subscription_state(std::string const& id, std::string const& state);
    [[nodiscard]] Status remove_subscription(std::string const& id);

    // --- leases: true when `holder` holds `name` for `ttl` from now (acquired or renewed)
    [[nodiscard]] Result<bool> hold_lease(std::string const& name, std::string const& holder, std::chrono::seconds ttl);
    [[nodiscard]] Status release_lease(std::string const& name, std::string const& holder);

private:
    std::shared_ptr<Database> db_;
};

}  // namespace msteams::store
