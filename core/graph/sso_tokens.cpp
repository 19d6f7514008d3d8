#include "graph/sso_tokens.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <utility>

#include "common/strings.hpp"

namespace msteams::graph {

char const* to_string(SsoRefusal r) noexcept {
    switch (r) {
        case SsoRefusal::none: return "none";
        case SsoRefusal::malformed: return "malformed";
        case SsoRefusal::keys_unavailable: return "keys_unavailable";
        case SsoRefusal::signature: return "signature";
        case SsoRefusal::issuer: return "issuer";
        case SsoRefusal::tenant: return "tenant";
        case SsoRefusal::audience: return "audience";
        case SsoRefusal::scope: return "scope";
        case SsoRefusal::expired: return "expired";
        case SsoRefusal::not_yet_valid: return "not_yet_valid";
        case SsoRefusal::no_user: return "no_user";
    }
    return "?";
}

SsoTokens::SsoTokens(std::shared_ptr<SigningKeys> keys, SsoTokenSettings settings)
    : keys_(std::move(keys)),
      settings_(std::move(settings)) {}

namespace {

std::string text(nlohmann::json const& claims, char const* name) {
    auto const it = claims.find(name);
    return it != claims.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::optional<std::int64_t> seconds(nlohmann::json const& claims, char const* name) {
    auto const it = claims.find(name);
    if (it == claims.end() || !it->is_number()) {
        return std::nullopt;
    }
    return it->get<std::int64_t>();
}

// scp is space-separated.
bool has_scope(std::string const& scp, std::string_view wanted) {
    for (auto const& s : strings::split(scp, ' ')) {
        if (s == wanted) {
            return true;
        }
    }
    return false;
}

}  // namespace

SsoCheck SsoTokens::check(std::string_view token) const {
    SsoCheck out;
    if (token.empty() || token.size() > k_max_sso_token) {
        return out;
    }
    auto const payload = keys_->verify(token);
    if (!payload) {
        switch (payload.error().code) {
            case ErrorCode::unavailable: out.refusal = SsoRefusal::keys_unavailable; break;
            case ErrorCode::not_found:
            case ErrorCode::permission_denied: out.refusal = SsoRefusal::signature; break;
            default: out.refusal = SsoRefusal::malformed; break;
        }
        return out;
    }
    auto const claims = nlohmann::json::parse(*payload, nullptr, false);
    if (!claims.is_object()) {
        return out;
    }
    auto const tid = text(claims, "tid");
    auto const iss = text(claims, "iss");
    if (tid.empty() || (iss != "https://" + settings_.v2_issuer_host + "/" + tid + "/v2.0" &&
                        iss != "https://" + settings_.v1_issuer_host + "/" + tid + "/")) {
        out.refusal = SsoRefusal::issuer;
        return out;
    }
    if (!strings::iequals(tid, settings_.tenant_id)) {
        out.refusal = SsoRefusal::tenant;
        return out;
    }
    // Teams asks for the Application ID URI; a v2.0 token for the API may carry the client id instead.
    auto const aud = text(claims, "aud");
    if (aud != settings_.app_id_uri && !strings::iequals(aud, settings_.client_id)) {
        out.refusal = SsoRefusal::audience;
        return out;
    }
    if (!has_scope(text(claims, "scp"), k_sso_scope)) {
        out.refusal = SsoRefusal::scope;
        return out;
    }
    auto const exp = seconds(claims, "exp");
    auto const nbf = seconds(claims, "nbf");
    auto const at = keys_->now();
    if (!exp || *exp * 1000 + settings_.clock_skew_ms < at) {
        out.refusal = SsoRefusal::expired;
        return out;
    }
    if (nbf && *nbf * 1000 - settings_.clock_skew_ms > at) {
        out.refusal = SsoRefusal::not_yet_valid;
        return out;
    }
    auto& id = out.identity;
    id.object_id = text(claims, "oid");
    id.tenant_id = tid;
    id.name = text(claims, "name");
    id.email = text(claims, "email");
    id.upn = text(claims, "upn");
    if (id.upn.empty()) {
        id.upn = text(claims, "preferred_username");
    }
    id.expires_at_ms = *exp * 1000;
    out.refusal = id.object_id.empty() || (id.email.empty() && id.upn.empty()) ? SsoRefusal::no_user : SsoRefusal::none;
    return out;
}

}  // namespace msteams::graph
