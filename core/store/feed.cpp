// The msteams_feed and msteams_feed_users tables' SQL.
#include "store/feed.hpp"

#include <utility>

#include "store/detail/sql.hpp"

namespace msteams::store {
namespace {

using detail::error_text;
using detail::num;
using detail::word;

constexpr char const* k_item_columns = "id, post_id, mm_user_id, kind, payload, created_at, due_at, attempts";

FeedItem item_at(Rows const& r, std::size_t i) {
    return FeedItem{r.integer(i, "id"),
                    r.id<MmPostId>(i, "post_id"),
                    r.id<MmUserId>(i, "mm_user_id"),
                    detail::word_at(r, i, "kind", FeedKind::post),
                    r.text(i, "payload"),
                    r.integer(i, "created_at"),
                    r.integer(i, "due_at"),
                    static_cast<int>(r.integer(i, "attempts"))};
}

Result<std::int64_t> insert_items(Tx& tx, std::vector<FeedItem> const& items) {
    std::int64_t added = 0;
    for (auto const& it : items) {
        Rows r;
        MSTEAMS_TRY_ASSIGN(
            r, tx.exec("INSERT INTO msteams_feed (post_id, mm_user_id, kind, payload, created_at, due_at) "
                       "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (post_id, mm_user_id) DO NOTHING",
                       {it.post_id.str(), it.mm_user_id.str(), word(it.kind), it.payload, num(it.created_at),
                        num(it.due_at)}));
        added += r.affected();
    }
    return added;
}

}  // namespace

FeedStore::FeedStore(std::shared_ptr<Database> db) : db_(std::move(db)) {}

Result<std::int64_t> FeedStore::enqueue(std::vector<FeedItem> const& posts) {
    std::int64_t added = 0;
    if (posts.empty()) {
        return added;
    }
    auto const stored = db_->transact([&](Tx& tx) -> Status {
        MSTEAMS_TRY_ASSIGN(added, insert_items(tx, posts));
        return {};
    });
    if (!stored) {
        return std::unexpected(stored.error());
    }
    return added;
}

Result<std::optional<FeedItem>> FeedStore::claim(std::int64_t now_ms, std::int64_t lease_until_ms) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(
        r, db_->exec(std::string("UPDATE msteams_feed SET claimed_until = $2, attempts = attempts + 1 WHERE id = "
                                 "(SELECT f.id FROM msteams_feed f WHERE f.state = 'queued' AND f.due_at <= $1 AND "
                                 "f.claimed_until <= $1 ORDER BY f.due_at, f.id LIMIT 1 FOR UPDATE SKIP LOCKED) "
                                 "RETURNING ") +
                         k_item_columns,
                     {num(now_ms), num(lease_until_ms)}));
    if (r.empty()) {
        return std::optional<FeedItem>();
    }
    return std::optional<FeedItem>(item_at(r, 0));
}

Result<std::int64_t> FeedStore::expand(std::int64_t post_row_id, std::vector<FeedItem> const& recipients,
                                       std::int64_t now_ms) {
    std::int64_t added = 0;
    auto const stored = db_->transact([&](Tx& tx) -> Status {
        MSTEAMS_TRY_ASSIGN(added, insert_items(tx, recipients));
        MSTEAMS_TRY(
            tx.exec("UPDATE msteams_feed SET state = 'sent', done_at = $2, claimed_until = 0, last_error = $3 "
                    "WHERE id = $1 AND state = 'queued'",
                    {num(post_row_id), num(now_ms), std::to_string(recipients.size()) + " recipients"}));
        return {};
    });
    if (!stored) {
        return std::unexpected(stored.error());
    }
    return added;
}

Status FeedStore::finish(std::int64_t id, FeedState state, std::string const& reason, std::int64_t now_ms) {
    MSTEAMS_TRY(
        db_->exec("UPDATE msteams_feed SET state = $2, done_at = $3, claimed_until = 0, last_error = $4 "
                  "WHERE id = $1",
                  {num(id), word(state), num(now_ms), error_text(reason, 500)}));
    return {};
}

Status FeedStore::postpone(std::int64_t id, std::int64_t due_at, std::string const& error) {
    MSTEAMS_TRY(db_->exec("UPDATE msteams_feed SET due_at = $2, claimed_until = 0, last_error = $3 WHERE id = $1",
                          {num(id), num(due_at), error_text(error, 500)}));
    return {};
}

Result<std::int64_t> FeedStore::purge(std::int64_t before_ms) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(
        r, db_->exec("DELETE FROM msteams_feed WHERE state <> 'queued' AND done_at < $1", {num(before_ms)}));
    return r.affected();
}

