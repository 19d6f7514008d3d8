// The msteams_portals table's SQL.
#include <memory>
#include <utility>

#include "store/detail/sql.hpp"
#include "store/repositories.hpp"

namespace msteams::store {
namespace {

using detail::num;
using detail::sql;
using detail::word;

constexpr std::string_view k_portal_columns =
    "teams_thread_id, kind, teams_team_id, mm_channel_id, creator_mm_user_id, created_at, cursor_ms";

Portal portal_at(Rows const& r, std::size_t i) {
    return Portal{r.id<TeamsThreadId>(i, "teams_thread_id"),
                  detail::word_at(r, i, "kind", PortalKind::chat),
                  r.text(i, "teams_team_id"),
                  r.id<MmChannelId>(i, "mm_channel_id"),
                  r.id<MmUserId>(i, "creator_mm_user_id"),
                  r.integer(i, "created_at"),
                  r.integer(i, "cursor_ms")};
}

class PgPortals final : public Portals {
public:
    explicit PgPortals(std::shared_ptr<Database> db) : db_(std::move(db)) {}
    [[nodiscard]] Result<std::optional<Portal>> by_thread(TeamsThreadId const& teams_thread_id) override;
    [[nodiscard]] Result<std::optional<Portal>> by_channel(MmChannelId const& mm_channel_id) override;
    [[nodiscard]] Result<Portal> add(Portal const& portal) override;
    [[nodiscard]] Result<bool> remove(TeamsThreadId const& teams_thread_id) override;
    [[nodiscard]] Result<std::vector<Portal>> list(PortalKind kind) override;
    [[nodiscard]] Result<std::vector<Portal>> list_page(PortalKind kind, TeamsThreadId const& after,
                                                        std::size_t limit) override;
    [[nodiscard]] Result<std::int64_t> newest_chat_cursor() override;
    [[nodiscard]] Status advance_cursor(Tx& tx, TeamsThreadId const& teams_thread_id, std::int64_t cursor_ms) override;
    [[nodiscard]] Status mark_heard(Tx& tx, TeamsThreadId const& teams_thread_id, std::int64_t at_ms) override;
    [[nodiscard]] Result<std::int64_t> version(Tx& tx, TeamsThreadId const& teams_thread_id) override;
    [[nodiscard]] Status begin_write(TeamsThreadId const& teams_thread_id, std::int64_t until_ms) override;
    [[nodiscard]] Status renew_write(TeamsThreadId const& teams_thread_id, std::int64_t until_ms) override;
    [[nodiscard]] Status end_write(Tx& tx, TeamsThreadId const& teams_thread_id) override;
    [[nodiscard]] Result<bool> unchanged(Tx& tx, TeamsThreadId const& teams_thread_id, std::int64_t version,
                                         std::int64_t now_ms) override;

private:
    std::shared_ptr<Database> db_;
};

}  // namespace

Result<std::optional<Portal>> PgPortals::by_thread(TeamsThreadId const& teams_thread_id) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r,
                       db_->exec(sql("SELECT ", k_portal_columns, " FROM msteams_portals WHERE teams_thread_id = $1"),
                                 {teams_thread_id}));
    return r.empty() ? std::optional<Portal>() : std::optional<Portal>(portal_at(r, 0));
}

Result<std::optional<Portal>> PgPortals::by_channel(MmChannelId const& mm_channel_id) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec(sql("SELECT ", k_portal_columns, " FROM msteams_portals WHERE mm_channel_id = $1"),
                                    {mm_channel_id}));
    return r.empty() ? std::optional<Portal>() : std::optional<Portal>(portal_at(r, 0));
}

Result<Portal> PgPortals::add(Portal const& p) {
    MSTEAMS_TRY(
        db_->exec("INSERT INTO msteams_portals (teams_thread_id, kind, teams_team_id, mm_channel_id, "
                  "creator_mm_user_id, created_at, cursor_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                  "ON CONFLICT DO NOTHING",
                  {p.teams_thread_id, word(p.kind), p.teams_team_id, p.mm_channel_id, p.creator_mm_user_id,
                   num(p.created_at), num(p.cursor_ms)}));
    std::optional<Portal> stored;
    MSTEAMS_TRY_ASSIGN(stored, by_thread(p.teams_thread_id));
    if (!stored) {
        // The channel is linked to another thread already.
        return fail(ErrorCode::conflict, "the Mattermost channel is already bridged to another Teams conversation");
    }
    return *stored;
}

