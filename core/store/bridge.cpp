#include "store/bridge.hpp"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <utility>

#include "common/strings.hpp"

namespace msteams::store {
namespace {

Param nullable(std::string const& text) { return text.empty() ? Param() : Param(text); }
std::string num(std::int64_t n) { return std::to_string(n); }

std::int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Error texts are stored and shown: at most `n` bytes, valid UTF-8.
std::string error_text(std::string const& s, std::size_t n) {
    return strings::to_valid_utf8(strings::utf8_prefix(s, n));
}

constexpr std::string_view k_user_columns =
    "teams_user_id, mm_user_id, synthetic, display_name, email, created_at, promoted_at";

TeamsUser user_at(Rows const& r, std::size_t i) {
    return TeamsUser{r.text(i, "teams_user_id"), r.text(i, "mm_user_id"), r.text(i, "synthetic") == "t",
                     r.text(i, "display_name"),  r.text(i, "email"),      r.integer(i, "created_at"),
                     r.integer(i, "promoted_at")};
}

constexpr std::string_view k_portal_columns =
    "teams_thread_id, kind, teams_team_id, mm_channel_id, creator_mm_user_id, created_at, cursor_ms";

Portal portal_at(Rows const& r, std::size_t i) {
    return Portal{r.text(i, "teams_thread_id"),    r.text(i, "kind"),
                  r.text(i, "teams_team_id"),      r.text(i, "mm_channel_id"),
                  r.text(i, "creator_mm_user_id"), r.integer(i, "created_at"),
                  r.integer(i, "cursor_ms")};
}

constexpr std::string_view k_message_columns =
    "teams_thread_id, teams_message_id, mm_post_id, mm_channel_id, origin, teams_modified_at, pending_since, deleted";

MessageLink message_at(Rows const& r, std::size_t i) {
    return MessageLink{r.text(i, "teams_thread_id"),  r.text(i, "teams_message_id"), r.text(i, "mm_post_id"),
                       r.text(i, "mm_channel_id"),    r.text(i, "origin"),           r.integer(i, "teams_modified_at"),
                       r.integer(i, "pending_since"), r.text(i, "deleted") == "t"};
}

constexpr std::string_view k_subscription_columns =
    "id, kind, resource, owner, expires_at, created_at, state, client_state_hash";

SubscriptionRow subscription_at(Rows const& r, std::size_t i) {
    return SubscriptionRow{r.text(i, "id"),
                           r.text(i, "kind"),
                           r.text(i, "resource"),
                           r.text(i, "owner"),
                           r.integer(i, "expires_at"),
                           r.integer(i, "created_at"),
                           r.text(i, "state"),
                           r.text(i, "client_state_hash")};
}

std::string sql(std::string_view a, std::string_view columns, std::string_view b) {
    return std::string(a) + std::string(columns) + std::string(b);
}

}  // namespace

Bridge::Bridge(std::shared_ptr<Database> db) : db_(std::move(db)) {}

// ---- users ---------------------------------------------------------------------------------------------------

Result<std::optional<TeamsUser>> Bridge::user_by_teams_id(std::string const& teams_user_id) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(
        r, db_->exec(sql("SELECT ", k_user_columns, " FROM msteams_users WHERE teams_user_id = $1"), {teams_user_id}));
    return r.empty() ? std::optional<TeamsUser>() : std::optional<TeamsUser>(user_at(r, 0));
}

Result<std::optional<TeamsUser>> Bridge::user_by_mm_id(std::string const& mm_user_id) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(
        r, db_->exec(sql("SELECT ", k_user_columns, " FROM msteams_users WHERE mm_user_id = $1"), {mm_user_id}));
    return r.empty() ? std::optional<TeamsUser>() : std::optional<TeamsUser>(user_at(r, 0));
}

Result<TeamsUser> Bridge::add_user(TeamsUser const& user) {
    MSTEAMS_TRY(
        db_->exec("INSERT INTO msteams_users (teams_user_id, mm_user_id, synthetic, display_name, email, "
                  "created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (teams_user_id) DO NOTHING",
                  {user.teams_user_id, user.mm_user_id, user.synthetic ? "true" : "false", user.display_name,
                   user.email, num(user.created_at)}));
    std::optional<TeamsUser> stored;
    MSTEAMS_TRY_ASSIGN(stored, user_by_teams_id(user.teams_user_id));
    if (!stored) {
        return fail(ErrorCode::internal, "a Teams user row vanished right after it was written");
    }
    return *stored;
}

