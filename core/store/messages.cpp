// The msteams_messages table's SQL.
#include <memory>
#include <utility>

#include "store/detail/sql.hpp"
#include "store/repositories.hpp"

namespace msteams::store {
namespace {

using detail::nullable;
using detail::num;
using detail::sql;
using detail::word;

constexpr std::string_view k_message_columns =
    "teams_thread_id, teams_message_id, mm_post_id, mm_channel_id, origin, teams_modified_at, pending_since, deleted";

MessageLink message_at(Rows const& r, std::size_t i) {
    return MessageLink{r.id<TeamsThreadId>(i, "teams_thread_id"),
                       r.id<TeamsMessageId>(i, "teams_message_id"),
                       r.id<MmPostId>(i, "mm_post_id"),
                       r.id<MmChannelId>(i, "mm_channel_id"),
                       detail::word_at(r, i, "origin", Origin::teams),
                       r.integer(i, "teams_modified_at"),
                       r.integer(i, "pending_since"),
                       r.text(i, "deleted") == "t"};
}

class PgMessages final : public Messages {
public:
    explicit PgMessages(std::shared_ptr<Database> db) : db_(std::move(db)) {}
    [[nodiscard]] Result<std::optional<MessageLink>> find(Tx& tx, TeamsThreadId const& thread_id,
                                                          TeamsMessageId const& message_id) override;
    [[nodiscard]] Result<std::optional<MessageLink>> by_post(MmPostId const& mm_post_id) override;
    [[nodiscard]] Result<std::vector<MmPostId>> linked(std::vector<MmPostId> const& mm_post_ids) override;
    [[nodiscard]] Status mark_pending(MessageLink const& link) override;
    [[nodiscard]] Result<bool> sending_to(TeamsThreadId const& thread_id, std::int64_t since_ms) override;
    [[nodiscard]] Result<std::int64_t> sent_since(TeamsThreadId const& thread_id, std::int64_t since_ms) override;
    [[nodiscard]] Status forget(Tx& tx, TeamsThreadId const& thread_id, TeamsMessageId const& message_id) override;
    [[nodiscard]] Status put(Tx& tx, MessageLink const& link) override;

private:
    std::shared_ptr<Database> db_;
};

}  // namespace

Result<std::optional<MessageLink>> PgMessages::find(Tx& tx, TeamsThreadId const& thread_id,
                                                    TeamsMessageId const& message_id) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, tx.exec(sql("SELECT ", k_message_columns,
                                      " FROM msteams_messages WHERE teams_thread_id = $1 AND teams_message_id = $2"),
                                  {thread_id, message_id}));
    return r.empty() ? std::optional<MessageLink>() : std::optional<MessageLink>(message_at(r, 0));
}

Result<std::optional<MessageLink>> PgMessages::by_post(MmPostId const& mm_post_id) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(
        r, db_->exec(sql("SELECT ", k_message_columns, " FROM msteams_messages WHERE mm_post_id = $1"), {mm_post_id}));
    return r.empty() ? std::optional<MessageLink>() : std::optional<MessageLink>(message_at(r, 0));
}

Result<std::vector<MmPostId>> PgMessages::linked(std::vector<MmPostId> const& mm_post_ids) {
    std::vector<MmPostId> out;
    if (mm_post_ids.empty()) {
        return out;
    }
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT mm_post_id FROM msteams_messages WHERE mm_post_id = ANY($1::text[])",
                                    {detail::text_array(mm_post_ids)}));
    for (std::size_t i = 0; i < r.size(); ++i) {
        out.push_back(r.id<MmPostId>(i, "mm_post_id"));
    }
    return out;
}

Status PgMessages::mark_pending(MessageLink const& link) {
    MSTEAMS_TRY(db_->exec(
        "INSERT INTO msteams_messages (teams_thread_id, teams_message_id, mm_post_id, mm_channel_id, "
        "origin, teams_modified_at, pending_since) VALUES ($1, $2, NULL, $3, $4, 0, $5) "
        "ON CONFLICT (teams_thread_id, teams_message_id) DO UPDATE SET pending_since = $5 "
        "WHERE msteams_messages.mm_post_id IS NULL",
        {link.teams_thread_id, link.teams_message_id, link.mm_channel_id, word(link.origin), num(link.pending_since)}));
    return {};
}

Result<bool> PgMessages::sending_to(TeamsThreadId const& thread_id, std::int64_t since_ms) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT 1 FROM msteams_messages WHERE teams_thread_id = $1 AND mm_post_id IS NULL "
                                    "AND origin = $3 AND pending_since > $2 LIMIT 1",
                                    {thread_id, num(since_ms), word(Origin::mattermost)}));
    return !r.empty();
}

Result<std::int64_t> PgMessages::sent_since(TeamsThreadId const& thread_id, std::int64_t since_ms) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT count(*) AS n FROM msteams_messages WHERE teams_thread_id = $1 AND "
                                    "mm_post_id IS NOT NULL AND origin = $3 AND teams_modified_at > $2",
                                    {thread_id, num(since_ms), word(Origin::mattermost)}));
    return r.integer(0, "n");
}

Status PgMessages::forget(Tx& tx, TeamsThreadId const& thread_id, TeamsMessageId const& message_id) {
    MSTEAMS_TRY(tx.exec("DELETE FROM msteams_messages WHERE teams_thread_id = $1 AND teams_message_id = $2",
                        {thread_id, message_id}));
    return {};
}

Status PgMessages::put(Tx& tx, MessageLink const& link) {
    MSTEAMS_TRY(
        tx.exec("INSERT INTO msteams_messages (teams_thread_id, teams_message_id, mm_post_id, mm_channel_id, "
                "origin, teams_modified_at, pending_since, deleted) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7) "
                "ON CONFLICT (teams_thread_id, teams_message_id) DO UPDATE SET mm_post_id = $3, "
                "mm_channel_id = $4, teams_modified_at = $6, pending_since = NULL, deleted = $7",
                {link.teams_thread_id, link.teams_message_id, nullable(link.mm_post_id), link.mm_channel_id,
                 word(link.origin), num(link.teams_modified_at), link.deleted ? "true" : "false"}));
    return {};
}

std::shared_ptr<Messages> postgres_messages(std::shared_ptr<Database> db) {
    return std::make_shared<PgMessages>(std::move(db));
}

}  // namespace msteams::store
