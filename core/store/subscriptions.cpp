// The msteams_subscriptions table's SQL.
#include <memory>
#include <utility>

#include "store/detail/sql.hpp"
#include "store/repositories.hpp"

namespace msteams::store {
namespace {

using detail::num;
using detail::sql;
using detail::word;

constexpr std::string_view k_subscription_columns =
    "id, kind, resource, owner, expires_at, created_at, state, client_state_hash, certificate_id";

SubscriptionRow subscription_at(Rows const& r, std::size_t i) {
    return SubscriptionRow{r.id<SubscriptionId>(i, "id"),
                           detail::word_at(r, i, "kind", SubscriptionKind::chats),
                           r.text(i, "resource"),
                           r.text(i, "owner"),
                           r.integer(i, "expires_at"),
                           r.integer(i, "created_at"),
                           detail::word_at(r, i, "state", SubscriptionState::active),
                           r.text(i, "client_state_hash"),
                           r.text(i, "certificate_id")};
}

class PgSubscriptions final : public Subscriptions {
public:
    explicit PgSubscriptions(std::shared_ptr<Database> db) : db_(std::move(db)) {}
    [[nodiscard]] Result<std::vector<SubscriptionRow>> list() override;
    [[nodiscard]] Result<bool> known(SubscriptionId const& id) override;
    [[nodiscard]] Status put(SubscriptionRow const& row) override;
    [[nodiscard]] Status set_state(SubscriptionId const& id, SubscriptionState state) override;
    [[nodiscard]] Status remove(SubscriptionId const& id) override;

private:
    std::shared_ptr<Database> db_;
};

}  // namespace

Result<std::vector<SubscriptionRow>> PgSubscriptions::list() {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec(sql("SELECT ", k_subscription_columns, " FROM msteams_subscriptions ORDER BY id")));
    std::vector<SubscriptionRow> out;
    for (std::size_t i = 0; i < r.size(); ++i) {
        out.push_back(subscription_at(r, i));
    }
    return out;
}

Result<bool> PgSubscriptions::known(SubscriptionId const& id) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT 1 FROM msteams_subscriptions WHERE id = $1", {id}));
    return !r.empty();
}

Status PgSubscriptions::put(SubscriptionRow const& row) {
    MSTEAMS_TRY(
        db_->exec("INSERT INTO msteams_subscriptions (id, kind, resource, owner, expires_at, created_at, state, "
                  "client_state_hash, certificate_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) "
                  "DO UPDATE SET kind = $2, resource = $3, owner = $4, expires_at = $5, state = $7, "
                  "client_state_hash = $8, certificate_id = $9",
                  {row.id, word(row.kind), row.resource, row.owner, num(row.expires_at), num(row.created_at),
                   word(row.state), row.client_state_hash, row.certificate_id}));
    return {};
}

Status PgSubscriptions::set_state(SubscriptionId const& id, SubscriptionState state) {
    MSTEAMS_TRY(db_->exec("UPDATE msteams_subscriptions SET state = $2 WHERE id = $1", {id, word(state)}));
    return {};
}

Status PgSubscriptions::remove(SubscriptionId const& id) {
    MSTEAMS_TRY(db_->exec("DELETE FROM msteams_subscriptions WHERE id = $1", {id}));
    return {};
}

std::shared_ptr<Subscriptions> postgres_subscriptions(std::shared_ptr<Database> db) {
    return std::make_shared<PgSubscriptions>(std::move(db));
}

}  // namespace msteams::store