Status Bridge::mark_promoted(std::string const& mm_user_id, std::int64_t at) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r,
                       db_->exec("UPDATE msteams_users SET synthetic = false, promoted_at = $2 WHERE mm_user_id = $1",
                                 {mm_user_id, num(at)}));
    if (r.affected() == 0) {
        return fail(ErrorCode::not_found, "not a Teams user");
    }
    return {};
}

// ---- portals -------------------------------------------------------------------------------------------------

Result<std::optional<Portal>> Bridge::portal_by_thread(std::string const& teams_thread_id) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r,
                       db_->exec(sql("SELECT ", k_portal_columns, " FROM msteams_portals WHERE teams_thread_id = $1"),
                                 {teams_thread_id}));
    return r.empty() ? std::optional<Portal>() : std::optional<Portal>(portal_at(r, 0));
}

Result<std::optional<Portal>> Bridge::portal_by_channel(std::string const& mm_channel_id) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec(sql("SELECT ", k_portal_columns, " FROM msteams_portals WHERE mm_channel_id = $1"),
                                    {mm_channel_id}));
    return r.empty() ? std::optional<Portal>() : std::optional<Portal>(portal_at(r, 0));
}

Result<Portal> Bridge::add_portal(Portal const& p) {
    MSTEAMS_TRY(
        db_->exec("INSERT INTO msteams_portals (teams_thread_id, kind, teams_team_id, mm_channel_id, "
                  "creator_mm_user_id, created_at, cursor_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                  "ON CONFLICT DO NOTHING",
                  {p.teams_thread_id, p.kind, p.teams_team_id, p.mm_channel_id, p.creator_mm_user_id, num(p.created_at),
                   num(p.cursor_ms)}));
    std::optional<Portal> stored;
    MSTEAMS_TRY_ASSIGN(stored, portal_by_thread(p.teams_thread_id));
    if (!stored) {
        // The channel is linked to another thread already.
        return fail(ErrorCode::conflict, "the Mattermost channel is already bridged to another Teams conversation");
    }
    return *stored;
}

Result<std::vector<Portal>> Bridge::portals(std::string const& kind) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec(sql("SELECT ", k_portal_columns,
                                        " FROM msteams_portals WHERE kind = $1 ORDER BY created_at, teams_thread_id"),
                                    {kind}));
    std::vector<Portal> out;
    for (std::size_t i = 0; i < r.size(); ++i) {
        out.push_back(portal_at(r, i));
    }
    return out;
}

Status Bridge::advance_cursor(Tx& tx, std::string const& teams_thread_id, std::int64_t cursor_ms) {
    MSTEAMS_TRY(tx.exec("UPDATE msteams_portals SET cursor_ms = $2 WHERE teams_thread_id = $1 AND cursor_ms < $2",
                        {teams_thread_id, num(cursor_ms)}));
    return {};
}

Result<std::int64_t> Bridge::thread_version(Tx& tx, std::string const& teams_thread_id) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, tx.exec("SELECT version FROM msteams_portals WHERE teams_thread_id = $1", {teams_thread_id}));
    return r.empty() ? 0 : r.integer(0, "version");
}

Status Bridge::begin_thread_write(std::string const& teams_thread_id, std::int64_t until_ms) {
    MSTEAMS_TRY(
        db_->exec("UPDATE msteams_portals SET version = version + 1, writing_until = $2 "
                  "WHERE teams_thread_id = $1",
                  {teams_thread_id, num(until_ms)}));
    return {};
}

Status Bridge::renew_thread_write(std::string const& teams_thread_id, std::int64_t until_ms) {
    MSTEAMS_TRY(
        db_->exec("UPDATE msteams_portals SET writing_until = $2 WHERE teams_thread_id = $1 AND writing_until > 0",
                  {teams_thread_id, num(until_ms)}));
    return {};
}

Status Bridge::end_thread_write(Tx& tx, std::string const& teams_thread_id) {
    MSTEAMS_TRY(
        tx.exec("UPDATE msteams_portals SET version = version + 1, writing_until = 0 WHERE teams_thread_id = $1",
                {teams_thread_id}));
    return {};
}

