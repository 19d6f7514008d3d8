// The msteams_feed and msteams_feed_users tables' SQL.
#include "store/feed.hpp"

#include <algorithm>
#include <utility>

#include "store/detail/sql.hpp"

namespace msteams::store {
namespace {

using detail::error_text;
using detail::id_array;
using detail::num;
using detail::word;

constexpr char const* k_item_columns = "id, post_id, mm_user_id, kind, payload, created_at, due_at, attempts, alone";
constexpr char const* k_user_columns =
    "mm_user_id, blocked, blocked_reason, told_at, muted, saved_email, saved_push, "
    "reached_at";

FeedItem item_at(Rows const& r, std::size_t i) {
    return FeedItem{r.integer(i, "id"),
                    r.id<MmPostId>(i, "post_id"),
                    r.id<MmUserId>(i, "mm_user_id"),
                    detail::word_at(r, i, "kind", FeedKind::post),
                    r.text(i, "payload"),
                    r.integer(i, "created_at"),
                    r.integer(i, "due_at"),
                    static_cast<int>(r.integer(i, "attempts")),
                    r.text(i, "alone") == "t"};
}

FeedUser user_at(Rows const& r, std::size_t i) {
    FeedUser u;
    u.mm_user_id = r.id<MmUserId>(i, "mm_user_id");
    u.blocked = r.text(i, "blocked") == "t";
    u.blocked_reason = r.text(i, "blocked_reason");
    u.told_at = r.integer(i, "told_at");
    u.muted = r.text(i, "muted") == "t";
    u.saved_email = r.text(i, "saved_email");
    u.saved_push = r.text(i, "saved_push");
    u.reached_at = r.integer(i, "reached_at");
    return u;
}

// The row due first, locked, and whether it may go in a bulk request.
Result<std::optional<std::pair<FeedItem, bool>>> first_due(Tx& tx, std::int64_t now_ms, FeedBatch const& batch) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(
        r, tx.exec("SELECT f.id, f.post_id, f.mm_user_id, f.kind, f.alone, f.payload, f.created_at, f.due_at, "
                   "f.attempts, (f.kind <> 'post' AND NOT f.alone AND COALESCE(u.reached_at, 0) >= $2 AND "
                   "NOT COALESCE(u.blocked, false)) AS bulk FROM msteams_feed f LEFT JOIN msteams_feed_users u ON "
                   "u.mm_user_id = f.mm_user_id WHERE f.state = 'queued' AND f.due_at <= $1 AND f.claimed_until <= $1 "
                   "ORDER BY f.due_at, f.id LIMIT 1 FOR UPDATE OF f SKIP LOCKED",
                   {num(now_ms), num(std::max<std::int64_t>(batch.reached_since, 1))}));
    if (r.empty()) {
        return std::optional<std::pair<FeedItem, bool>>();
    }
    return std::optional<std::pair<FeedItem, bool>>(std::pair(item_at(r, 0), r.text(0, "bulk") == "t"));
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
    std::vector<FeedItem> rows;
    MSTEAMS_TRY_ASSIGN(rows, claim_batch(now_ms, lease_until_ms, FeedBatch{}));
    if (rows.empty()) {
        return std::optional<FeedItem>();
    }
    return std::optional<FeedItem>(std::move(rows.front()));
}

Result<std::vector<FeedItem>> FeedStore::claim_batch(std::int64_t now_ms, std::int64_t lease_until_ms,
                                                     FeedBatch const& batch) {
    std::vector<FeedItem> out;
    auto const claimed = db_->transact([&](Tx& tx) -> Status {
        out.clear();
        std::optional<std::pair<FeedItem, bool>> first;
        MSTEAMS_TRY_ASSIGN(first, first_due(tx, now_ms, batch));
        if (!first) {
            return {};
        }
        std::vector<std::int64_t> ids{first->first.id};
        if (first->second && batch.max > 1) {
            Rows more;
            MSTEAMS_TRY_ASSIGN(
                more, tx.exec("SELECT f.id FROM msteams_feed f JOIN msteams_feed_users u ON u.mm_user_id = "
                              "f.mm_user_id WHERE f.post_id = $1 AND f.kind = $2 AND f.id <> $3 AND f.state = "
                              "'queued' AND f.due_at <= $4 AND f.claimed_until <= $4 AND NOT f.alone AND "
                              "u.reached_at >= $5 AND NOT u.blocked ORDER BY f.id LIMIT $6 FOR UPDATE OF f SKIP LOCKED",
                              {first->first.post_id.str(), word(first->first.kind), num(first->first.id), num(now_ms),
                               num(std::max<std::int64_t>(batch.reached_since, 1)),
                               num(static_cast<std::int64_t>(batch.max - 1))}));
            for (std::size_t i = 0; i < more.size(); ++i) {
                ids.push_back(more.integer(i, "id"));
            }
        }
        Rows r;
        MSTEAMS_TRY_ASSIGN(r, tx.exec(std::string("UPDATE msteams_feed SET claimed_until = $2, attempts = attempts + 1 "
                                                  "WHERE id = ANY($1::bigint[]) RETURNING ") +
                                          k_item_columns,
                                      {id_array(ids), num(lease_until_ms)}));
        for (std::size_t i = 0; i < r.size(); ++i) {
            out.push_back(item_at(r, i));
        }
        // The first row first, the others by id.
        std::sort(out.begin(), out.end(), [&](FeedItem const& a, FeedItem const& b) {
            return std::pair(a.id != ids.front(), a.id) < std::pair(b.id != ids.front(), b.id);
        });
        return {};
    });
    if (!claimed) {
        return std::unexpected(claimed.error());
    }
    return out;
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
                  "WHERE id = $1 AND state = 'queued'",
                  {num(id), word(state), num(now_ms), error_text(reason, 500)}));
    return {};
}

