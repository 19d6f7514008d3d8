// The msteams_outbox table's SQL.
#include <nlohmann/json.hpp>
#include <memory>
#include <utility>

#include "store/detail/sql.hpp"
#include "store/repositories.hpp"

namespace msteams::store {
namespace {

using detail::add_dead_letter;
using detail::error_text;
using detail::num;
using detail::text_array;
using detail::word;

class PgOutbox final : public Outbox {
public:
    explicit PgOutbox(std::shared_ptr<Database> db) : db_(std::move(db)) {}
    [[nodiscard]] Result<std::int64_t> enqueue(std::vector<OutboxItem> const& items) override;
    [[nodiscard]] Result<std::vector<SeenEvent>> seen(std::vector<std::string> const& event_keys) override;
    [[nodiscard]] Result<std::int64_t> forget_seen(std::int64_t before_ms) override;
    [[nodiscard]] Result<std::optional<OutboxItem>> claim(std::int64_t now_ms, std::int64_t settled_ms,
                                                          std::int64_t lease_until_ms) override;
    [[nodiscard]] Status hold(std::int64_t id, std::int64_t until_ms) override;
    [[nodiscard]] Status renew(std::int64_t id, std::int64_t lease_until_ms) override;
    [[nodiscard]] Status remove(Tx& tx, std::int64_t id) override;
    [[nodiscard]] Status postpone(std::int64_t id, std::int64_t not_before, std::string const& error) override;
    [[nodiscard]] Result<std::int64_t> size() override;
    [[nodiscard]] Status dead_letter(OutboxItem const& item, std::string const& error, std::int64_t now_ms) override;

private:
    std::shared_ptr<Database> db_;
};

}  // namespace

Result<std::int64_t> PgOutbox::enqueue(std::vector<OutboxItem> const& items) {
    std::int64_t added = 0;
    if (items.empty()) {
        return added;
    }
    auto const stored = db_->transact([&](Tx& tx) -> Status {
        added = 0;
        for (auto const& it : items) {
            // Queued only when its key is new to msteams_outbox_seen too: an item sent and removed is not queued again.
            // (Items queued before the seen keys existed are still unique in the outbox.)
            Rows r;
            MSTEAMS_TRY_ASSIGN(
                r, tx.exec("WITH seen AS (INSERT INTO msteams_outbox_seen (event_key, seen_at) VALUES ($7, $1) "
                           "ON CONFLICT (event_key) DO NOTHING RETURNING event_key) "
                           "INSERT INTO msteams_outbox (created_at, channel_id, kind, post_id, user_id, payload, "
                           "event_key, sort_at) SELECT $1::bigint, $2::text, $3::text, $4::text, $5::text, $6::text, "
                           "event_key, $8::bigint FROM seen "
                           "ON CONFLICT (event_key) DO NOTHING",
                           {num(it.created_at), it.channel_id, word(it.kind), it.post_id, it.user_id, it.payload,
                            it.event_key, num(it.sort_at)}));
            added += r.affected();
            if (r.affected() > 0) {  // ends the holds of the channel (an item held has no attempt counted)
                MSTEAMS_TRY(
                    tx.exec("UPDATE msteams_outbox SET not_before = 0 WHERE channel_id = $1 AND attempts = 0 "
                            "AND not_before > 0",
                            {it.channel_id}));
            }
        }
        return {};
    });
    if (!stored) {
        return std::unexpected(stored.error());
    }
    return added;
}

Result<std::vector<SeenEvent>> PgOutbox::seen(std::vector<std::string> const& event_keys) {
    std::vector<SeenEvent> out;
    if (event_keys.empty()) {
        return out;
    }
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT s.event_key, EXISTS (SELECT 1 FROM msteams_outbox o WHERE o.event_key = "
                                    "s.event_key) AS queued FROM msteams_outbox_seen s "
                                    "WHERE s.event_key = ANY($1::text[])",
                                    {text_array(event_keys)}));
    for (std::size_t i = 0; i < r.size(); ++i) {
        out.push_back(SeenEvent{r.text(i, "event_key"), r.text(i, "queued") == "t"});
    }
    return out;
}

Result<std::int64_t> PgOutbox::forget_seen(std::int64_t before_ms) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("DELETE FROM msteams_outbox_seen s WHERE s.seen_at < $1 AND NOT EXISTS "
                                    "(SELECT 1 FROM msteams_outbox o WHERE o.event_key = s.event_key)",
                                    {num(before_ms)}));
    return r.affected();
}