Result<bool> Bridge::thread_unchanged(Tx& tx, std::string const& teams_thread_id, std::int64_t version,
                                      std::int64_t now_ms) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(
        r, tx.exec("SELECT version, writing_until FROM msteams_portals WHERE teams_thread_id = $1", {teams_thread_id}));
    if (r.empty()) {
        return version == 0;
    }
    return r.integer(0, "version") == version && r.integer(0, "writing_until") <= now_ms;
}

// ---- chats ---------------------------------------------------------------------------------------------------

Result<std::optional<ChatInfo>> Bridge::chat(std::string const& chat_id) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT chat_id, member_ids, web_url, checked_at FROM msteams_chats "
                                    "WHERE chat_id = $1",
                                    {chat_id}));
    if (r.empty()) {
        return std::optional<ChatInfo>();
    }
    ChatInfo c{r.text(0, "chat_id"), strings::split(r.text(0, "member_ids"), ','), r.text(0, "web_url"),
               r.integer(0, "checked_at")};
    std::erase_if(c.member_ids, [](std::string const& s) { return s.empty(); });
    return std::optional<ChatInfo>(std::move(c));
}

Status Bridge::put_chat(ChatInfo const& chat) {
    auto members = chat.member_ids;
    std::sort(members.begin(), members.end());
    std::string joined;
    for (auto const& m : members) {
        joined += joined.empty() ? m : "," + m;
    }
    MSTEAMS_TRY(
        db_->exec("INSERT INTO msteams_chats (chat_id, member_ids, web_url, checked_at) "
                  "VALUES ($1, $2, $3, $4) ON CONFLICT (chat_id) DO UPDATE SET member_ids = $2, "
                  "web_url = CASE WHEN $3 = '' THEN msteams_chats.web_url ELSE $3 END, checked_at = $4",
                  {chat.chat_id, joined, chat.web_url, num(chat.checked_at)}));
    return {};
}

// ---- message map ---------------------------------------------------------------------------------------------

Result<std::optional<MessageLink>> Bridge::message(Tx& tx, std::string const& thread_id,
                                                   std::string const& message_id) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, tx.exec(sql("SELECT ", k_message_columns,
                                      " FROM msteams_messages WHERE teams_thread_id = $1 AND teams_message_id = $2"),
                                  {thread_id, message_id}));
    return r.empty() ? std::optional<MessageLink>() : std::optional<MessageLink>(message_at(r, 0));
}

Result<std::optional<MessageLink>> Bridge::message_by_post(std::string const& mm_post_id) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(
        r, db_->exec(sql("SELECT ", k_message_columns, " FROM msteams_messages WHERE mm_post_id = $1"), {mm_post_id}));
    return r.empty() ? std::optional<MessageLink>() : std::optional<MessageLink>(message_at(r, 0));
}

Status Bridge::mark_pending(MessageLink const& link) {
    MSTEAMS_TRY(db_->exec(
        "INSERT INTO msteams_messages (teams_thread_id, teams_message_id, mm_post_id, mm_channel_id, "
        "origin, teams_modified_at, pending_since) VALUES ($1, $2, NULL, $3, $4, 0, $5) "
        "ON CONFLICT (teams_thread_id, teams_message_id) DO UPDATE SET pending_since = $5 "
        "WHERE msteams_messages.mm_post_id IS NULL",
        {link.teams_thread_id, link.teams_message_id, link.mm_channel_id, link.origin, num(link.pending_since)}));
    return {};
}

Result<bool> Bridge::sending_to(std::string const& thread_id, std::int64_t since_ms) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT 1 FROM msteams_messages WHERE teams_thread_id = $1 AND mm_post_id IS NULL "
                                    "AND origin = 'mattermost' AND pending_since > $2 LIMIT 1",
                                    {thread_id, num(since_ms)}));
    return !r.empty();
}

Status Bridge::forget(Tx& tx, std::string const& thread_id, std::string const& message_id) {
    MSTEAMS_TRY(tx.exec("DELETE FROM msteams_messages WHERE teams_thread_id = $1 AND teams_message_id = $2",
                        {thread_id, message_id}));
    return {};
}

