// The msteams_dead_letters table's SQL.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <memory>
#include <utility>

#include "store/detail/sql.hpp"
#include "store/repositories.hpp"

namespace msteams::store {

std::string detail::inbox_payload(Change change_type, std::string const& message_column,
                                  SubscriptionId const& subscription_id) {
    return nlohmann::json{
        {"change_type", text(change_type)}, {"message_id", message_column}, {"subscription_id", subscription_id}}
        .dump();
}

std::string detail::outbox_payload(OutboxItem const& i) {
    return nlohmann::json{{"created_at", i.created_at}, {"kind", text(i.kind)}, {"post_id", i.post_id},
                          {"user_id", i.user_id},       {"payload", i.payload}, {"event_key", i.event_key},
                          {"sort_at", i.sort_at}}
        .dump();
}

Status detail::add_dead_letter(Tx& tx, Direction direction, std::string const& thread_id, std::string const& payload,
                               std::string const& error, int attempts, std::int64_t first, std::int64_t last) {
    MSTEAMS_TRY(
        tx.exec("INSERT INTO msteams_dead_letters (direction, thread_id, payload, error, attempts, "
                "first_failed_at, last_failed_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                {word(direction), thread_id, payload, detail::error_text(error, 1000), std::to_string(attempts),
                 detail::num(first), detail::num(last)}));
    return {};
}

namespace {

using detail::num;

class PgDeadLetters final : public DeadLetters {
public:
    explicit PgDeadLetters(std::shared_ptr<Database> db) : db_(std::move(db)) {}
    [[nodiscard]] Result<std::int64_t> count() override;
    [[nodiscard]] Result<std::vector<DeadLetter>> newest(std::size_t limit) override;
    [[nodiscard]] Result<std::int64_t> retry(std::optional<std::int64_t> id, std::int64_t now_ms) override;
    [[nodiscard]] Result<std::int64_t> discard(std::optional<std::int64_t> id) override;

private:
    std::shared_ptr<Database> db_;
};

}  // namespace

Result<std::int64_t> PgDeadLetters::count() {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT count(*) AS n FROM msteams_dead_letters"));
    return r.integer(0, "n");
}

Result<std::vector<DeadLetter>> PgDeadLetters::newest(std::size_t limit) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT id, direction, thread_id, payload, error, attempts, first_failed_at, "
                                    "last_failed_at FROM msteams_dead_letters ORDER BY last_failed_at DESC, id DESC "
                                    "LIMIT $1",
                                    {std::to_string(limit)}));
    std::vector<DeadLetter> out;
    for (std::size_t i = 0; i < r.size(); ++i) {
        out.push_back(DeadLetter{r.integer(i, "id"), detail::word_at(r, i, "direction", Direction::inbound),
                                 r.text(i, "thread_id"), r.text(i, "payload"), r.text(i, "error"),
                                 static_cast<int>(r.integer(i, "attempts")), r.integer(i, "first_failed_at"),
                                 r.integer(i, "last_failed_at")});
    }
    return out;
}

Result<std::int64_t> PgDeadLetters::discard(std::optional<std::int64_t> id) {
    Rows r;
    if (id) {
        MSTEAMS_TRY_ASSIGN(r, db_->exec("DELETE FROM msteams_dead_letters WHERE id = $1", {num(*id)}));
    } else {
        MSTEAMS_TRY_ASSIGN(r, db_->exec("DELETE FROM msteams_dead_letters"));
    }
    return r.affected();
}

Result<std::int64_t> PgDeadLetters::retry(std::optional<std::int64_t> id, std::int64_t now_ms) {
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
            auto const inbound = detail::word_at(r, i, "direction", Direction::inbound) == Direction::inbound;
            if (inbound ? !parse<Change>(text("change_type")) : !parse<OutboxKind>(text("kind"))) {
                continue;  // unreadable: dropped with the row
            }
            if (inbound) {
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

std::shared_ptr<DeadLetters> postgres_dead_letters(std::shared_ptr<Database> db) {
    return std::make_shared<PgDeadLetters>(std::move(db));
}

}  // namespace msteams::store
