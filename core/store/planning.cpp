// The subscription planner's SQL: msteams_activity, msteams_planner, and the connected accounts.
#include <algorithm>
#include <charconv>
#include <memory>
#include <utility>

#include "store/detail/sql.hpp"
#include "store/repositories.hpp"

namespace msteams::store {
namespace {

using detail::num;
using detail::text_array;

double real_at(Rows const& r, std::size_t i, std::string_view column) {
    auto const text = r.text(i, column);
    double value = 0;
    if (std::from_chars(text.data(), text.data() + text.size(), value).ec != std::errc()) {
        return 0;
    }
    return value;
}

class PgPlanning final : public Planning {
public:
    explicit PgPlanning(std::shared_ptr<Database> db) : db_(std::move(db)) {}

    [[nodiscard]] Result<std::vector<ConnectedUser>> connected() override {
        Rows r;
        MSTEAMS_TRY_ASSIGN(r,
                           db_->exec("SELECT teams_user_id, connected_at FROM msteams_accounts "
                                     "WHERE token_sealed IS NOT NULL AND teams_user_id <> '' ORDER BY connected_at"));
        std::vector<ConnectedUser> out;
        out.reserve(r.size());
        for (std::size_t i = 0; i < r.size(); ++i) {
            out.push_back(ConnectedUser{r.id<TeamsUserId>(i, "teams_user_id"), r.integer(i, "connected_at")});
        }
        return out;
    }

    [[nodiscard]] Result<std::vector<ActivityRow>> activity() override {
        Rows r;
        MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT teams_user_id, activity::text AS activity, activity_at "
                                        "FROM msteams_activity"));
        std::vector<ActivityRow> out;
        out.reserve(r.size());
        for (std::size_t i = 0; i < r.size(); ++i) {
            out.push_back(ActivityRow{r.id<TeamsUserId>(i, "teams_user_id"), real_at(r, i, "activity"),
                                      r.integer(i, "activity_at")});
        }
        return out;
    }

    [[nodiscard]] Status credit(std::vector<TeamsUserId> const& users, double messages, std::int64_t now_ms,
                                std::int64_t half_life_ms) override {
        if (users.empty() || messages <= 0 || half_life_ms <= 0) {
            return {};
        }
        std::vector<std::string> ids;
        ids.reserve(users.size());
        for (auto const& u : users) {
            ids.push_back(u.str());
        }
        // Sorted, so that two workers crediting the same users lock their rows in the same order.
        std::sort(ids.begin(), ids.end());
        ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
        MSTEAMS_TRY(
            db_->exec("INSERT INTO msteams_activity (teams_user_id, activity, activity_at) "
                      "SELECT u, $2::float8, $3 FROM unnest($1::text[]) AS u ORDER BY u "
                      "ON CONFLICT (teams_user_id) DO UPDATE SET activity = msteams_activity.activity * "
                      "power(0.5, GREATEST(EXCLUDED.activity_at - msteams_activity.activity_at, 0)::float8 / $4) + "
                      "EXCLUDED.activity, activity_at = GREATEST(EXCLUDED.activity_at, msteams_activity.activity_at)",
                      {text_array(ids), std::to_string(messages), num(now_ms), num(half_life_ms)}));
        return {};
    }

    [[nodiscard]] Result<std::optional<QuotaRefusal>> refusal() override {
        Rows r;
        MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT refused_budget, refused_at FROM msteams_planner WHERE id = 1"));
        if (r.empty()) {
            return std::optional<QuotaRefusal>();
        }
        return std::optional<QuotaRefusal>(QuotaRefusal{r.integer(0, "refused_budget"), r.integer(0, "refused_at")});
    }

    [[nodiscard]] Status set_refusal(std::optional<QuotaRefusal> const& refusal) override {
        if (!refusal) {
            MSTEAMS_TRY(db_->exec("DELETE FROM msteams_planner"));
            return {};
        }
        MSTEAMS_TRY(
            db_->exec("INSERT INTO msteams_planner (id, refused_budget, refused_at) VALUES (1, $1, $2) "
                      "ON CONFLICT (id) DO UPDATE SET refused_budget = EXCLUDED.refused_budget, "
                      "refused_at = EXCLUDED.refused_at",
                      {num(refusal->budget), num(refusal->at)}));
        return {};
    }

private:
    std::shared_ptr<Database> db_;
};

}  // namespace

std::shared_ptr<Planning> postgres_planning(std::shared_ptr<Database> db) {
    return std::make_shared<PgPlanning>(std::move(db));
}

}  // namespace msteams::store