Status Bridge::put_message(Tx& tx, MessageLink const& link) {
    MSTEAMS_TRY(
        tx.exec("INSERT INTO msteams_messages (teams_thread_id, teams_message_id, mm_post_id, mm_channel_id, "
                "origin, teams_modified_at, pending_since, deleted) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7) "
                "ON CONFLICT (teams_thread_id, teams_message_id) DO UPDATE SET mm_post_id = $3, "
                "mm_channel_id = $4, teams_modified_at = $6, pending_since = NULL, deleted = $7",
                {link.teams_thread_id, link.teams_message_id, nullable(link.mm_post_id), link.mm_channel_id,
                 link.origin, num(link.teams_modified_at), link.deleted ? "true" : "false"}));
    return {};
}

// ---- reactions -----------------------------------------------------------------------------------------------

Result<std::vector<ReactionLink>> Bridge::reactions(Tx& tx, std::string const& mm_post_id) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, tx.exec("SELECT mm_post_id, mm_user_id, emoji_name, teams_user_id, reaction_type "
                                  "FROM msteams_reactions WHERE mm_post_id = $1 ORDER BY mm_user_id, emoji_name",
                                  {mm_post_id}));
    std::vector<ReactionLink> out;
    for (std::size_t i = 0; i < r.size(); ++i) {
        out.push_back(ReactionLink{r.text(i, "mm_post_id"), r.text(i, "mm_user_id"), r.text(i, "emoji_name"),
                                   r.text(i, "teams_user_id"), r.text(i, "reaction_type")});
    }
    return out;
}

