#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "graph/signing_keys.hpp"

// The token a Teams tab gets from microsoftTeams.authentication.getAuthToken() (shared/docs/microsoft-graph.md §6):
// an Entra access token for the bridge's own API (Application ID URI api://<site host>/<client id>, scope
// access_as_user), v1.0 or v2.0, RS256-signed by Microsoft's published keys. The tab posts it to the plugin, which
// signs the user in to Mattermost only when SsoTokens::check finds it good.
namespace msteams::graph {

inline constexpr char const* k_sso_scope = "access_as_user";
inline constexpr std::size_t k_max_sso_token = 16u << 10;

struct SsoTokenSettings {
    std::string tenant_id;                         // the configured tenant (a GUID): the tokens' tid
    std::string client_id;                         // the app registration; a v2.0 token's aud may be it
    std::string app_id_uri;                        // api://<site host>/<client id>: the audience Teams asks for
    std::string v1_issuer_host;                    // sts.windows.net (sts.chinacloudapi.cn)
    std::string v2_issuer_host;                    // login.microsoftonline.com (.us, login.partner.microsoftonline.cn)
    std::int64_t clock_skew_ms = 5LL * 60 * 1000;  // exp and nbf tolerance
};

// Why a token was refused; each is shown to the user in plain words and counted.
enum class SsoRefusal {
    none,
    malformed,
    keys_unavailable,
    signature,
    issuer,
    tenant,
    audience,
    scope,
    expired,
    not_yet_valid,
    no_user
};
[[nodiscard]] char const* to_string(SsoRefusal r) noexcept;

// Who the token is for, when it is good.
struct SsoIdentity {
    std::string object_id;  // oid: the Entra user id
    std::string tenant_id;
    std::string name;
    std::string email;  // the `email` claim (optional in Entra)
    std::string upn;    // upn (v1.0, optional in v2.0), else preferred_username
    std::int64_t expires_at_ms = 0;
};

struct SsoCheck {
    SsoRefusal refusal = SsoRefusal::malformed;
    SsoIdentity identity;  // when refusal is none
};

class SsoTokens {
public:
    SsoTokens(std::shared_ptr<SigningKeys> keys, SsoTokenSettings settings);

    // Signature first (RS256 by a published key), then issuer (v1.0 or v2.0 of this cloud, for the token's tid),
    // tenant, audience, scope and times. Never throws on bad input.
    [[nodiscard]] SsoCheck check(std::string_view token) const;

private:
    std::shared_ptr<SigningKeys> keys_;
    SsoTokenSettings settings_;
};

}  // namespace msteams::graph
