#include "store/profiles.hpp"

namespace msteams::store {
namespace {

constexpr std::string_view k_columns = "teams_user_id, mm_user_id, photo_checked_at, photo_digest";

std::vector<SyntheticProfile> profiles_in(Rows const& r) {
    std::vector<SyntheticProfile> out;
    out.reserve(r.size());
    for (std::size_t i = 0; i < r.size(); ++i) {
        out.push_back(SyntheticProfile{r.id<TeamsUserId>(i, "teams_user_id"), r.id<MmUserId>(i, "mm_user_id"),
                                       r.integer(i, "photo_checked_at"), r.text(i, "photo_digest")});
    }
    return out;
}

}  // namespace

Profiles::Profiles(std::shared_ptr<Database> db) : db_(std::move(db)) {}

Result<std::vector<SyntheticProfile>> Profiles::synthetic_after(TeamsUserId const& after, std::size_t limit) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r,
                       db_->exec("SELECT " + std::string(k_columns) +
                                     " FROM msteams_users WHERE synthetic AND deactivated_at = 0 AND teams_user_id > $1"
                                     " ORDER BY teams_user_id LIMIT $2",
                                 {after, std::to_string(limit)}));
    return profiles_in(r);
}

Result<std::vector<SyntheticProfile>> Profiles::photos_due(std::int64_t before, std::size_t limit) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(
        r, db_->exec("SELECT " + std::string(k_columns) +
                         " FROM msteams_users"
                         " WHERE synthetic AND deactivated_at = 0 AND (photo_checked_at = 0 OR photo_checked_at < $1)"
                         " ORDER BY photo_checked_at, teams_user_id LIMIT $2",
                     {std::to_string(before), std::to_string(limit)}));
    return profiles_in(r);
}

Status Profiles::photo_checked(TeamsUserId const& teams_user_id, std::int64_t at, std::string const& digest) {
    MSTEAMS_TRY(db_->exec("UPDATE msteams_users SET photo_checked_at = $2, photo_digest = $3 WHERE teams_user_id = $1",
                          {teams_user_id, std::to_string(at), digest}));
    return {};
}

}  // namespace msteams::store