Status Bridge::add_reaction(Tx& tx, ReactionLink const& x) {
    MSTEAMS_TRY(
        tx.exec("INSERT INTO msteams_reactions (mm_post_id, mm_user_id, emoji_name, teams_user_id, "
                "reaction_type) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                {x.mm_post_id, x.mm_user_id, x.emoji_name, x.teams_user_id, x.reaction_type}));
    return {};
}

Status Bridge::remove_reaction(Tx& tx, ReactionLink const& x) {
    MSTEAMS_TRY(tx.exec("DELETE FROM msteams_reactions WHERE mm_post_id = $1 AND mm_user_id = $2 AND emoji_name = $3",
                        {x.mm_post_id, x.mm_user_id, x.emoji_name}));
    return {};
}

Result<bool> Bridge::claim_notification(Tx& tx, std::string const& thread_id, std::string const& message_id,
                                        std::string const& mm_user_id) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, tx.exec("INSERT INTO msteams_notified (teams_thread_id, teams_message_id, mm_user_id) "
                                  "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                                  {thread_id, message_id, mm_user_id}));
    return r.affected() == 1;
}

Status Bridge::release_notification(Tx& tx, std::string const& thread_id, std::string const& message_id,
                                    std::string const& mm_user_id) {
    MSTEAMS_TRY(
        tx.exec("DELETE FROM msteams_notified WHERE teams_thread_id = $1 AND teams_message_id = $2 AND "
                "mm_user_id = $3",
                {thread_id, message_id, mm_user_id}));
    return {};
}

// ---- inbox ---------------------------------------------------------------------------------------------------

Status Bridge::enqueue(std::vector<InboxItem> const& items) {
    if (items.empty()) {
        return {};
    }
    return db_->transact([&](Tx& tx) -> Status {
        for (auto const& it : items) {
            MSTEAMS_TRY(
                tx.exec("INSERT INTO msteams_inbox (received_at, subscription_id, change_type, thread_id, "
                        "message_id) VALUES ($1, $2, $3, $4, $5)",
                        {num(it.received_at), it.subscription_id, it.change_type, it.thread_id, it.message_id}));
        }
        return {};
    });
}

Result<std::vector<InboxItem>> Bridge::claim(std::int64_t now_ms, std::int64_t lease_until, std::size_t max_items) {
    // The head of a thread is its oldest row. A thread with a leased row belongs to the worker holding the lease;
    // the head is always among the rows leased, so checking the head row itself (re-checked under its row lock
    // when another worker leased it meanwhile) is enough to skip such a thread.
    std::vector<InboxItem> out;
    auto const done = db_->transact([&](Tx& tx) -> Status {
        out.clear();
        Rows head;
        MSTEAMS_TRY_ASSIGN(head, tx.exec("SELECT i.id, i.thread_id FROM msteams_inbox i WHERE i.not_before <= $1 AND "
                                         "i.claimed_until <= $1 AND NOT EXISTS (SELECT 1 FROM msteams_inbox j WHERE "
                                         "j.thread_id = i.thread_id AND j.id < i.id) ORDER BY i.id LIMIT 1 "
                                         "FOR UPDATE SKIP LOCKED",
                                         {num(now_ms)}));
        if (head.empty()) {
            return {};
        }
        Rows r;
        MSTEAMS_TRY_ASSIGN(r,
                           tx.exec("UPDATE msteams_inbox SET claimed_until = $5, attempts = attempts + 1 WHERE id IN "
                                   "(SELECT id FROM msteams_inbox WHERE thread_id = $1 AND (id = $2 OR "
                                   "(not_before <= $3 AND claimed_until <= $3)) ORDER BY id LIMIT $4 FOR UPDATE) "
                                   "RETURNING id, received_at, subscription_id, change_type, thread_id, message_id, "
                                   "attempts",
                                   {head.text(0, "thread_id"), head.text(0, "id"), num(now_ms),
                                    std::to_string(std::max<std::size_t>(1, max_items)), num(lease_until)}));
        for (std::size_t i = 0; i < r.size(); ++i) {
            out.push_back(InboxItem{r.integer(i, "id"), r.integer(i, "received_at"), r.text(i, "subscription_id"),
                                    r.text(i, "change_type"), r.text(i, "thread_id"), r.text(i, "message_id"),
                                    static_cast<int>(r.integer(i, "attempts"))});
        }
        return {};
    });
    if (!done) {
        return std::unexpected(done.error());
    }
    std::sort(out.begin(), out.end(), [](auto const& a, auto const& b) { return a.id < b.id; });
    return out;
}

namespace {
std::string id_array(std::vector<std::int64_t> const& ids) {
    std::string out = "{";
    for (std::size_t i = 0; i < ids.size(); ++i) {
        out += (i ? "," : "") + std::to_string(ids[i]);
    }
    return out + "}";
}
}  // namespace

Status Bridge::remove(Tx& tx, std::vector<std::int64_t> const& ids) {
    MSTEAMS_TRY(tx.exec("DELETE FROM msteams_inbox WHERE id = ANY($1::bigint[])", {id_array(ids)}));
    return {};
}

Status Bridge::renew(std::vector<std::int64_t> const& ids, std::int64_t lease_until) {
    MSTEAMS_TRY(db_->exec("UPDATE msteams_inbox SET claimed_until = $2 WHERE id = ANY($1::bigint[])",
                          {id_array(ids), num(lease_until)}));
    return {};
}

Status Bridge::postpone(std::vector<std::int64_t> const& ids, std::int64_t not_before, std::string const& error) {
    MSTEAMS_TRY(
        db_->exec("UPDATE msteams_inbox SET claimed_until = 0, not_before = $2, last_error = $3, "
                  "first_failed_at = COALESCE(first_failed_at, $4) WHERE id = ANY($1::bigint[])",
                  {id_array(ids), num(not_before), error_text(error, 500), num(wall_ms())}));
    return {};
}

Status Bridge::delay(std::vector<std::int64_t> const& ids, std::int64_t not_before) {
    MSTEAMS_TRY(
        db_->exec("UPDATE msteams_inbox SET claimed_until = 0, not_before = $2, "
                  "attempts = GREATEST(attempts - 1, 0) WHERE id = ANY($1::bigint[])",
                  {id_array(ids), num(not_before)}));
    return {};
}

namespace {

std::string inbox_payload(std::string const& change_type, std::string const& message_id,
                          std::string const& subscription_id) {
    return nlohmann::json{
        {"change_type", change_type}, {"message_id", message_id}, {"subscription_id", subscription_id}}
        .dump();
}

Status add_dead_letter(Tx& tx, std::string const& direction, std::string const& thread_id, std::string const& payload,
                       std::string const& error, int attempts, std::int64_t first, std::int64_t last) {
    MSTEAMS_TRY(tx.exec(
        "INSERT INTO msteams_dead_letters (direction, thread_id, payload, error, attempts, "
        "first_failed_at, last_failed_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        {direction, thread_id, payload, error_text(error, 1000), std::to_string(attempts), num(first), num(last)}));
    return {};
}

}  // namespace

Status Bridge::dead_letter_inbox(Tx& tx, std::vector<InboxItem> const& items, std::string const& error,
                                 std::int64_t now_ms) {
    for (auto const& it : items) {
        Rows r;
        MSTEAMS_TRY_ASSIGN(r,
                           tx.exec("DELETE FROM msteams_inbox WHERE id = $1 RETURNING first_failed_at", {num(it.id)}));
        if (r.empty()) {
            continue;
        }
        auto const first = r.at(0, "first_failed_at") ? r.integer(0, "first_failed_at") : now_ms;
        MSTEAMS_TRY(add_dead_letter(tx, "inbound", it.thread_id,
                                    inbox_payload(it.change_type, it.message_id, it.subscription_id), error,
                                    it.attempts, first, now_ms));
    }
    return {};
}

Status Bridge::dead_letter_message(Tx& tx, std::string const& thread_id, std::string const& message_id,
                                   std::string const& error, int attempts, std::int64_t now_ms) {
    return add_dead_letter(tx, "inbound", thread_id, inbox_payload("updated", message_id, ""), error, attempts, now_ms,
                           now_ms);
}

Result<std::int64_t> Bridge::newest_chat_cursor() {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r,
                       db_->exec("SELECT COALESCE(max(cursor_ms), 0) AS n FROM msteams_portals WHERE kind = 'chat'"));
    return r.integer(0, "n");
}

Result<std::vector<std::string>> Bridge::connected_users(std::size_t limit) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT mm_user_id FROM msteams_accounts WHERE token_sealed IS NOT NULL "
                                    "ORDER BY connected_at DESC LIMIT $1",
                                    {std::to_string(limit)}));
    std::vector<std::string> out;
    for (std::size_t i = 0; i < r.size(); ++i) {
        out.push_back(r.text(i, "mm_user_id"));
    }
    return out;
}

