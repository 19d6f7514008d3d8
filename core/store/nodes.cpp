// The msteams_nodes table's SQL.
#include <memory>
#include <utility>

#include "store/detail/sql.hpp"
#include "store/repositories.hpp"

namespace msteams::store {
namespace {

using detail::num;

// The database's clock in Unix ms: every node compares heartbeats on the same clock.
constexpr std::string_view k_db_now_ms = "(extract(epoch FROM now()) * 1000)::bigint";

class PgNodes final : public Nodes {
public:
    explicit PgNodes(std::shared_ptr<Database> db) : db_(std::move(db)) {}
    [[nodiscard]] Status beat(std::string const& node_id) override;
    [[nodiscard]] Result<std::vector<NodeBeat>> silent(std::chrono::seconds ttl) override;
    [[nodiscard]] Status remove(std::string const& node_id) override;
    [[nodiscard]] Status forget(NodeBeat const& beat) override;

private:
    std::shared_ptr<Database> db_;
};

}  // namespace

Status PgNodes::beat(std::string const& node_id) {
    MSTEAMS_TRY(db_->exec(detail::sql("INSERT INTO msteams_nodes (node_id, seen_at) VALUES ($1, ", k_db_now_ms,
                                      ") ON CONFLICT (node_id) DO UPDATE SET seen_at = EXCLUDED.seen_at"),
                          {node_id}));
    return {};
}

Result<std::vector<NodeBeat>> PgNodes::silent(std::chrono::seconds ttl) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec(detail::sql("SELECT node_id, seen_at FROM msteams_nodes WHERE seen_at < ",
                                                k_db_now_ms, " - $1::bigint ORDER BY seen_at, node_id"),
                                    {num(std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count())}));
    std::vector<NodeBeat> out;
    for (std::size_t i = 0; i < r.size(); ++i) {
        out.push_back(NodeBeat{r.text(i, "node_id"), r.integer(i, "seen_at")});
    }
    return out;
}

Status PgNodes::remove(std::string const& node_id) {
    MSTEAMS_TRY(db_->exec("DELETE FROM msteams_nodes WHERE node_id = $1", {node_id}));
    return {};
}

Status PgNodes::forget(NodeBeat const& beat) {
    MSTEAMS_TRY(
        db_->exec("DELETE FROM msteams_nodes WHERE node_id = $1 AND seen_at = $2", {beat.node_id, num(beat.seen_at)}));
    return {};
}

std::shared_ptr<Nodes> postgres_nodes(std::shared_ptr<Database> db) { return std::make_shared<PgNodes>(std::move(db)); }

}  // namespace msteams::store
