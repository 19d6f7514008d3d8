// The msteams_ schema, as numbered steps embedded in the binary. Database::migrate() applies the missing ones, each
// in its own transaction, and records them in msteams_schema_migrations. Released steps are never edited.
#include <array>

#include "store/detail/migrations.hpp"

namespace msteams::store::detail {
namespace {

// 001: account links and pending OAuth flows.
constexpr std::string_view k_001_accounts = R"sql(
CREATE TABLE msteams_accounts (
    mm_user_id          text PRIMARY KEY,
    teams_user_id       text NOT NULL UNIQUE,
    teams_email         text,
    teams_display_name  text,
    token_sealed        text,            -- NULL while disconnected
    connected_at        bigint,          -- Unix ms
    disconnected_at     bigint           -- Unix ms; NULL if never disconnected
);

-- count(*) over connected accounts (the connected-users limit) reads this small partial index only.
CREATE INDEX msteams_accounts_connected_idx ON msteams_accounts (mm_user_id) WHERE token_sealed IS NOT NULL;

CREATE TABLE msteams_oauth_states (
    state            text PRIMARY KEY,
    mm_user_id       text NOT NULL,
    verifier_sealed  text NOT NULL,
    purpose          text NOT NULL CHECK (purpose IN ('user', 'bot')),
    expires_at       bigint NOT NULL  -- Unix ms
);

CREATE INDEX msteams_oauth_states_expires_idx ON msteams_oauth_states (expires_at);
)sql";

constexpr std::array k_migrations{
    Migration{1, "001-accounts-and-oauth-states", k_001_accounts},
};

}  // namespace

std::span<Migration const> migrations() noexcept { return k_migrations; }

}  // namespace msteams::store::detail