Result<std::int64_t> Bridge::enqueue_reconcile(std::int64_t active_since, std::int64_t now_ms) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r,
                       db_->exec("INSERT INTO msteams_inbox (received_at, subscription_id, change_type, thread_id, "
                                 "message_id) SELECT $1, '', 'catchup', p.teams_thread_id, '' FROM msteams_portals p "
                                 "WHERE p.kind = 'chat' AND GREATEST(p.cursor_ms, p.created_at) > $2 AND NOT EXISTS "
                                 "(SELECT 1 FROM msteams_inbox i WHERE i.thread_id = p.teams_thread_id AND "
                                 "i.change_type = 'catchup')",
                                 {num(now_ms), num(active_since)}));
    return r.affected();
}

Result<std::int64_t> Bridge::inbox_size() {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT count(*) AS n FROM msteams_inbox"));
    return r.integer(0, "n");
}

// ---- outbox --------------------------------------------------------------------------------------------------

Result<std::int64_t> Bridge::enqueue_outbox(std::vector<OutboxItem> const& items) {
    std::int64_t added = 0;
    if (items.empty()) {
        return added;
    }
    auto const stored = db_->transact([&](Tx& tx) -> Status {
        added = 0;
        for (auto const& it : items) {
            Rows r;
            MSTEAMS_TRY_ASSIGN(r, tx.exec("INSERT INTO msteams_outbox (created_at, channel_id, kind, post_id, user_id, "
                                          "payload, event_key, sort_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                                          "ON CONFLICT (event_key) DO NOTHING",
                                          {num(it.created_at), it.channel_id, it.kind, it.post_id, it.user_id,
                                           it.payload, it.event_key, num(it.sort_at)}));
            added += r.affected();
        }
        return {};
    });
    if (!stored) {
        return std::unexpected(stored.error());
    }
    return added;
}

Result<std::optional<OutboxItem>> Bridge::claim_outbox(std::int64_t now_ms, std::int64_t settled_ms,
                                                       std::int64_t lease_until_ms) {
    // An item still in the outbox holds back its channel's later items, claimed or not.
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("UPDATE msteams_outbox SET claimed_until = $3 WHERE id = (SELECT o.id FROM "
                                    "msteams_outbox o WHERE o.not_before <= $1 AND o.claimed_until <= $1 AND "
                                    "o.sort_at <= $2 AND NOT EXISTS (SELECT 1 FROM msteams_outbox p WHERE "
                                    "p.channel_id = o.channel_id AND (p.sort_at, p.id) < (o.sort_at, o.id)) "
                                    "ORDER BY o.sort_at, o.id LIMIT 1 FOR UPDATE SKIP LOCKED) "
                                    "RETURNING id, created_at, channel_id, kind, post_id, user_id, payload, event_key, "
                                    "sort_at, attempts",
                                    {num(now_ms), num(settled_ms), num(lease_until_ms)}));
    if (r.empty()) {
        return std::optional<OutboxItem>();
    }
    return std::optional<OutboxItem>(OutboxItem{r.integer(0, "id"), r.integer(0, "created_at"), r.text(0, "channel_id"),
                                                r.text(0, "kind"), r.text(0, "post_id"), r.text(0, "user_id"),
                                                r.text(0, "payload"), r.text(0, "event_key"), r.integer(0, "sort_at"),
                                                static_cast<int>(r.integer(0, "attempts"))});
}

