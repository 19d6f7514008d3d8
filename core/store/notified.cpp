// The msteams_notified table's SQL.
#include <memory>
#include <utility>

#include "store/detail/sql.hpp"
#include "store/repositories.hpp"

namespace msteams::store {
namespace {

class PgNotified final : public Notified {
public:
    [[nodiscard]] Result<bool> claim(Tx& tx, TeamsThreadId const& thread_id, TeamsMessageId const& message_id,
                                     MmUserId const& mm_user_id) override;
    [[nodiscard]] Status release(Tx& tx, TeamsThreadId const& thread_id, TeamsMessageId const& message_id,
                                 MmUserId const& mm_user_id) override;
};

}  // namespace

Result<bool> PgNotified::claim(Tx& tx, TeamsThreadId const& thread_id, TeamsMessageId const& message_id,
                               MmUserId const& mm_user_id) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, tx.exec("INSERT INTO msteams_notified (teams_thread_id, teams_message_id, mm_user_id) "
                                  "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                                  {thread_id, message_id, mm_user_id}));
    return r.affected() == 1;
}

Status PgNotified::release(Tx& tx, TeamsThreadId const& thread_id, TeamsMessageId const& message_id,
                           MmUserId const& mm_user_id) {
    MSTEAMS_TRY(
        tx.exec("DELETE FROM msteams_notified WHERE teams_thread_id = $1 AND teams_message_id = $2 AND "
                "mm_user_id = $3",
                {thread_id, message_id, mm_user_id}));
    return {};
}

std::shared_ptr<Notified> postgres_notified() { return std::make_shared<PgNotified>(); }

}  // namespace msteams::store
