// The user sync job's SQL: msteams_user_sync, and its columns of msteams_users (migration 013).
#include "store/user_sync.hpp"

#include <utility>

#include "store/detail/sql.hpp"
#include "store/detail/users.hpp"

namespace msteams::store {
namespace {

using detail::num;
using detail::text_array;

std::string joined(std::vector<std::string> const& items) {
    std::string out;
    for (auto const& i : items) {
        out += out.empty() ? i : "," + i;
    }
    return out;
}

// The progress as it was read: every write of it is conditional on all of it.
constexpr char const* k_same_state =
    "run = $1 AND phase = $2 AND next_link = $3 AND sweep_after = $4 AND listed = $5 AND changes = $6";

std::vector<Param> state_params(UserSyncState const& s) {
    return {num(s.run), detail::word(s.phase), s.next_link, s.sweep_after, num(s.listed), num(s.changes)};
}

}  // namespace

UserSyncStore::UserSyncStore(std::shared_ptr<Database> db) : db_(std::move(db)) {}

Result<UserSyncState> UserSyncStore::state() {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT run, phase, next_link, sweep_after, started_at, finished_at, listed, "
                                    "changes FROM msteams_user_sync WHERE id = 1"));
    UserSyncState s;
    if (r.empty()) {
        return s;
    }
    s.run = r.integer(0, "run");
    s.phase = detail::word_at(r, 0, "phase", UserSyncPhase::done);
    s.next_link = r.text(0, "next_link");
    s.sweep_after = r.id<TeamsUserId>(0, "sweep_after");
    s.started_at = r.integer(0, "started_at");
    s.finished_at = r.integer(0, "finished_at");
    s.listed = r.integer(0, "listed");
    s.changes = r.integer(0, "changes");
    return s;
}

Result<bool> UserSyncStore::start(UserSyncState const& previous, std::int64_t now_ms) {
    Rows r;
    if (previous.run == 0) {
        MSTEAMS_TRY_ASSIGN(r, db_->exec("INSERT INTO msteams_user_sync (id, run, phase, started_at) "
                                        "VALUES (1, 1, 'listing', $1) ON CONFLICT (id) DO NOTHING",
                                        {num(now_ms)}));
        return r.affected() == 1;
    }
    auto params = state_params(previous);
    params.push_back(num(now_ms));
    MSTEAMS_TRY_ASSIGN(r, db_->exec(std::string("UPDATE msteams_user_sync SET run = run + 1, phase = 'listing', "
                                                "next_link = '', sweep_after = '', started_at = $7, finished_at = 0, "
                                                "listed = 0, changes = 0 WHERE id = 1 AND ") +
                                        k_same_state,
                                    params));
    return r.affected() == 1;
}

Result<bool> UserSyncStore::advance(UserSyncState const& previous, UserSyncState const& next) {
    auto params = state_params(previous);
    for (auto& p : std::vector<Param>{detail::word(next.phase), next.next_link, next.sweep_after, num(next.finished_at),
                                      num(next.listed), num(next.changes)}) {
        params.push_back(std::move(p));
    }
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec(std::string("UPDATE msteams_user_sync SET phase = $7, next_link = $8, "
                                                "sweep_after = $9, finished_at = $10, listed = $11, changes = $12 "
                                                "WHERE id = 1 AND ") +
                                        k_same_state,
                                    params));
    return r.affected() == 1;
}

Result<std::vector<TeamsUser>> UserSyncStore::users(std::vector<TeamsUserId> const& ids) {
    std::vector<TeamsUser> out;
    if (ids.empty()) {
        return out;
    }
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT " + std::string(detail::user_columns()) +
                                        " FROM msteams_users WHERE teams_user_id = ANY($1::text[])",
                                    {text_array(ids)}));
    for (std::size_t i = 0; i < r.size(); ++i) {
        out.push_back(detail::user_at(r, i));
    }
    return out;
}

Result<std::vector<TeamsUserId>> UserSyncStore::with_account(std::vector<TeamsUserId> const& ids) {
    std::vector<TeamsUserId> out;
    if (ids.empty()) {
        return out;
    }
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT teams_user_id FROM msteams_accounts WHERE teams_user_id = ANY($1::text[])",
                                    {text_array(ids)}));
    for (std::size_t i = 0; i < r.size(); ++i) {
        out.push_back(r.id<TeamsUserId>(i, "teams_user_id"));
    }
    return out;
}

Status UserSyncStore::mark_seen(std::vector<TeamsUserId> const& ids, std::int64_t run) {
    if (ids.empty()) {
        return {};
    }
    MSTEAMS_TRY(db_->exec("UPDATE msteams_users SET seen_run = $2 WHERE teams_user_id = ANY($1::text[])",
                          {text_array(ids), num(run)}));
    return {};
}

Result<std::vector<TeamsUser>> UserSyncStore::unseen_synthetic(std::int64_t run, TeamsUserId const& after,
                                                               std::size_t limit) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT " + std::string(detail::user_columns()) +
                                        " FROM msteams_users WHERE synthetic AND deactivated_at = 0 AND seen_run < $1"
                                        " AND teams_user_id > $2 ORDER BY teams_user_id LIMIT $3",
                                    {num(run), after, std::to_string(limit)}));
    std::vector<TeamsUser> out;
    for (std::size_t i = 0; i < r.size(); ++i) {
        out.push_back(detail::user_at(r, i));
    }
    return out;
}

Status UserSyncStore::set_deactivated(TeamsUserId const& id, std::int64_t at_ms) {
    MSTEAMS_TRY(db_->exec("UPDATE msteams_users SET deactivated_at = $2 WHERE teams_user_id = $1", {id, num(at_ms)}));
    return {};
}

Status UserSyncStore::set_profile(TeamsUserId const& id, std::string const& display_name, std::string const& email,
                                  std::string const& upn) {
    MSTEAMS_TRY(db_->exec("UPDATE msteams_users SET display_name = $2, email = $3, upn = $4 WHERE teams_user_id = $1",
                          {id, display_name, email, upn}));
    return {};
}

Status UserSyncStore::set_team_ids(TeamsUserId const& id, std::vector<std::string> const& team_ids) {
    MSTEAMS_TRY(db_->exec("UPDATE msteams_users SET team_ids = $2 WHERE teams_user_id = $1", {id, joined(team_ids)}));
    return {};
}

}  // namespace msteams::store
