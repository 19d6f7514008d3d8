// The msteams_inbox table's SQL.
#include <algorithm>
#include <charconv>
#include <memory>
#include <utility>

#include "store/detail/sql.hpp"
#include "store/repositories.hpp"

namespace msteams::store {
namespace {

using detail::add_dead_letter;
using detail::error_text;
using detail::id_array;
using detail::inbox_payload;
using detail::num;
using detail::word;

class PgInbox final : public Inbox {
public:
    explicit PgInbox(std::shared_ptr<Database> db) : db_(std::move(db)) {}
    [[nodiscard]] Status enqueue(std::vector<InboxItem> const& items) override;
    [[nodiscard]] Result<std::vector<InboxItem>> claim(std::int64_t now_ms, std::int64_t lease_until,
                                                       std::size_t max_items) override;
    [[nodiscard]] Status renew(std::vector<std::int64_t> const& ids, std::int64_t lease_until) override;
    [[nodiscard]] Status remove(Tx& tx, std::vector<std::int64_t> const& ids) override;
    [[nodiscard]] Status postpone(std::vector<std::int64_t> const& ids, std::int64_t not_before,
                                  std::string const& error) override;
    [[nodiscard]] Status delay(std::vector<std::int64_t> const& ids, std::int64_t not_before) override;
    [[nodiscard]] Status dead_letter(Tx& tx, std::vector<InboxItem> const& items, std::string const& error,
                                     std::int64_t now_ms) override;
    [[nodiscard]] Status dead_letter_message(Tx& tx, TeamsThreadId const& thread_id, TeamsMessageId const& message_id,
                                             std::string const& error, int attempts, std::int64_t now_ms) override;
    [[nodiscard]] Result<std::int64_t> size() override;
    [[nodiscard]] Result<std::int64_t> enqueue_reconcile(std::int64_t active_since, std::int64_t now_ms) override;

private:
    std::shared_ptr<Database> db_;
};

// A catch-up item's message_id column holds "since:<Unix ms>" when it has a start (InboxItem::since_ms).
constexpr std::string_view k_since_prefix = "since:";

}  // namespace

std::string detail::message_column(InboxItem const& it) {
    return it.since_ms > 0 ? std::string(k_since_prefix) + std::to_string(it.since_ms) : it.message_id.str();
}

void detail::read_message_column(std::string const& text, InboxItem& it) {
    std::string_view rest = text;
    if (rest.starts_with(k_since_prefix)) {
        rest.remove_prefix(k_since_prefix.size());
        std::int64_t ms = 0;
        if (std::from_chars(rest.data(), rest.data() + rest.size(), ms).ec == std::errc() && ms > 0) {
            it.since_ms = ms;
        }
        return;
    }
    it.message_id = TeamsMessageId(text);
}

Status PgInbox::enqueue(std::vector<InboxItem> const& items) {
    if (items.empty()) {
        return {};
    }
    return db_->transact([&](Tx& tx) -> Status {
        for (auto const& it : items) {
            MSTEAMS_TRY(
                tx.exec("INSERT INTO msteams_inbox (received_at, subscription_id, change_type, thread_id, "
                        "message_id, content, not_before) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        {num(it.received_at), it.subscription_id, word(it.change_type), it.thread_id,
                         detail::message_column(it), detail::nullable(it.content), num(it.not_before)}));
        }
        return {};
    });
}

Result<std::vector<InboxItem>> PgInbox::claim(std::int64_t now_ms, std::int64_t lease_until, std::size_t max_items) {
    // The head of a thread is its oldest row. A thread with a leased row belongs to the worker holding the lease;
    // the head is always among the rows leased, so checking the head row itself (re-checked under its row lock
    // when another worker leased it meanwhile) is enough to skip such a thread. Behind a ready head, a rich item
    // still in its order hold comes too: the worker's batch holds until its oldest item has waited (the copy of a
    // message whose basic notification led the batch is not left behind to be read).
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
                                   "((not_before <= $3 OR content IS NOT NULL) AND claimed_until <= $3)) "
                                   "ORDER BY id LIMIT $4 FOR UPDATE) "
                                   "RETURNING id, received_at, subscription_id, change_type, thread_id, message_id, "
                                   "attempts, content",
                                   {head.text(0, "thread_id"), head.text(0, "id"), num(now_ms),
                                    std::to_string(std::max<std::size_t>(1, max_items)), num(lease_until)}));
        for (std::size_t i = 0; i < r.size(); ++i) {
            InboxItem item{r.integer(i, "id"),
                           r.integer(i, "received_at"),
                           r.id<SubscriptionId>(i, "subscription_id"),
                           detail::word_at(r, i, "change_type", Change::updated),
                           r.id<TeamsThreadId>(i, "thread_id"),
                           {},
                           static_cast<int>(r.integer(i, "attempts"))};
            detail::read_message_column(r.text(i, "message_id"), item);
            item.content = r.text(i, "content");
            out.push_back(std::move(item));
        }
        return {};
    });
    if (!done) {
        return std::unexpected(done.error());
    }
    std::sort(out.begin(), out.end(), [](auto const& a, auto const& b) { return a.id < b.id; });
    return out;
}

