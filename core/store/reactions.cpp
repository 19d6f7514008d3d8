// The msteams_reactions table's SQL.
#include <memory>
#include <utility>

#include "store/detail/sql.hpp"
#include "store/repositories.hpp"

namespace msteams::store {
namespace {

class PgReactions final : public Reactions {
public:
    [[nodiscard]] Result<std::vector<ReactionLink>> list(Tx& tx, MmPostId const& mm_post_id) override;
    [[nodiscard]] Status add(Tx& tx, ReactionLink const& r) override;
    [[nodiscard]] Status remove(Tx& tx, ReactionLink const& r) override;
};

}  // namespace

Result<std::vector<ReactionLink>> PgReactions::list(Tx& tx, MmPostId const& mm_post_id) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, tx.exec("SELECT mm_post_id, mm_user_id, emoji_name, teams_user_id, reaction_type "
                                  "FROM msteams_reactions WHERE mm_post_id = $1 ORDER BY mm_user_id, emoji_name",
                                  {mm_post_id}));
    std::vector<ReactionLink> out;
    for (std::size_t i = 0; i < r.size(); ++i) {
        out.push_back(ReactionLink{r.id<MmPostId>(i, "mm_post_id"), r.id<MmUserId>(i, "mm_user_id"),
                                   r.text(i, "emoji_name"), r.id<TeamsUserId>(i, "teams_user_id"),
                                   r.text(i, "reaction_type")});
    }
    return out;
}

Status PgReactions::add(Tx& tx, ReactionLink const& r) {
    MSTEAMS_TRY(
        tx.exec("INSERT INTO msteams_reactions (mm_post_id, mm_user_id, emoji_name, teams_user_id, "
                "reaction_type) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                {r.mm_post_id, r.mm_user_id, r.emoji_name, r.teams_user_id, r.reaction_type}));
    return {};
}

Status PgReactions::remove(Tx& tx, ReactionLink const& r) {
    MSTEAMS_TRY(tx.exec("DELETE FROM msteams_reactions WHERE mm_post_id = $1 AND mm_user_id = $2 AND emoji_name = $3",
                        {r.mm_post_id, r.mm_user_id, r.emoji_name}));
    return {};
}

std::shared_ptr<Reactions> postgres_reactions() { return std::make_shared<PgReactions>(); }

}  // namespace msteams::store
