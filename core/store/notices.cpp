// The msteams_notices table's SQL.
#include <memory>
#include <utility>

#include "store/detail/sql.hpp"
#include "store/repositories.hpp"

namespace msteams::store {
namespace {

class PgNotices final : public Notices {
public:
    explicit PgNotices(std::shared_ptr<Database> db) : db_(std::move(db)) {}
    [[nodiscard]] Result<bool> claim(std::string const& key, std::int64_t now_ms) override {
        Rows r;
        MSTEAMS_TRY_ASSIGN(r, db_->exec("INSERT INTO msteams_notices (key, sent_at) VALUES ($1, $2) "
                                        "ON CONFLICT (key) DO NOTHING RETURNING key",
                                        {key, std::to_string(now_ms)}));
        return !r.empty();
    }

private:
    std::shared_ptr<Database> db_;
};

}  // namespace

std::shared_ptr<Notices> postgres_notices(std::shared_ptr<Database> db) {
    return std::make_shared<PgNotices>(std::move(db));
}

}  // namespace msteams::store
