#include "store/accounts.hpp"

#include <chrono>
#include <string>
#include <utility>

#include "common/clock.hpp"
#include "store/detail/migrations.hpp"
#include "store/detail/sql.hpp"

namespace msteams::store {
namespace {

constexpr std::string_view k_account_columns =
    "mm_user_id, teams_user_id, teams_email, teams_display_name, token_sealed, connected_at, disconnected_at";

using detail::nullable;
Param nullable(std::int64_t number) { return number == 0 ? Param() : Param(std::to_string(number)); }

Account account_at(Rows const& rows, std::size_t i) {
    Account a;
    a.mm_user_id = rows.id<MmUserId>(i, "mm_user_id");
    a.teams_user_id = rows.id<TeamsUserId>(i, "teams_user_id");
    a.teams_email = rows.text(i, "teams_email");
    a.teams_display_name = rows.text(i, "teams_display_name");
    a.token_sealed = rows.text(i, "token_sealed");
    a.connected_at = rows.integer(i, "connected_at");
    a.disconnected_at = rows.integer(i, "disconnected_at");
    return a;
}

Result<std::optional<Account>> one_account(Database& db, std::string const& column, Param const& value) {
    Rows rows;
    MSTEAMS_TRY_ASSIGN(
        rows, db.exec("SELECT " + std::string(k_account_columns) + " FROM msteams_accounts WHERE " + column + " = $1",
                      {value}));
    if (rows.empty()) {
        return std::optional<Account>();
    }
    return std::optional<Account>(account_at(rows, 0));
}

class PgAccounts final : public Accounts {
public:
    explicit PgAccounts(std::shared_ptr<Database> db) : db_(std::move(db)) {}
    [[nodiscard]] Result<std::optional<Account>> by_mm_user(MmUserId const& mm_user_id) override;
    [[nodiscard]] Result<std::optional<Account>> by_teams_user(TeamsUserId const& teams_user_id) override;
    [[nodiscard]] Status connect(Account const& account, int limit) override;
    [[nodiscard]] Status disconnect(MmUserId const& mm_user_id) override;
    [[nodiscard]] Status update_token(MmUserId const& mm_user_id, std::string const& token_sealed) override;
    [[nodiscard]] Result<int> count_connected() override;
    [[nodiscard]] Result<std::vector<MmUserId>> connected_users(std::size_t limit) override;
    [[nodiscard]] Result<std::vector<TeamsUserId>> connected_among(std::vector<TeamsUserId> const& ids) override;

private:
    std::shared_ptr<Database> db_;
};

class PgOAuthStates final : public OAuthStates {
public:
    explicit PgOAuthStates(std::shared_ptr<Database> db) : db_(std::move(db)) {}
    [[nodiscard]] Status put(OAuthState const& state) override;
    [[nodiscard]] Result<OAuthState> take(std::string const& state, MmUserId const& mm_user_id) override;
    [[nodiscard]] Result<std::int64_t> purge_expired(std::int64_t now_ms) override;

private:
    std::shared_ptr<Database> db_;
};

}  // namespace

Result<std::optional<Account>> PgAccounts::by_mm_user(MmUserId const& mm_user_id) {
    return one_account(*db_, "mm_user_id", mm_user_id);
}

Result<std::optional<Account>> PgAccounts::by_teams_user(TeamsUserId const& teams_user_id) {
    return one_account(*db_, "teams_user_id", teams_user_id);
}

Status PgAccounts::connect(Account const& account, int limit) {
    if (account.mm_user_id.empty() || account.teams_user_id.empty()) {
        return fail(ErrorCode::invalid_argument, "an account link needs both user ids");
    }
    if (account.token_sealed.empty()) {
        return fail(ErrorCode::invalid_argument, "a connected account needs a token");
    }
    return db_->transact([&](Tx& tx) -> Status {
        // Connects take turns: the limit is a count over rows, which row locks alone cannot protect (two new users
        // would each lock only their own, not-yet-existing, row). Disconnects and token updates are not held up.
        MSTEAMS_TRY(tx.exec("SELECT pg_advisory_xact_lock($1::bigint)", {std::to_string(detail::k_connect_lock_key)}));
        // Both rows that this connect may touch, locked against a concurrent disconnect or token update.
        Rows rows;
        MSTEAMS_TRY_ASSIGN(rows, tx.exec("SELECT mm_user_id, teams_user_id, token_sealed IS NOT NULL AS connected "
                                         "FROM msteams_accounts WHERE mm_user_id = $1 OR teams_user_id = $2 "
                                         "ORDER BY mm_user_id FOR UPDATE",
                                         {account.mm_user_id, account.teams_user_id}));
        bool already_connected = false;
        for (std::size_t i = 0; i < rows.size(); ++i) {
            bool const connected = rows.text(i, "connected") == "t";
            if (rows.id<MmUserId>(i, "mm_user_id") == account.mm_user_id) {
                already_connected = connected;
                continue;
            }
            // Another Mattermost user's row holding this Teams account.
            if (connected) {
                return fail(ErrorCode::conflict, "this Teams account is already connected to another Mattermost user");
            }
        }
        if (!already_connected) {
            Rows count;
            MSTEAMS_TRY_ASSIGN(count,
                               tx.exec("SELECT count(*) AS n FROM msteams_accounts WHERE token_sealed IS NOT NULL"));
            if (count.integer(0, "n") >= limit) {
                return fail(ErrorCode::permission_denied,
                            "the maximum number of connected users (" + std::to_string(limit) + ") is reached");
            }
        }
        // Take over a disconnected link of another user to the same Teams account.
        MSTEAMS_TRY(tx.exec("DELETE FROM msteams_accounts WHERE teams_user_id = $1 AND mm_user_id <> $2",
                            {account.teams_user_id, account.mm_user_id}));
        // A reconnect keeps the last disconnection time (history); a first connect records the one given, if any.
        MSTEAMS_TRY(tx.exec(
            "INSERT INTO msteams_accounts (mm_user_id, teams_user_id, teams_email, teams_display_name, token_sealed, "
            "connected_at, disconnected_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT (mm_user_id) DO UPDATE SET teams_user_id = EXCLUDED.teams_user_id, "
            "teams_email = EXCLUDED.teams_email, teams_display_name = EXCLUDED.teams_display_name, "
            "token_sealed = EXCLUDED.token_sealed, connected_at = EXCLUDED.connected_at",
            {account.mm_user_id, account.teams_user_id, nullable(account.teams_email),
             nullable(account.teams_display_name), account.token_sealed,
             std::to_string(account.connected_at != 0 ? account.connected_at : now_ms()),
             nullable(account.disconnected_at)}));
        return {};
    });
}

Status PgAccounts::disconnect(MmUserId const& mm_user_id) {
    // Disconnecting twice keeps the first time.
    Rows rows;
    MSTEAMS_TRY_ASSIGN(rows, db_->exec("UPDATE msteams_accounts SET token_sealed = NULL, disconnected_at = "
                                       "CASE WHEN token_sealed IS NULL THEN disconnected_at ELSE $2 END "
                                       "WHERE mm_user_id = $1",
                                       {mm_user_id, std::to_string(now_ms())}));
    if (rows.affected() == 0) {
        return fail(ErrorCode::not_found, "no Teams account is linked to this Mattermost user");
    }
    return {};
}

Status PgAccounts::update_token(MmUserId const& mm_user_id, std::string const& token_sealed) {
    if (token_sealed.empty()) {
        return fail(ErrorCode::invalid_argument, "an empty token cannot replace a token; disconnect instead");
    }
    // Only while connected: a refresh that finishes after a disconnect must not connect the user again.
    Rows rows;
    MSTEAMS_TRY_ASSIGN(rows, db_->exec("UPDATE msteams_accounts SET token_sealed = $2 "
                                       "WHERE mm_user_id = $1 AND token_sealed IS NOT NULL",
                                       {mm_user_id, token_sealed}));
    if (rows.affected() == 0) {
        return fail(ErrorCode::not_found, "this Mattermost user has no connected Teams account");
    }
    return {};
}

Result<int> PgAccounts::count_connected() {
    Rows rows;
    MSTEAMS_TRY_ASSIGN(rows, db_->exec("SELECT count(*) AS n FROM msteams_accounts WHERE token_sealed IS NOT NULL"));
    return static_cast<int>(rows.integer(0, "n"));
}

Result<std::vector<MmUserId>> PgAccounts::connected_users(std::size_t limit) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT mm_user_id FROM msteams_accounts WHERE token_sealed IS NOT NULL "
                                    "ORDER BY connected_at DESC LIMIT $1",
                                    {std::to_string(limit)}));
    std::vector<MmUserId> out;
    for (std::size_t i = 0; i < r.size(); ++i) {
        out.push_back(r.id<MmUserId>(i, "mm_user_id"));
    }
    return out;
}