Status Bridge::renew_outbox(std::int64_t id, std::int64_t lease_until_ms) {
    MSTEAMS_TRY(
        db_->exec("UPDATE msteams_outbox SET claimed_until = $2 WHERE id = $1", {num(id), num(lease_until_ms)}));
    return {};
}

Status Bridge::remove_outbox(Tx& tx, std::int64_t id) {
    MSTEAMS_TRY(tx.exec("DELETE FROM msteams_outbox WHERE id = $1", {num(id)}));
    return {};
}

Status Bridge::postpone_outbox(std::int64_t id, std::int64_t not_before, std::string const& error) {
    MSTEAMS_TRY(
        db_->exec("UPDATE msteams_outbox SET attempts = attempts + 1, not_before = $2, last_error = $3, "
                  "first_failed_at = COALESCE(first_failed_at, $4), claimed_until = 0 WHERE id = $1",
                  {num(id), num(not_before), error_text(error, 500), num(wall_ms())}));
    return {};
}

Result<std::int64_t> Bridge::outbox_size() {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT count(*) AS n FROM msteams_outbox"));
    return r.integer(0, "n");
}

Status Bridge::dead_letter_outbox(OutboxItem const& it, std::string const& error, std::int64_t now_ms) {
    return db_->transact([&](Tx& tx) -> Status {
        Rows r;
        MSTEAMS_TRY_ASSIGN(
            r, tx.exec("DELETE FROM msteams_outbox WHERE id = $1 RETURNING first_failed_at, attempts", {num(it.id)}));
        if (r.empty()) {
            return {};
        }
        auto const first = r.at(0, "first_failed_at") ? r.integer(0, "first_failed_at") : now_ms;
        auto const payload =
            nlohmann::json{{"created_at", it.created_at}, {"kind", it.kind},       {"post_id", it.post_id},
                           {"user_id", it.user_id},       {"payload", it.payload}, {"event_key", it.event_key},
                           {"sort_at", it.sort_at}}
                .dump();
        return add_dead_letter(tx, "outbound", it.channel_id, payload, error,
                               static_cast<int>(r.integer(0, "attempts")) + 1, first, now_ms);
    });
}

// ---- dead letters --------------------------------------------------------------------------------------------

Result<std::int64_t> Bridge::dead_letter_count() {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT count(*) AS n FROM msteams_dead_letters"));
    return r.integer(0, "n");
}

Result<std::vector<DeadLetter>> Bridge::dead_letters(std::size_t limit) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT id, direction, thread_id, payload, error, attempts, first_failed_at, "
                                    "last_failed_at FROM msteams_dead_letters ORDER BY last_failed_at DESC, id DESC "
                                    "LIMIT $1",
                                    {std::to_string(limit)}));
    std::vector<DeadLetter> out;
    for (std::size_t i = 0; i < r.size(); ++i) {
        out.push_back(DeadLetter{r.integer(i, "id"), r.text(i, "direction"), r.text(i, "thread_id"),
                                 r.text(i, "payload"), r.text(i, "error"), static_cast<int>(r.integer(i, "attempts")),
                                 r.integer(i, "first_failed_at"), r.integer(i, "last_failed_at")});
    }
    return out;
}