Result<FeedCounts> FeedStore::counts() {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT state, count(*) AS n FROM msteams_feed WHERE mm_user_id <> '' "
                                    "GROUP BY state"));
    FeedCounts c;
    for (std::size_t i = 0; i < r.size(); ++i) {
        auto const n = r.integer(i, "n");
        switch (detail::word_at(r, i, "state", FeedState::queued)) {
            case FeedState::queued: c.queued = n; break;
            case FeedState::sent: c.sent = n; break;
            case FeedState::dropped: c.dropped = n; break;
            case FeedState::failed: c.failed = n; break;
        }
    }
    return c;
}

Result<std::optional<std::int64_t>> FeedStore::oldest_queued() {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT min(created_at) AS t FROM msteams_feed WHERE state = 'queued'"));
    if (!r.at(0, "t")) {
        return std::optional<std::int64_t>();
    }
    return std::optional<std::int64_t>(r.integer(0, "t"));
}

Result<FeedUser> FeedStore::user(MmUserId const& mm_user_id) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT blocked, blocked_reason, told_at, muted, saved_email, saved_push FROM "
                                    "msteams_feed_users WHERE mm_user_id = $1",
                                    {mm_user_id.str()}));
    FeedUser u;
    u.mm_user_id = mm_user_id;
    if (!r.empty()) {
        u.blocked = r.text(0, "blocked") == "t";
        u.blocked_reason = r.text(0, "blocked_reason");
        u.told_at = r.integer(0, "told_at");
        u.muted = r.text(0, "muted") == "t";
        u.saved_email = r.text(0, "saved_email");
        u.saved_push = r.text(0, "saved_push");
    }
    return u;
}

Status FeedStore::set_blocked(MmUserId const& mm_user_id, bool blocked, std::string const& reason,
                              std::int64_t now_ms) {
    if (blocked) {
        MSTEAMS_TRY(
            db_->exec("INSERT INTO msteams_feed_users (mm_user_id, blocked, blocked_reason, updated_at) "
                      "VALUES ($1, true, $2, $3) ON CONFLICT (mm_user_id) DO UPDATE SET blocked = true, "
                      "blocked_reason = EXCLUDED.blocked_reason, updated_at = EXCLUDED.updated_at",
                      {mm_user_id.str(), error_text(reason, 500), num(now_ms)}));
        return {};
    }
    MSTEAMS_TRY(
        db_->exec("UPDATE msteams_feed_users SET blocked = false, blocked_reason = '', told_at = 0, "
                  "updated_at = $2 WHERE mm_user_id = $1 AND blocked",
                  {mm_user_id.str(), num(now_ms)}));
    return {};
}

Result<bool> FeedStore::claim_telling(MmUserId const& mm_user_id, std::int64_t now_ms) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("UPDATE msteams_feed_users SET told_at = $2 WHERE mm_user_id = $1 AND blocked "
                                    "AND told_at = 0 RETURNING mm_user_id",
                                    {mm_user_id.str(), num(now_ms)}));
    return !r.empty();
}

Result<std::int64_t> FeedStore::blocked_count() {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT count(*) AS n FROM msteams_feed_users WHERE blocked"));
    return r.integer(0, "n");
}

Status FeedStore::set_muted(MmUserId const& mm_user_id, std::string const& email, std::string const& push,
                            std::int64_t now_ms) {
    MSTEAMS_TRY(
        db_->exec("INSERT INTO msteams_feed_users (mm_user_id, muted, saved_email, saved_push, updated_at) "
                  "VALUES ($1, true, $2, $3, $4) ON CONFLICT (mm_user_id) DO UPDATE SET muted = true, "
                  "saved_email = CASE WHEN msteams_feed_users.muted THEN msteams_feed_users.saved_email "
                  "ELSE EXCLUDED.saved_email END, saved_push = CASE WHEN msteams_feed_users.muted THEN "
                  "msteams_feed_users.saved_push ELSE EXCLUDED.saved_push END, updated_at = "
                  "EXCLUDED.updated_at",
                  {mm_user_id.str(), error_text(email, 64), error_text(push, 64), num(now_ms)}));
    return {};
}

Result<std::optional<FeedUser>> FeedStore::take_muted(MmUserId const& mm_user_id, std::int64_t now_ms) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("UPDATE msteams_feed_users u SET muted = false, updated_at = $2 FROM "
                                    "(SELECT mm_user_id, saved_email, saved_push FROM msteams_feed_users WHERE "
                                    "mm_user_id = $1 AND muted FOR UPDATE) old WHERE u.mm_user_id = old.mm_user_id "
                                    "RETURNING old.saved_email, old.saved_push",
                                    {mm_user_id.str(), num(now_ms)}));
    if (r.empty()) {
        return std::optional<FeedUser>();
    }
    FeedUser u;
    u.mm_user_id = mm_user_id;
    u.saved_email = r.text(0, "saved_email");
    u.saved_push = r.text(0, "saved_push");
    return std::optional<FeedUser>(std::move(u));
}

}  // namespace msteams::store
