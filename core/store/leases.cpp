// The msteams_leases table's SQL.
#include <memory>
#include <utility>

#include "store/detail/sql.hpp"
#include "store/repositories.hpp"

namespace msteams::store {
namespace {

class PgLeases final : public Leases {
public:
    explicit PgLeases(std::shared_ptr<Database> db) : db_(std::move(db)) {}
    [[nodiscard]] Result<bool> hold(std::string const& name, std::string const& holder,
                                    std::chrono::seconds ttl) override;
    [[nodiscard]] Status release(std::string const& name, std::string const& holder) override;

private:
    std::shared_ptr<Database> db_;
};

}  // namespace

Result<bool> PgLeases::hold(std::string const& name, std::string const& holder, std::chrono::seconds ttl) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("INSERT INTO msteams_leases (name, holder, expires_at) "
                                    "VALUES ($1, $2, now() + make_interval(secs => $3)) "
                                    "ON CONFLICT (name) DO UPDATE SET holder = $2, expires_at = EXCLUDED.expires_at "
                                    "WHERE msteams_leases.holder = $2 OR msteams_leases.expires_at < now() "
                                    "RETURNING holder",
                                    {name, holder, std::to_string(ttl.count())}));
    return !r.empty();
}

Status PgLeases::release(std::string const& name, std::string const& holder) {
    MSTEAMS_TRY(db_->exec("DELETE FROM msteams_leases WHERE name = $1 AND holder = $2", {name, holder}));
    return {};
}

std::shared_ptr<Leases> postgres_leases(std::shared_ptr<Database> db) {
    return std::make_shared<PgLeases>(std::move(db));
}

}  // namespace msteams::store
