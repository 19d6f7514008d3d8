#include "store/roster.hpp"

#include <utility>

#include "store/detail/sql.hpp"

namespace msteams::store {
namespace {

using detail::num;
using detail::word;
using detail::word_at;

class PgRoster final : public Roster {
public:
    explicit PgRoster(std::shared_ptr<Database> db) : db_(std::move(db)) {}

    Result<std::vector<UserChoice>> choices(std::vector<MmUserId> const& mm_user_ids) override {
        std::vector<UserChoice> out;
        if (mm_user_ids.empty()) {
            return out;
        }
        Rows r;
        MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT mm_user_id, primary_platform, notifications, updated_at "
                                        "FROM msteams_user_choices WHERE mm_user_id = ANY($1::text[])",
                                        {detail::text_array(mm_user_ids)}));
        for (std::size_t i = 0; i < r.size(); ++i) {
            out.push_back(UserChoice{r.id<MmUserId>(i, "mm_user_id"),
                                     word_at(r, i, "primary_platform", Platform::mattermost),
                                     r.text(i, "notifications") == "t", r.integer(i, "updated_at")});
        }
        return out;
    }

    Status set_primary(MmUserId const& mm_user_id, Platform primary, std::int64_t now_ms) override {
        MSTEAMS_TRY(
            db_->exec("INSERT INTO msteams_user_choices (mm_user_id, primary_platform, updated_at) "
                      "VALUES ($1, $2, $3) ON CONFLICT (mm_user_id) DO UPDATE SET "
                      "primary_platform = EXCLUDED.primary_platform, updated_at = EXCLUDED.updated_at",
                      {mm_user_id, word(primary), num(now_ms)}));
        return {};
    }

    Status set_notifications(MmUserId const& mm_user_id, bool on, std::int64_t now_ms) override {
        MSTEAMS_TRY(
            db_->exec("INSERT INTO msteams_user_choices (mm_user_id, notifications, updated_at) "
                      "VALUES ($1, $2, $3) ON CONFLICT (mm_user_id) DO UPDATE SET "
                      "notifications = EXCLUDED.notifications, updated_at = EXCLUDED.updated_at",
                      {mm_user_id, on ? "true" : "false", num(now_ms)}));
        return {};
    }

    Result<InviteOutcome> invite(MmUserId const& mm_user_id, MmUserId const& by, std::int64_t pool_size,
                                 std::int64_t now_ms) override {
        InviteOutcome outcome = InviteOutcome::invited;
        auto const done = db_->transact([&](Tx& tx) -> Status {
            // Invites take turns: the pool is a count over rows, which row locks cannot protect.
            MSTEAMS_TRY(tx.exec("LOCK TABLE msteams_invites IN SHARE ROW EXCLUSIVE MODE"));
            Rows r;
            MSTEAMS_TRY_ASSIGN(r, tx.exec("SELECT count(*) AS n, count(*) FILTER (WHERE mm_user_id = $1) AS mine "
                                          "FROM msteams_invites",
                                          {mm_user_id}));
            if (r.integer(0, "mine") > 0) {
                outcome = InviteOutcome::already_invited;
                return {};
            }
            if (r.integer(0, "n") >= pool_size) {
                outcome = InviteOutcome::pool_full;
                return {};
            }
            MSTEAMS_TRY(tx.exec("INSERT INTO msteams_invites (mm_user_id, invited_by, invited_at) VALUES ($1, $2, $3)",
                                {mm_user_id, by, num(now_ms)}));
            outcome = InviteOutcome::invited;
            return {};
        });
        if (!done) {
            return std::unexpected(done.error());
        }
        return outcome;
    }

    Result<bool> uninvite(MmUserId const& mm_user_id) override {
        Rows r;
        MSTEAMS_TRY_ASSIGN(r, db_->exec("DELETE FROM msteams_invites WHERE mm_user_id = $1", {mm_user_id}));
        return r.affected() > 0;
    }

    Result<bool> invited(MmUserId const& mm_user_id) override {
        Rows r;
        MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT 1 FROM msteams_invites WHERE mm_user_id = $1", {mm_user_id}));
        return !r.empty();
    }

    Result<std::int64_t> invite_count() override {
        Rows r;
        MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT count(*) AS n FROM msteams_invites"));
        return r.integer(0, "n");
    }

    Status touch(MmUserId const& mm_user_id, std::int64_t at_ms, std::int64_t min_gap_ms) override {
        MSTEAMS_TRY(
            db_->exec("UPDATE msteams_accounts SET last_active_at = $2 WHERE mm_user_id = $1 AND "
                      "(last_active_at IS NULL OR last_active_at < $3)",
                      {mm_user_id, num(at_ms), num(at_ms - min_gap_ms)}));
        return {};
    }

    Status set_health(MmUserId const& mm_user_id, TokenHealth health) override {
        MSTEAMS_TRY(db_->exec("UPDATE msteams_accounts SET token_health = $2 WHERE mm_user_id = $1",
                              {mm_user_id, word(health)}));
        return {};
    }

    Result<std::vector<ReportRow>> report_page(MmUserId const& after, std::size_t limit) override {
        Rows r;
        MSTEAMS_TRY_ASSIGN(
            r, db_->exec("SELECT mm_user_id, teams_user_id, teams_email, teams_display_name, connected_at, "
                         "last_active_at, token_sealed IS NOT NULL AS connected, token_health "
                         "FROM msteams_accounts WHERE (token_sealed IS NOT NULL OR token_health = 'needs_reconnect') "
                         "AND mm_user_id > $1 ORDER BY mm_user_id LIMIT $2",
                         {after.str(), num(static_cast<std::int64_t>(limit))}));
        std::vector<ReportRow> out;
        out.reserve(r.size());
        for (std::size_t i = 0; i < r.size(); ++i) {
            ReportRow row;
            row.mm_user_id = r.id<MmUserId>(i, "mm_user_id");
            row.teams_user_id = r.id<TeamsUserId>(i, "teams_user_id");
            row.teams_email = r.text(i, "teams_email");
            row.teams_display_name = r.text(i, "teams_display_name");
            row.connected_at = r.integer(i, "connected_at");
            row.last_active_at = r.integer(i, "last_active_at");
            row.connected = r.text(i, "connected") == "t";
            // A connection with no recorded health (made before the report existed) is working until shown otherwise.
            row.health =
                r.text(i, "token_health").empty() ? TokenHealth::ok : word_at(r, i, "token_health", TokenHealth::ok);
            if (!row.connected) {
                row.health = TokenHealth::needs_reconnect;
            }
            out.push_back(std::move(row));
        }
        return out;
    }

private:
    std::shared_ptr<Database> db_;
};

}  // namespace

std::shared_ptr<Roster> postgres_roster(std::shared_ptr<Database> db) {
    return std::make_shared<PgRoster>(std::move(db));
}

}  // namespace msteams::store
