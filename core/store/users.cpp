// The msteams_users table's SQL.
#include <memory>
#include <utility>

#include "store/detail/sql.hpp"
#include "store/detail/users.hpp"
#include "store/repositories.hpp"

namespace msteams::store {
namespace {

using detail::num;
using detail::sql;

constexpr std::string_view k_user_columns =
    "teams_user_id, mm_user_id, synthetic, display_name, email, created_at, promoted_at, upn, deactivated_at, "
    "team_ids, seen_run";

}  // namespace

namespace detail {

std::vector<std::string> split_team_ids(std::string const& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < text.size()) {
        auto const comma = text.find(',', start);
        auto const end = comma == std::string::npos ? text.size() : comma;
        if (end > start) {
            out.push_back(text.substr(start, end - start));
        }
        start = end + 1;
    }
    return out;
}

TeamsUser user_at(Rows const& r, std::size_t i) {
    TeamsUser u{r.id<TeamsUserId>(i, "teams_user_id"),
                r.id<MmUserId>(i, "mm_user_id"),
                r.text(i, "synthetic") == "t",
                r.text(i, "display_name"),
                r.text(i, "email"),
                r.integer(i, "created_at"),
                r.integer(i, "promoted_at")};
    u.upn = r.text(i, "upn");
    u.deactivated_at = r.integer(i, "deactivated_at");
    u.team_ids = split_team_ids(r.text(i, "team_ids"));
    u.seen_run = r.integer(i, "seen_run");
    return u;
}

std::string_view user_columns() { return k_user_columns; }

}  // namespace detail

namespace {

using detail::user_at;
using detail::user_columns;

class PgUsers final : public Users {
public:
    explicit PgUsers(std::shared_ptr<Database> db) : db_(std::move(db)) {}
    [[nodiscard]] Result<std::optional<TeamsUser>> by_teams_id(TeamsUserId const& teams_user_id) override;
    [[nodiscard]] Result<std::optional<TeamsUser>> by_mm_id(MmUserId const& mm_user_id) override;
    [[nodiscard]] Result<TeamsUser> add(TeamsUser const& user) override;
    [[nodiscard]] Status mark_promoted(MmUserId const& mm_user_id, std::int64_t at) override;

private:
    std::shared_ptr<Database> db_;
};

}  // namespace

Result<std::optional<TeamsUser>> PgUsers::by_teams_id(TeamsUserId const& teams_user_id) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(
        r, db_->exec(sql("SELECT ", user_columns(), " FROM msteams_users WHERE teams_user_id = $1"), {teams_user_id}));
    return r.empty() ? std::optional<TeamsUser>() : std::optional<TeamsUser>(user_at(r, 0));
}

Result<std::optional<TeamsUser>> PgUsers::by_mm_id(MmUserId const& mm_user_id) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(
        r, db_->exec(sql("SELECT ", user_columns(), " FROM msteams_users WHERE mm_user_id = $1"), {mm_user_id}));
    return r.empty() ? std::optional<TeamsUser>() : std::optional<TeamsUser>(user_at(r, 0));
}

Result<TeamsUser> PgUsers::add(TeamsUser const& user) {
    MSTEAMS_TRY(
        db_->exec("INSERT INTO msteams_users (teams_user_id, mm_user_id, synthetic, display_name, email, "
                  "created_at, upn) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (teams_user_id) DO NOTHING",
                  {user.teams_user_id, user.mm_user_id, user.synthetic ? "true" : "false", user.display_name,
                   user.email, num(user.created_at), user.upn}));
    std::optional<TeamsUser> stored;
    MSTEAMS_TRY_ASSIGN(stored, by_teams_id(user.teams_user_id));
    if (!stored) {
        return fail(ErrorCode::internal, "a Teams user row vanished right after it was written");
    }
    return *stored;
}

Status PgUsers::mark_promoted(MmUserId const& mm_user_id, std::int64_t at) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r,
                       db_->exec("UPDATE msteams_users SET synthetic = false, promoted_at = $2 WHERE mm_user_id = $1",
                                 {mm_user_id, num(at)}));
    if (r.affected() == 0) {
        return fail(ErrorCode::not_found, "not a Teams user");
    }
    return {};
}

std::shared_ptr<Users> postgres_users(std::shared_ptr<Database> db) { return std::make_shared<PgUsers>(std::move(db)); }

}  // namespace msteams::store
