#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <string>

#include "common/result.hpp"
#include "crypto/crypto.hpp"
#include "graph/entra.hpp"
#include "mm/api.hpp"
#include "store/accounts.hpp"
#include "store/roster.hpp"
#include "sync/admission.hpp"

// Logins: connected users' delegated Teams tokens. Starting and finishing the OAuth flow, refreshing tokens, and
// telling users when their connection is lost.
namespace msteams::sync {

enum class Purpose { user, bot };

struct LoginSettings {
    std::string site_url;
    std::string plugin_id;
    MmUserId bot_user_id;
    int connected_users_allowed = 1000;
};

struct Connected {
    MmUserId mm_user_id;
    TeamsUserId teams_user_id;
    std::string teams_display_name;
    std::string teams_email;
    Purpose purpose = Purpose::user;
};

inline constexpr std::int64_t k_state_lifetime_ms = 5 * 60 * 1000;
// Refresh a delegated token this long before it expires.
inline constexpr std::int64_t k_refresh_margin_ms = 2 * 60 * 1000;

// A delegated token as msteams_accounts.token_sealed holds it: {"a": access, "r": refresh, "e": expiry in Unix ms} as
// JSON, sealed with the Mattermost user's id as context.
[[nodiscard]] std::string seal_token(crypto::Sealer const& sealer, graph::Token const& token,
                                     MmUserId const& mm_user_id);

// What the pipelines need of users' Teams connections: Logins, or a fake in unit tests.
class Connections {
public:
    virtual ~Connections() = default;
    [[nodiscard]] virtual Result<std::optional<store::Account>> account(MmUserId const& mm_user_id) = 0;
    // Connected Mattermost users, most recently connected first (at most `limit`).
    [[nodiscard]] virtual Result<std::vector<MmUserId>> connected_users(std::size_t limit) = 0;
    // A delegated access token for the user; permission_denied when the user is not (or no longer) connected.
    [[nodiscard]] virtual Result<std::string> access_token(MmUserId const& mm_user_id) = 0;
};

class Logins final : public Connections {
public:
    Logins(LoginSettings settings, std::shared_ptr<mm::Api> api, std::shared_ptr<store::Accounts> accounts,
           std::shared_ptr<store::OAuthStates> states, std::shared_ptr<graph::SignIn> entra,
           std::shared_ptr<crypto::Sealer const> sealer);

    // Rollout controls (who may connect), the connected-users report's health and activity, and who to tell when a
    // user's connection changes (cached decisions about them). Set before the logins are used; each may be null.
    void set_rollout(std::shared_ptr<Admission> admission, std::shared_ptr<store::Roster> roster,
                     std::function<void(MmUserId const&)> changed);
    // nullopt when the user may connect (or no rule restricts it); otherwise what to tell them.
    [[nodiscard]] Result<std::optional<std::string>> refusal(MmUserId const& mm_user_id);

    [[nodiscard]] std::string redirect_uri() const;
    [[nodiscard]] std::string connect_url() const;  // <SiteURL>/plugins/<id>/connect

    // Starts a flow for `mm_user_id` (for Purpose::bot, the admin connecting the bot): returns the Entra URL to
    // send the browser to. Refused when the user is connected already or the limit is reached.
    [[nodiscard]] Result<std::string> begin(MmUserId const& mm_user_id, Purpose purpose);

    // Finishes a flow on the redirect: `session_user_id` is who the browser is logged in as. Verifies the state
    // (exists, unused, unexpired, bound to this user), redeems the code with the PKCE verifier, reads /me, applies
    // the same-email rule and the one-to-one rule, stores the sealed token, and tells the webapp.
    [[nodiscard]] Result<Connected> finish(std::string const& state, std::string const& code,
                                           MmUserId const& session_user_id);

    // Spends a flow's state without completing it (Microsoft redirected back with an error).
    // Only the user who started the flow can: in anyone else's session it is permission_denied and the state stays.
    [[nodiscard]] Status abandon(std::string const& state, MmUserId const& session_user_id);

    [[nodiscard]] Status disconnect(MmUserId const& mm_user_id);
    [[nodiscard]] Result<std::optional<store::Account>> account(MmUserId const& mm_user_id) override;
    [[nodiscard]] Result<int> count_connected();
    [[nodiscard]] Result<std::vector<MmUserId>> connected_users(std::size_t limit) override;
    [[nodiscard]] int limit() const noexcept { return settings_.connected_users_allowed; }
    [[nodiscard]] MmUserId const& bot_user_id() const noexcept { return settings_.bot_user_id; }

    // A delegated access token for the user, refreshed when close to expiry (the rotated refresh token is saved).
    // A refused refresh or a token that can no longer be opened disconnects the user and sends them a direct
    // message from the bot with a link to connect again; the error is permission_denied.
    [[nodiscard]] Result<std::string> access_token(MmUserId const& mm_user_id) override;

    // Reads the user's Teams identity with their token (refreshing it as needed).
    [[nodiscard]] Result<graph::Me> whoami(MmUserId const& mm_user_id);

private:
    [[nodiscard]] std::string seal_token(graph::Token const& token, MmUserId const& mm_user_id) const;
    void lose_connection(MmUserId const& mm_user_id, std::string const& why);
    void notify_webapp(MmUserId const& mm_user_id, bool connected, std::string const& name, std::string const& email);
    void record_health(MmUserId const& mm_user_id, store::TokenHealth health);
    // The bridge used the user's connection: their last activity, written at most once a minute per user.
    void record_activity(MmUserId const& mm_user_id);
    void changed(MmUserId const& mm_user_id) const;

    LoginSettings settings_;
    std::shared_ptr<mm::Api> api_;
    std::shared_ptr<store::Accounts> accounts_;
    std::shared_ptr<store::OAuthStates> states_;
    std::shared_ptr<graph::SignIn> entra_;
    std::shared_ptr<crypto::Sealer const> sealer_;
    std::shared_ptr<Admission> admission_{};
    std::shared_ptr<store::Roster> roster_{};
    std::function<void(MmUserId const&)> changed_{};
    std::mutex activity_mutex_;
    std::unordered_map<MmUserId, std::int64_t> active_at_{};
};

}  // namespace msteams::sync
