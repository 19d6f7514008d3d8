#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/ids.hpp"
#include "common/result.hpp"
#include "store/accounts.hpp"
#include "store/database.hpp"
#include "store/records.hpp"

// The bridge's tables, one repository per concern. Each is an interface: the PostgreSQL implementations keep their
// SQL beside them in store/<concern>.cpp, and unit tests use in-memory fakes (tests/unit/fakes). Functions taking a
// Tx run inside the caller's transaction (Database::transact, or AutoCommit); the others run on their own.
namespace msteams::store {

// Teams users who have a Mattermost user without being connected (msteams_users).
class Users {
public:
    virtual ~Users() = default;
    [[nodiscard]] virtual Result<std::optional<TeamsUser>> by_teams_id(TeamsUserId const& teams_user_id) = 0;
    [[nodiscard]] virtual Result<std::optional<TeamsUser>> by_mm_id(MmUserId const& mm_user_id) = 0;
    // Inserts, or returns the row another node inserted first for the same Teams user.
    [[nodiscard]] virtual Result<TeamsUser> add(TeamsUser const& user) = 0;
    // not_found when the Mattermost user is not a Teams user.
    [[nodiscard]] virtual Status mark_promoted(MmUserId const& mm_user_id, std::int64_t at) = 0;
};

// Teams conversations bridged to a Mattermost channel (msteams_portals): where reading stopped (the cursor), and the
// version of what the bridge itself changed in the conversation.
class Portals {
public:
    virtual ~Portals() = default;
    [[nodiscard]] virtual Result<std::optional<Portal>> by_thread(TeamsThreadId const& teams_thread_id) = 0;
    [[nodiscard]] virtual Result<std::optional<Portal>> by_channel(MmChannelId const& mm_channel_id) = 0;
    // Inserts; when the thread already has a portal, returns that one; conflict when the channel is bridged to
    // another thread.
    [[nodiscard]] virtual Result<Portal> add(Portal const& portal) = 0;
    // Removes a portal (a channel unlinked): what was bridged stays in the message map, so that the channel linked
    // again finds its threads. False when there was none.
    [[nodiscard]] virtual Result<bool> remove(TeamsThreadId const& teams_thread_id) = 0;
    // In creation order.
    [[nodiscard]] virtual Result<std::vector<Portal>> list(PortalKind kind) = 0;
    // Up to `limit` portals of the kind whose thread id comes after `after` (empty: from the first), by thread id: the
    // next page starts after the last one returned.
    [[nodiscard]] virtual Result<std::vector<Portal>> list_page(PortalKind kind, TeamsThreadId const& after,
                                                                std::size_t limit) = 0;
    // The newest cursor of any chat portal: until when the bridge had read Teams (0 when it never did).
    [[nodiscard]] virtual Result<std::int64_t> newest_chat_cursor() = 0;
    // Moves the cursor forward only.
    [[nodiscard]] virtual Status advance_cursor(Tx& tx, TeamsThreadId const& teams_thread_id,
                                                std::int64_t cursor_ms) = 0;
    // A change applied from a rich notification, unread (the cursor stays): the chat is active (forward only).
    [[nodiscard]] virtual Status mark_heard(Tx& tx, TeamsThreadId const& teams_thread_id, std::int64_t at_ms) = 0;
    // What the bridge itself changed in a Teams conversation is counted, so that the inbound side can tell whether
    // what it read from Teams is older than the bridge's own latest change (then it reads again). 0 without a portal.
    [[nodiscard]] virtual Result<std::int64_t> version(Tx& tx, TeamsThreadId const& teams_thread_id) = 0;
    // The sender's side of it: a write to Teams is announced (committed) before its first request, in flight until
    // `until_ms` unless renewed, and ended together with what it recorded. Each moves the version.
    [[nodiscard]] virtual Status begin_write(TeamsThreadId const& teams_thread_id, std::int64_t until_ms) = 0;
    [[nodiscard]] virtual Status renew_write(TeamsThreadId const& teams_thread_id, std::int64_t until_ms) = 0;
    [[nodiscard]] virtual Status end_write(Tx& tx, TeamsThreadId const& teams_thread_id) = 0;
    // True when the version is still `version` and no write is in flight at `now_ms` (true without a portal).
    [[nodiscard]] virtual Result<bool> unchanged(Tx& tx, TeamsThreadId const& teams_thread_id, std::int64_t version,
                                                 std::int64_t now_ms) = 0;
};

// What the bridge knows of a Teams chat's membership (msteams_chats), read again after a while.
class Chats {
public:
    virtual ~Chats() = default;
    [[nodiscard]] virtual Result<std::optional<ChatInfo>> find(TeamsThreadId const& chat_id) = 0;
    // Inserts or replaces; an empty web_url keeps the one known.
    [[nodiscard]] virtual Status put(ChatInfo const& chat) = 0;
};

// The message map (msteams_messages): which Mattermost post a Teams message is, both ways.
class Messages {
public:
    virtual ~Messages() = default;
    [[nodiscard]] virtual Result<std::optional<MessageLink>> find(Tx& tx, TeamsThreadId const& thread_id,
                                                                  TeamsMessageId const& message_id) = 0;
    [[nodiscard]] virtual Result<std::optional<MessageLink>> by_post(MmPostId const& mm_post_id) = 0;
    // Which of these posts have a link (by_post finds them), in one query.
    [[nodiscard]] virtual Result<std::vector<MmPostId>> linked(std::vector<MmPostId> const& mm_post_ids) = 0;
    // Records that a post or message is about to be created (committed on its own, before it exists), so that a
    // crash between creating it and committing the link can be recovered without a second one. Keeps a link that
    // has its post already.
    [[nodiscard]] virtual Status mark_pending(MessageLink const& link) = 0;
    // Outbound sends in flight (recorded before the Graph request, removed when its link is committed) since
    // `since_ms`: their echoes must wait, and after a crash the sender looks in Teams before sending again.
    [[nodiscard]] virtual Result<bool> sending_to(TeamsThreadId const& thread_id, std::int64_t since_ms) = 0;
    // How many messages the bridge sent to the thread that Teams last changed after `since_ms` (a linked channel's
    // daily limit; a message changed since it was sent counts as recent: an overcount, never an undercount).
    [[nodiscard]] virtual Result<std::int64_t> sent_since(TeamsThreadId const& thread_id, std::int64_t since_ms) = 0;
    [[nodiscard]] virtual Status forget(Tx& tx, TeamsThreadId const& thread_id, TeamsMessageId const& message_id) = 0;
    // Sets the post id and modification time (insert or update); clears the pending marker.
    [[nodiscard]] virtual Status put(Tx& tx, MessageLink const& link) = 0;
};

// Reactions bridged on a post (msteams_reactions).
class Reactions {
public:
    virtual ~Reactions() = default;
    // By user, then emoji.
    [[nodiscard]] virtual Result<std::vector<ReactionLink>> list(Tx& tx, MmPostId const& mm_post_id) = 0;
    [[nodiscard]] virtual Status add(Tx& tx, ReactionLink const& r) = 0;
    [[nodiscard]] virtual Status remove(Tx& tx, ReactionLink const& r) = 0;
};

// Notifications-only mode: who was told of which Teams message (msteams_notified).
class Notified {
public:
    virtual ~Notified() = default;
    // True when this (message, user) was not notified before (and now counts as notified).
    [[nodiscard]] virtual Result<bool> claim(Tx& tx, TeamsThreadId const& thread_id, TeamsMessageId const& message_id,
                                             MmUserId const& mm_user_id) = 0;
    // Undoes a claim whose notification could not be sent (it is tried again).
    [[nodiscard]] virtual Status release(Tx& tx, TeamsThreadId const& thread_id, TeamsMessageId const& message_id,
                                         MmUserId const& mm_user_id) = 0;
};

// Changes read from Teams, waiting to be applied (msteams_inbox); ordered by id within a thread.
class Inbox {
public:
    virtual ~Inbox() = default;
    [[nodiscard]] virtual Status enqueue(std::vector<InboxItem> const& items) = 0;
    // Claims, in a short transaction of its own, the oldest ready item of a thread no other worker holds a lease
    // on, and the thread's other ready items (the caller coalesces them): they are the caller's until
    // `lease_until` (Unix ms), and each counts an attempt (a crash counts too). Empty when there is nothing to do.
    [[nodiscard]] virtual Result<std::vector<InboxItem>> claim(std::int64_t now_ms, std::int64_t lease_until,
                                                               std::size_t max_items) = 0;
    // Extends the lease on claimed items (long batches).
    [[nodiscard]] virtual Status renew(std::vector<std::int64_t> const& ids, std::int64_t lease_until) = 0;
    [[nodiscard]] virtual Status remove(Tx& tx, std::vector<std::int64_t> const& ids) = 0;
    // A failed attempt: released, retried after `not_before`.
    [[nodiscard]] virtual Status postpone(std::vector<std::int64_t> const& ids, std::int64_t not_before,
                                          std::string const& error) = 0;
    // Not a failure: released, tried again after `not_before` without counting the attempt.
    [[nodiscard]] virtual Status delay(std::vector<std::int64_t> const& ids, std::int64_t not_before) = 0;
    // Moves items to the dead letters (removing them from the inbox).
    [[nodiscard]] virtual Status dead_letter(Tx& tx, std::vector<InboxItem> const& items, std::string const& error,
                                             std::int64_t now_ms) = 0;
    // Sets aside one Teams message of a chat that could not be applied (its chat goes on without it).
    [[nodiscard]] virtual Status dead_letter_message(Tx& tx, TeamsThreadId const& thread_id,
                                                     TeamsMessageId const& message_id, std::string const& error,
                                                     int attempts, std::int64_t now_ms) = 0;
    [[nodiscard]] virtual Result<std::int64_t> size() = 0;
    // Queues a read forward of every portal (chat or linked channel) active since `active_since` (its cursor or
    // creation) that has no such read queued already; returns how many were queued.
    [[nodiscard]] virtual Result<std::int64_t> enqueue_reconcile(std::int64_t active_since, std::int64_t now_ms) = 0;
};

// Mattermost events waiting to be sent to Teams (msteams_outbox): the inbox's rules, keyed by channel, one item at
// a time.
class Outbox {
public:
    virtual ~Outbox() = default;
    // Adds the items whose event_key the outbox was never given (in the last hour: see forget_seen), even if an item
    // with that key was sent and removed since; returns how many were new. A new item ends the holds of its channel.
    [[nodiscard]] virtual Result<std::int64_t> enqueue(std::vector<OutboxItem> const& items) = 0;
    // Which of these event keys the outbox was given (and not forgotten), each with whether its item is still queued;
    // in one query.
    [[nodiscard]] virtual Result<std::vector<SeenEvent>> seen(std::vector<std::string> const& event_keys) = 0;
    // Forgets the keys given before `before_ms` (Unix ms) whose items are no longer queued; returns how many.
    [[nodiscard]] virtual Result<std::int64_t> forget_seen(std::int64_t before_ms) = 0;
    // The next item of a channel no other sender holds, in (sort_at, id) order. Posts can be claimed at once; other
    // kinds only once they happened before `settled_ms` (Mattermost runs hooks concurrently, so two edits of a post
    // can arrive in either order; the sender checks posts itself, see Outbound). An item still in the outbox holds
    // back its channel's later ones. The claim is committed: the item is the caller's until `lease_until_ms` (renew
    // extends it), with no transaction open.
    [[nodiscard]] virtual Result<std::optional<OutboxItem>> claim(std::int64_t now_ms, std::int64_t settled_ms,
                                                                  std::int64_t lease_until_ms) = 0;
    // Gives a claimed item back without counting an attempt: it waits until `until_ms`, or until an item of its
    // channel is added or removed (the one it waits for, most likely), and holds back its channel's later items
    // meanwhile.
    [[nodiscard]] virtual Status hold(std::int64_t id, std::int64_t until_ms) = 0;
    [[nodiscard]] virtual Status renew(std::int64_t id, std::int64_t lease_until_ms) = 0;
    // Removes a sent item, which ends the holds of its channel.
    [[nodiscard]] virtual Status remove(Tx& tx, std::int64_t id) = 0;
    // A failed attempt: released, retried after `not_before`.
    [[nodiscard]] virtual Status postpone(std::int64_t id, std::int64_t not_before, std::string const& error) = 0;
    [[nodiscard]] virtual Result<std::int64_t> size() = 0;
    // Moves an item to the dead letters.
    [[nodiscard]] virtual Status dead_letter(OutboxItem const& item, std::string const& error, std::int64_t now_ms) = 0;
};

// Inbox and outbox items that kept failing (msteams_dead_letters).
class DeadLetters {
public:
    virtual ~DeadLetters() = default;
    [[nodiscard]] virtual Result<std::int64_t> count() = 0;
    // The newest `limit`, newest first.
    [[nodiscard]] virtual Result<std::vector<DeadLetter>> newest(std::size_t limit) = 0;
    // Puts dead letters back in the inbox or outbox: one by id, or all when `id` is empty; returns how many.
    [[nodiscard]] virtual Result<std::int64_t> retry(std::optional<std::int64_t> id, std::int64_t now_ms) = 0;
    // Drops dead letters for good: one by id, or all when `id` is empty; returns how many.
    [[nodiscard]] virtual Result<std::int64_t> discard(std::optional<std::int64_t> id) = 0;
};

// Graph change notification subscriptions (msteams_subscriptions).
class Subscriptions {
public:
    virtual ~Subscriptions() = default;
    // By id.
    [[nodiscard]] virtual Result<std::vector<SubscriptionRow>> list() = 0;
    [[nodiscard]] virtual Result<bool> known(SubscriptionId const& id) = 0;
    // Inserts or replaces (created_at stays).
    [[nodiscard]] virtual Status put(SubscriptionRow const& row) = 0;
    [[nodiscard]] virtual Status set_state(SubscriptionId const& id, SubscriptionState state) = 0;
    [[nodiscard]] virtual Status remove(SubscriptionId const& id) = 0;
};

// Named leases between nodes (msteams_leases), on the database's clock.
class Leases {
public:
    virtual ~Leases() = default;
    // True when `holder` holds `name` for `ttl` from now (acquired or renewed).
    [[nodiscard]] virtual Result<bool> hold(std::string const& name, std::string const& holder,
                                            std::chrono::seconds ttl) = 0;
    [[nodiscard]] virtual Status release(std::string const& name, std::string const& holder) = 0;
};

// The nodes running the bridge (msteams_nodes), on the database's clock: each beats while it runs and removes its row
// when it stops cleanly, so a row whose beat is old is a node that died without stopping.
class Nodes {
public:
    virtual ~Nodes() = default;
    // `node_id` is alive now (inserted or updated).
    [[nodiscard]] virtual Status beat(std::string const& node_id) = 0;
    // The nodes whose last beat is older than `ttl`, oldest first.
    [[nodiscard]] virtual Result<std::vector<NodeBeat>> silent(std::chrono::seconds ttl) = 0;
    // Removes the row of a node that stopped.
    [[nodiscard]] virtual Status remove(std::string const& node_id) = 0;
    // Removes the row of a silent node once dealt with, unless it beat again since `beat` was read (it was only slow).
    [[nodiscard]] virtual Status forget(NodeBeat const& beat) = 0;
};

// Notices sent once across the cluster (msteams_notices).
class Notices {
public:
    virtual ~Notices() = default;
    // True the first time `key` is claimed (the caller sends the notice), false ever after.
    [[nodiscard]] virtual Result<bool> claim(std::string const& key, std::int64_t now_ms) = 0;
};

// The certificates of rich notifications (msteams_certificates).
class Certificates {
public:
    virtual ~Certificates() = default;
    // Newest first.
    [[nodiscard]] virtual Result<std::vector<CertificateRow>> list() = 0;
    [[nodiscard]] virtual Status add(CertificateRow const& row) = 0;
    // Removes those that expired before `before_ms`; returns how many.
    [[nodiscard]] virtual Result<std::int64_t> remove_expired(std::int64_t before_ms) = 0;
};

// What the planner of per-user subscriptions reads and keeps (msteams_activity, msteams_planner; accounts read only).
class Planning {
public:
    virtual ~Planning() = default;
    // The connected Teams users, with when they connected.
    [[nodiscard]] virtual Result<std::vector<ConnectedUser>> connected() = 0;
    // Every stored activity (its value at its time; decay is the reader's).
    [[nodiscard]] virtual Result<std::vector<ActivityRow>> activity() = 0;
    // Adds `messages` to each user's activity at now_ms, the stored value first halved every half_life_ms.
    [[nodiscard]] virtual Status credit(std::vector<TeamsUserId> const& users, double messages, std::int64_t now_ms,
                                        std::int64_t half_life_ms) = 0;
    // The quota refusal in force, if any.
    [[nodiscard]] virtual Result<std::optional<QuotaRefusal>> refusal() = 0;
    // Records a refusal; nullopt forgets it.
    [[nodiscard]] virtual Status set_refusal(std::optional<QuotaRefusal> const& refusal) = 0;
};

// All of them, and the database for transactions that span several.
struct Repositories {
    std::shared_ptr<Database> db;
    std::shared_ptr<Accounts> accounts;
    std::shared_ptr<OAuthStates> oauth_states;
    std::shared_ptr<Users> users;
    std::shared_ptr<Portals> portals;
    std::shared_ptr<Chats> chats;
    std::shared_ptr<Messages> messages;
    std::shared_ptr<Reactions> reactions;
    std::shared_ptr<Notified> notified;
    std::shared_ptr<Inbox> inbox;
    std::shared_ptr<Outbox> outbox;
    std::shared_ptr<DeadLetters> dead_letters;
    std::shared_ptr<Subscriptions> subscriptions;
    std::shared_ptr<Leases> leases;
    std::shared_ptr<Nodes> nodes;
    std::shared_ptr<Notices> notices;
    std::shared_ptr<Certificates> certificates;
    std::shared_ptr<Planning> planning;
};

// The PostgreSQL repositories over `db`.
[[nodiscard]] Repositories postgres_repositories(std::shared_ptr<Database> db);
[[nodiscard]] std::shared_ptr<Users> postgres_users(std::shared_ptr<Database> db);
[[nodiscard]] std::shared_ptr<Notices> postgres_notices(std::shared_ptr<Database> db);
[[nodiscard]] std::shared_ptr<Certificates> postgres_certificates(std::shared_ptr<Database> db);
[[nodiscard]] std::shared_ptr<Planning> postgres_planning(std::shared_ptr<Database> db);
[[nodiscard]] std::shared_ptr<Portals> postgres_portals(std::shared_ptr<Database> db);
[[nodiscard]] std::shared_ptr<Chats> postgres_chats(std::shared_ptr<Database> db);
[[nodiscard]] std::shared_ptr<Messages> postgres_messages(std::shared_ptr<Database> db);
[[nodiscard]] std::shared_ptr<Reactions> postgres_reactions();
[[nodiscard]] std::shared_ptr<Notified> postgres_notified();
[[nodiscard]] std::shared_ptr<Inbox> postgres_inbox(std::shared_ptr<Database> db);
[[nodiscard]] std::shared_ptr<Outbox> postgres_outbox(std::shared_ptr<Database> db);
[[nodiscard]] std::shared_ptr<DeadLetters> postgres_dead_letters(std::shared_ptr<Database> db);
[[nodiscard]] std::shared_ptr<Subscriptions> postgres_subscriptions(std::shared_ptr<Database> db);
[[nodiscard]] std::shared_ptr<Leases> postgres_leases(std::shared_ptr<Database> db);
[[nodiscard]] std::shared_ptr<Nodes> postgres_nodes(std::shared_ptr<Database> db);

}  // namespace msteams::store