Result<std::vector<TeamsUserId>> PgAccounts::connected_among(std::vector<TeamsUserId> const& ids) {
    if (ids.empty()) {
        return std::vector<TeamsUserId>();
    }
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT teams_user_id FROM msteams_accounts WHERE token_sealed IS NOT NULL AND "
                                    "teams_user_id = ANY($1::text[])",
                                    {detail::text_array(ids)}));
    std::vector<TeamsUserId> out;
    for (std::size_t i = 0; i < r.size(); ++i) {
        out.push_back(r.id<TeamsUserId>(i, "teams_user_id"));
    }
    return out;
}

// --- OAuthStates ------------------------------------------------------------------------------------------------

Status PgOAuthStates::put(OAuthState const& state) {
    if (state.state.empty() || state.mm_user_id.empty() || state.verifier_sealed.empty()) {
        return fail(ErrorCode::invalid_argument, "an OAuth state needs a state, a user and a verifier");
    }
    if (state.purpose != "user" && state.purpose != "bot") {
        return fail(ErrorCode::invalid_argument, "an OAuth state's purpose is \"user\" or \"bot\"");
    }
    auto inserted = db_->exec(
        "INSERT INTO msteams_oauth_states (state, mm_user_id, verifier_sealed, purpose, expires_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        {state.state, state.mm_user_id, state.verifier_sealed, state.purpose, std::to_string(state.expires_at)});
    if (!inserted) {
        return std::unexpected(inserted.error());
    }
    return {};
}

Result<OAuthState> PgOAuthStates::take(std::string const& state, MmUserId const& mm_user_id) {
    Rows rows;
    MSTEAMS_TRY_ASSIGN(rows, db_->exec("DELETE FROM msteams_oauth_states WHERE state = $1 AND mm_user_id = $2 "
                                       "RETURNING state, mm_user_id, verifier_sealed, purpose, expires_at",
                                       {state, mm_user_id}));
    if (rows.empty()) {
        Rows other;
        MSTEAMS_TRY_ASSIGN(other, db_->exec("SELECT 1 FROM msteams_oauth_states WHERE state = $1", {state}));
        if (!other.empty()) {
            return fail(ErrorCode::permission_denied, "the OAuth state belongs to another user");
        }
        return fail(ErrorCode::not_found, "unknown or already used OAuth state");
    }
    OAuthState out;
    out.state = rows.text(0, "state");
    out.mm_user_id = rows.id<MmUserId>(0, "mm_user_id");
    out.verifier_sealed = rows.text(0, "verifier_sealed");
    out.purpose = rows.text(0, "purpose");
    out.expires_at = rows.integer(0, "expires_at");
    return out;
}

Result<std::int64_t> PgOAuthStates::purge_expired(std::int64_t now_ms) {
    Rows rows;
    MSTEAMS_TRY_ASSIGN(rows,
                       db_->exec("DELETE FROM msteams_oauth_states WHERE expires_at < $1", {std::to_string(now_ms)}));
    return rows.affected();
}

std::shared_ptr<Accounts> postgres_accounts(std::shared_ptr<Database> db) {
    return std::make_shared<PgAccounts>(std::move(db));
}

std::shared_ptr<OAuthStates> postgres_oauth_states(std::shared_ptr<Database> db) {
    return std::make_shared<PgOAuthStates>(std::move(db));
}

}  // namespace msteams::store
