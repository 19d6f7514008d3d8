#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/ids.hpp"
#include "common/result.hpp"
#include "store/database.hpp"

namespace msteams::store {

// A Mattermost user's link to a Teams account (table msteams_accounts). One Teams account ↔ one Mattermost user.
struct Account {
    MmUserId mm_user_id;
    TeamsUserId teams_user_id;
    std::string teams_email;
    std::string teams_display_name;
    std::string token_sealed;          // crypto::Sealer output; "" while disconnected
    std::int64_t connected_at = 0;     // Unix ms
    std::int64_t disconnected_at = 0;  // Unix ms; 0 if never disconnected
    [[nodiscard]] bool connected() const noexcept { return !token_sealed.empty(); }
};

class Accounts {
public:
    virtual ~Accounts() = default;

    [[nodiscard]] virtual Result<std::optional<Account>> by_mm_user(MmUserId const& mm_user_id) = 0;
    [[nodiscard]] virtual Result<std::optional<Account>> by_teams_user(TeamsUserId const& teams_user_id) = 0;

    // Stores a connection, in one transaction:
    // - ErrorCode::conflict if the Teams account is connected to another Mattermost user (a disconnected mapping
    //   of another user is taken over);
    // - ErrorCode::permission_denied if the user is not connected yet and `limit` users already are.
    [[nodiscard]] virtual Status connect(Account const& account, int limit) = 0;
    // Forgets the token, keeps the mapping (history stays attributed), records the time. not_found if unknown.
    [[nodiscard]] virtual Status disconnect(MmUserId const& mm_user_id) = 0;
    // After a token refresh (the refresh token rotates).
    [[nodiscard]] virtual Status update_token(MmUserId const& mm_user_id, std::string const& token_sealed) = 0;
    [[nodiscard]] virtual Result<int> count_connected() = 0;
    // Mattermost users with a connected Teams account, most recently connected first (at most `limit`).
    [[nodiscard]] virtual Result<std::vector<MmUserId>> connected_users(std::size_t limit) = 0;
    // Which of these Teams users are connected, in one query.
    [[nodiscard]] virtual Result<std::vector<TeamsUserId>> connected_among(std::vector<TeamsUserId> const& ids) = 0;
};

// Pending OAuth flows (table msteams_oauth_states): random, single-use, bound to a user, short-lived.
struct OAuthState {
    std::string state;
    MmUserId mm_user_id;
    std::string verifier_sealed;  // the PKCE verifier, sealed with the user id as context
    std::string purpose;          // "user" or "bot"
    std::int64_t expires_at = 0;  // Unix ms
};

class OAuthStates {
public:
    virtual ~OAuthStates() = default;

    [[nodiscard]] virtual Status put(OAuthState const& state) = 0;
    // Removes the state and returns it, atomically, if `mm_user_id` started it: a second take of the same state is
    // not_found. An expired state is returned too (the caller says "expired"); a missing one is not_found. Another
    // user's state is permission_denied and stays for its owner.
    [[nodiscard]] virtual Result<OAuthState> take(std::string const& state, MmUserId const& mm_user_id) = 0;
    // Removes states that expired before `now_ms`; returns how many.
    [[nodiscard]] virtual Result<std::int64_t> purge_expired(std::int64_t now_ms) = 0;
};

// The PostgreSQL implementations.
[[nodiscard]] std::shared_ptr<Accounts> postgres_accounts(std::shared_ptr<Database> db);
[[nodiscard]] std::shared_ptr<OAuthStates> postgres_oauth_states(std::shared_ptr<Database> db);

}  // namespace msteams::store