Status FeedStore::finish_all(std::vector<std::int64_t> const& ids, FeedState state, std::string const& reason,
                             std::int64_t now_ms) {
    if (ids.empty()) {
        return {};
    }
    MSTEAMS_TRY(
        db_->exec("UPDATE msteams_feed SET state = $2, done_at = $3, claimed_until = 0, last_error = $4 "
                  "WHERE id = ANY($1::bigint[]) AND state = 'queued'",
                  {id_array(ids), word(state), num(now_ms), error_text(reason, 500)}));
    return {};
}

Status FeedStore::postpone(std::int64_t id, std::int64_t due_at, std::string const& error) {
    MSTEAMS_TRY(
        db_->exec("UPDATE msteams_feed SET due_at = $2, claimed_until = 0, last_error = $3 WHERE id = $1 AND "
                  "state = 'queued'",
                  {num(id), num(due_at), error_text(error, 500)}));
    return {};
}

Status FeedStore::send_alone(std::vector<std::int64_t> const& ids, std::int64_t due_at, std::string const& error) {
    if (ids.empty()) {
        return {};
    }
    MSTEAMS_TRY(
        db_->exec("UPDATE msteams_feed SET alone = true, due_at = $2, claimed_until = 0, last_error = $3 WHERE "
                  "id = ANY($1::bigint[]) AND state = 'queued'",
                  {id_array(ids), num(due_at), error_text(error, 500)}));
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
    std::vector<FeedUser> all;
    MSTEAMS_TRY_ASSIGN(all, users({mm_user_id}));
    return all.front();
}

Result<std::vector<FeedUser>> FeedStore::users(std::vector<MmUserId> const& mm_user_ids) {
    std::vector<FeedUser> out;
    if (mm_user_ids.empty()) {
        return out;
    }
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec(std::string("SELECT ") + k_user_columns +
                                        " FROM msteams_feed_users WHERE mm_user_id = ANY($1::text[])",
                                    {detail::text_array(mm_user_ids)}));
    for (auto const& id : mm_user_ids) {
        FeedUser u;
        u.mm_user_id = id;
        for (std::size_t i = 0; i < r.size(); ++i) {
            if (r.text(i, "mm_user_id") == id.str()) {
                u = user_at(r, i);
                break;
            }
        }
        out.push_back(std::move(u));
    }
    return out;
}

Status FeedStore::reached(MmUserId const& mm_user_id, std::int64_t now_ms) {
    MSTEAMS_TRY(
        db_->exec("INSERT INTO msteams_feed_users (mm_user_id, reached_at, updated_at) VALUES ($1, $2, $2) "
                  "ON CONFLICT (mm_user_id) DO UPDATE SET reached_at = EXCLUDED.reached_at, blocked = false, "
                  "blocked_reason = '', told_at = 0, updated_at = EXCLUDED.updated_at",
                  {mm_user_id.str(), num(now_ms)}));
    return {};
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