Result<std::int64_t> Bridge::retry_dead_letters(std::optional<std::int64_t> id, std::int64_t now_ms) {
    std::int64_t count = 0;
    auto const done = db_->transact([&](Tx& tx) -> Status {
        count = 0;
        Rows r;
        if (id) {
            MSTEAMS_TRY_ASSIGN(r, tx.exec("DELETE FROM msteams_dead_letters WHERE id = $1 RETURNING id, direction, "
                                          "thread_id, payload",
                                          {num(*id)}));
        } else {
            MSTEAMS_TRY_ASSIGN(r, tx.exec("DELETE FROM msteams_dead_letters RETURNING id, direction, thread_id, "
                                          "payload"));
        }
        std::vector<std::size_t> order(r.size());
        for (std::size_t i = 0; i < order.size(); ++i) {
            order[i] = i;
        }
        std::sort(order.begin(), order.end(),
                  [&](std::size_t a, std::size_t b) { return r.integer(a, "id") < r.integer(b, "id"); });
        for (auto const i : order) {
            auto const p = nlohmann::json::parse(r.text(i, "payload"), nullptr, false);
            if (!p.is_object()) {
                continue;  // unreadable: dropped with the row
            }
            auto const text = [&](char const* key) {
                return p.contains(key) && p[key].is_string() ? p[key].get<std::string>() : std::string();
            };
            auto const integer = [&](char const* key) {
                return p.contains(key) && p[key].is_number_integer() ? p[key].get<std::int64_t>() : std::int64_t{0};
            };
            if (r.text(i, "direction") == "inbound") {
                MSTEAMS_TRY(
                    tx.exec("INSERT INTO msteams_inbox (received_at, subscription_id, change_type, thread_id, "
                            "message_id) VALUES ($1, $2, $3, $4, $5)",
                            {num(now_ms), text("subscription_id"), text("change_type"), r.text(i, "thread_id"),
                             text("message_id")}));
            } else {
                MSTEAMS_TRY(
                    tx.exec("INSERT INTO msteams_outbox (created_at, channel_id, kind, post_id, user_id, "
                            "payload, event_key, sort_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                            "ON CONFLICT (event_key) DO NOTHING",
                            {num(integer("created_at")), r.text(i, "thread_id"), text("kind"), text("post_id"),
                             text("user_id"), text("payload"), text("event_key"), num(integer("sort_at"))}));
            }
            ++count;
        }
        return {};
    });
    if (!done) {
        return std::unexpected(done.error());
    }
    return count;
}

// ---- subscriptions -------------------------------------------------------------------------------------------

Result<std::vector<SubscriptionRow>> Bridge::subscriptions() {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec(sql("SELECT ", k_subscription_columns, " FROM msteams_subscriptions ORDER BY id")));
    std::vector<SubscriptionRow> out;
    for (std::size_t i = 0; i < r.size(); ++i) {
        out.push_back(subscription_at(r, i));
    }
    return out;
}

Result<bool> Bridge::subscription_known(std::string const& id) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT 1 FROM msteams_subscriptions WHERE id = $1", {id}));
    return !r.empty();
}

Status Bridge::put_subscription(SubscriptionRow const& s) {
    MSTEAMS_TRY(
        db_->exec("INSERT INTO msteams_subscriptions (id, kind, resource, owner, expires_at, created_at, state, "
                  "client_state_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET "
                  "kind = $2, resource = $3, owner = $4, expires_at = $5, state = $7, client_state_hash = $8",
                  {s.id, s.kind, s.resource, s.owner, num(s.expires_at), num(s.created_at),
                   s.state.empty() ? "active" : s.state, s.client_state_hash}));
    return {};
}

Status Bridge::set_subscription_state(std::string const& id, std::string const& state) {
    MSTEAMS_TRY(db_->exec("UPDATE msteams_subscriptions SET state = $2 WHERE id = $1", {id, state}));
    return {};
}

Status Bridge::remove_subscription(std::string const& id) {
    MSTEAMS_TRY(db_->exec("DELETE FROM msteams_subscriptions WHERE id = $1", {id}));
    return {};
}

// ---- leases --------------------------------------------------------------------------------------------------

Result<bool> Bridge::hold_lease(std::string const& name, std::string const& holder, std::chrono::seconds ttl) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("INSERT INTO msteams_leases (name, holder, expires_at) "
                                    "VALUES ($1, $2, now() + make_interval(secs => $3)) "
                                    "ON CONFLICT (name) DO UPDATE SET holder = $2, expires_at = EXCLUDED.expires_at "
                                    "WHERE msteams_leases.holder = $2 OR msteams_leases.expires_at < now() "
                                    "RETURNING holder",
                                    {name, holder, std::to_string(ttl.count())}));
    return !r.empty();
}

Status Bridge::release_lease(std::string const& name, std::string const& holder) {
    MSTEAMS_TRY(db_->exec("DELETE FROM msteams_leases WHERE name = $1 AND holder = $2", {name, holder}));
    return {};
}

}  // namespace msteams::store