Status PgInbox::renew(std::vector<std::int64_t> const& ids, std::int64_t lease_until) {
    MSTEAMS_TRY(db_->exec("UPDATE msteams_inbox SET claimed_until = $2 WHERE id = ANY($1::bigint[])",
                          {id_array(ids), num(lease_until)}));
    return {};
}

Status PgInbox::remove(Tx& tx, std::vector<std::int64_t> const& ids) {
    MSTEAMS_TRY(tx.exec("DELETE FROM msteams_inbox WHERE id = ANY($1::bigint[])", {id_array(ids)}));
    return {};
}

Status PgInbox::postpone(std::vector<std::int64_t> const& ids, std::int64_t not_before, std::string const& error) {
    MSTEAMS_TRY(
        db_->exec("UPDATE msteams_inbox SET claimed_until = 0, not_before = $2, last_error = $3, "
                  "first_failed_at = COALESCE(first_failed_at, $4) WHERE id = ANY($1::bigint[])",
                  {id_array(ids), num(not_before), error_text(error, 500), num(now_ms())}));
    return {};
}

Status PgInbox::delay(std::vector<std::int64_t> const& ids, std::int64_t not_before) {
    MSTEAMS_TRY(
        db_->exec("UPDATE msteams_inbox SET claimed_until = 0, not_before = $2, "
                  "attempts = GREATEST(attempts - 1, 0) WHERE id = ANY($1::bigint[])",
                  {id_array(ids), num(not_before)}));
    return {};
}

Status PgInbox::dead_letter(Tx& tx, std::vector<InboxItem> const& items, std::string const& error,
                            std::int64_t now_ms) {
    for (auto const& it : items) {
        Rows r;
        MSTEAMS_TRY_ASSIGN(r,
                           tx.exec("DELETE FROM msteams_inbox WHERE id = $1 RETURNING first_failed_at", {num(it.id)}));
        if (r.empty()) {
            continue;
        }
        auto const first = r.at(0, "first_failed_at") ? r.integer(0, "first_failed_at") : now_ms;
        MSTEAMS_TRY(add_dead_letter(tx, Direction::inbound, it.thread_id.str(),
                                    inbox_payload(it.change_type, detail::message_column(it), it.subscription_id),
                                    error, it.attempts, first, now_ms));
    }
    return {};
}

Status PgInbox::dead_letter_message(Tx& tx, TeamsThreadId const& thread_id, TeamsMessageId const& message_id,
                                    std::string const& error, int attempts, std::int64_t now_ms) {
    return add_dead_letter(tx, Direction::inbound, thread_id.str(),
                           inbox_payload(Change::updated, message_id.str(), {}), error, attempts, now_ms, now_ms);
}

Result<std::int64_t> PgInbox::size() {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT count(*) AS n FROM msteams_inbox"));
    return r.integer(0, "n");
}

Result<std::int64_t> PgInbox::enqueue_reconcile(std::int64_t active_since, std::int64_t now_ms) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("INSERT INTO msteams_inbox (received_at, subscription_id, change_type, thread_id, "
                                    "message_id) SELECT $1, '', $3, p.teams_thread_id, '' FROM msteams_portals p "
                                    "WHERE GREATEST(p.cursor_ms, p.created_at, p.heard_at) > $2 AND NOT EXISTS "
                                    "(SELECT 1 FROM msteams_inbox i WHERE i.thread_id = p.teams_thread_id AND "
                                    "i.change_type = $3)",
                                    {num(now_ms), num(active_since), word(Change::catchup)}));
    return r.affected();
}

std::shared_ptr<Inbox> postgres_inbox(std::shared_ptr<Database> db) { return std::make_shared<PgInbox>(std::move(db)); }

}  // namespace msteams::store