Result<bool> PgPortals::remove(TeamsThreadId const& teams_thread_id) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("DELETE FROM msteams_portals WHERE teams_thread_id = $1", {teams_thread_id}));
    return r.affected() > 0;
}

Result<std::vector<Portal>> PgPortals::list(PortalKind kind) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec(sql("SELECT ", k_portal_columns,
                                        " FROM msteams_portals WHERE kind = $1 ORDER BY created_at, teams_thread_id"),
                                    {word(kind)}));
    std::vector<Portal> out;
    for (std::size_t i = 0; i < r.size(); ++i) {
        out.push_back(portal_at(r, i));
    }
    return out;
}

Result<std::vector<Portal>> PgPortals::list_page(PortalKind kind, TeamsThreadId const& after, std::size_t limit) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec(sql("SELECT ", k_portal_columns,
                                        " FROM msteams_portals WHERE kind = $1 AND teams_thread_id > $2 "
                                        "ORDER BY teams_thread_id LIMIT $3"),
                                    {word(kind), after, std::to_string(limit)}));
    std::vector<Portal> out;
    for (std::size_t i = 0; i < r.size(); ++i) {
        out.push_back(portal_at(r, i));
    }
    return out;
}

Result<std::int64_t> PgPortals::newest_chat_cursor() {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT COALESCE(max(cursor_ms), 0) AS n FROM msteams_portals WHERE kind = $1",
                                    {word(PortalKind::chat)}));
    return r.integer(0, "n");
}

Status PgPortals::advance_cursor(Tx& tx, TeamsThreadId const& teams_thread_id, std::int64_t cursor_ms) {
    MSTEAMS_TRY(tx.exec("UPDATE msteams_portals SET cursor_ms = $2 WHERE teams_thread_id = $1 AND cursor_ms < $2",
                        {teams_thread_id, num(cursor_ms)}));
    return {};
}

Status PgPortals::mark_heard(Tx& tx, TeamsThreadId const& teams_thread_id, std::int64_t at_ms) {
    MSTEAMS_TRY(tx.exec("UPDATE msteams_portals SET heard_at = $2 WHERE teams_thread_id = $1 AND heard_at < $2",
                        {teams_thread_id, num(at_ms)}));
    return {};
}

Result<std::int64_t> PgPortals::version(Tx& tx, TeamsThreadId const& teams_thread_id) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, tx.exec("SELECT version FROM msteams_portals WHERE teams_thread_id = $1", {teams_thread_id}));
    return r.empty() ? 0 : r.integer(0, "version");
}

Status PgPortals::begin_write(TeamsThreadId const& teams_thread_id, std::int64_t until_ms) {
    MSTEAMS_TRY(
        db_->exec("UPDATE msteams_portals SET version = version + 1, writing_until = $2 "
                  "WHERE teams_thread_id = $1",
                  {teams_thread_id, num(until_ms)}));
    return {};
}

Status PgPortals::renew_write(TeamsThreadId const& teams_thread_id, std::int64_t until_ms) {
    MSTEAMS_TRY(
        db_->exec("UPDATE msteams_portals SET writing_until = $2 WHERE teams_thread_id = $1 AND writing_until > 0",
                  {teams_thread_id, num(until_ms)}));
    return {};
}

Status PgPortals::end_write(Tx& tx, TeamsThreadId const& teams_thread_id) {
    MSTEAMS_TRY(
        tx.exec("UPDATE msteams_portals SET version = version + 1, writing_until = 0 WHERE teams_thread_id = $1",
                {teams_thread_id}));
    return {};
}

Result<bool> PgPortals::unchanged(Tx& tx, TeamsThreadId const& teams_thread_id, std::int64_t version,
                                  std::int64_t now_ms) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(
        r, tx.exec("SELECT version, writing_until FROM msteams_portals WHERE teams_thread_id = $1", {teams_thread_id}));
    if (r.empty()) {
        return version == 0;
    }
    return r.integer(0, "version") == version && r.integer(0, "writing_until") <= now_ms;
}

std::shared_ptr<Portals> postgres_portals(std::shared_ptr<Database> db) {
    return std::make_shared<PgPortals>(std::move(db));
}

}  // namespace msteams::store