Result<std::optional<OutboxItem>> PgOutbox::claim(std::int64_t now_ms, std::int64_t settled_ms,
                                                  std::int64_t lease_until_ms) {
    // An item still in the outbox holds back its channel's later items, claimed or not.
    Rows r;
    MSTEAMS_TRY_ASSIGN(
        r, db_->exec("UPDATE msteams_outbox SET claimed_until = $3 WHERE id = (SELECT o.id FROM "
                     "msteams_outbox o WHERE o.not_before <= $1 AND o.claimed_until <= $1 AND "
                     "(o.kind = 'post' OR o.sort_at <= $2) AND NOT EXISTS (SELECT 1 FROM msteams_outbox p WHERE "
                     "p.channel_id = o.channel_id AND (p.sort_at, p.id) < (o.sort_at, o.id)) "
                     "ORDER BY o.sort_at, o.id LIMIT 1 FOR UPDATE SKIP LOCKED) "
                     "RETURNING id, created_at, channel_id, kind, post_id, user_id, payload, event_key, "
                     "sort_at, attempts",
                     {num(now_ms), num(settled_ms), num(lease_until_ms)}));
    if (r.empty()) {
        return std::optional<OutboxItem>();
    }
    return std::optional<OutboxItem>(
        OutboxItem{r.integer(0, "id"), r.integer(0, "created_at"), r.id<MmChannelId>(0, "channel_id"),
                   detail::word_at(r, 0, "kind", OutboxKind::post), r.id<MmPostId>(0, "post_id"),
                   r.id<MmUserId>(0, "user_id"), r.text(0, "payload"), r.text(0, "event_key"), r.integer(0, "sort_at"),
                   static_cast<int>(r.integer(0, "attempts"))});
}

Status PgOutbox::hold(std::int64_t id, std::int64_t until_ms) {
    MSTEAMS_TRY(db_->exec("UPDATE msteams_outbox SET not_before = $2, claimed_until = 0 WHERE id = $1",
                          {num(id), num(until_ms)}));
    return {};
}

Status PgOutbox::renew(std::int64_t id, std::int64_t lease_until_ms) {
    MSTEAMS_TRY(
        db_->exec("UPDATE msteams_outbox SET claimed_until = $2 WHERE id = $1", {num(id), num(lease_until_ms)}));
    return {};
}

Status PgOutbox::remove(Tx& tx, std::int64_t id) {
    // Not the removed row itself: a statement that deletes a row and updates it too may do only the update.
    MSTEAMS_TRY(
        tx.exec("WITH gone AS (DELETE FROM msteams_outbox WHERE id = $1 RETURNING channel_id) UPDATE "
                "msteams_outbox SET not_before = 0 WHERE channel_id IN (SELECT channel_id FROM gone) AND "
                "id <> $1 AND attempts = 0 AND not_before > 0",
                {num(id)}));
    return {};
}

Status PgOutbox::postpone(std::int64_t id, std::int64_t not_before, std::string const& error) {
    MSTEAMS_TRY(
        db_->exec("UPDATE msteams_outbox SET attempts = attempts + 1, not_before = $2, last_error = $3, "
                  "first_failed_at = COALESCE(first_failed_at, $4), claimed_until = 0 WHERE id = $1",
                  {num(id), num(not_before), error_text(error, 500), num(now_ms())}));
    return {};
}

Result<std::int64_t> PgOutbox::size() {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT count(*) AS n FROM msteams_outbox"));
    return r.integer(0, "n");
}

Status PgOutbox::dead_letter(OutboxItem const& it, std::string const& error, std::int64_t now_ms) {
    return db_->transact([&](Tx& tx) -> Status {
        Rows r;
        MSTEAMS_TRY_ASSIGN(
            r, tx.exec("DELETE FROM msteams_outbox WHERE id = $1 RETURNING first_failed_at, attempts", {num(it.id)}));
        if (r.empty()) {
            return {};
        }
        auto const first = r.at(0, "first_failed_at") ? r.integer(0, "first_failed_at") : now_ms;
        return add_dead_letter(tx, Direction::outbound, it.channel_id.str(), detail::outbox_payload(it), error,
                               static_cast<int>(r.integer(0, "attempts")) + 1, first, now_ms);
    });
}

std::shared_ptr<Outbox> postgres_outbox(std::shared_ptr<Database> db) {
    return std::make_shared<PgOutbox>(std::move(db));
}

}  // namespace msteams::store
