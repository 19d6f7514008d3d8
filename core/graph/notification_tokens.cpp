#include "graph/notification_tokens.hpp"

#include <nlohmann/json.hpp>

#include <utility>

#include "common/strings.hpp"
#include "crypto/crypto.hpp"

namespace msteams::graph {

NotificationTokens::NotificationTokens(std::shared_ptr<http::Client> http, NotificationTokenSettings settings)
    : settings_(std::move(settings)),
      keys_(std::move(http), SigningKeySettings{settings_.login_base, settings_.keys_ttl_ms, settings_.refetch_every_ms,
                                                settings_.fetch_timeout, settings_.clock_ms}) {}

NotificationTokens::~NotificationTokens() = default;

std::int64_t NotificationTokens::now() const { return keys_.now(); }

TokenRefusal NotificationTokens::check_one(std::string const& token, bool& ours) {
    auto const payload = keys_.verify(token);
    if (!payload) {
        switch (payload.error().code) {
            case ErrorCode::unavailable: return TokenRefusal::keys_unavailable;
            case ErrorCode::permission_denied:
            case ErrorCode::not_found: return TokenRefusal::signature;
            default: return TokenRefusal::malformed;
        }
    }
    auto const claims = nlohmann::json::parse(*payload, nullptr, false);
    if (!claims.is_object()) {
        return TokenRefusal::malformed;
    }
    auto const text = [&](char const* name) -> std::string {
        auto const it = claims.find(name);
        return it != claims.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    auto const seconds = [&](char const* name) -> std::optional<std::int64_t> {
        auto const it = claims.find(name);
        if (it == claims.end() || !it->is_number()) {
            return std::nullopt;
        }
        return it->get<std::int64_t>();
    };
    auto const tid = text("tid");
    bool const tenant_ok = !tid.empty() && text("iss") == "https://sts.windows.net/" + tid + "/" &&
                           (!strings::is_guid(settings_.tenant_id) || strings::iequals(tid, settings_.tenant_id));
    if (!tenant_ok || text("appid") != k_notification_publisher) {
        return TokenRefusal::claims;
    }
    auto const exp = seconds("exp");
    auto const nbf = seconds("nbf");
    auto const at = now();
    if (!exp || *exp * 1000 + settings_.clock_skew_ms < at || (nbf && *nbf * 1000 - settings_.clock_skew_ms > at)) {
        return TokenRefusal::expired;
    }
    // A token for another app (a notification URL shared with it) is Graph's, but says nothing for our items.
    if (text("aud") == settings_.client_id) {
        ours = true;
        std::lock_guard held(mutex_);
        if (remembered_.size() >= k_max_remembered) {
            std::erase_if(remembered_, [&](auto const& kv) { return kv.second < at; });
            if (remembered_.size() >= k_max_remembered) {
                remembered_.clear();
            }
        }
        remembered_[crypto::sha256(token)] = *exp * 1000;
    }
    return TokenRefusal::none;
}

TokenRefusal NotificationTokens::check(std::vector<std::string> const& tokens) {
    if (tokens.empty()) {
        return TokenRefusal::missing;
    }
    bool ours = false;
    for (auto const& token : tokens) {
        if (token.size() > 16u << 10) {
            return TokenRefusal::malformed;
        }
        {
            std::lock_guard held(mutex_);
            auto const it = remembered_.find(crypto::sha256(token));
            if (it != remembered_.end() && it->second + settings_.clock_skew_ms >= now()) {
                ours = true;
                continue;
            }
        }
        if (auto const r = check_one(token, ours); r != TokenRefusal::none) {
            return r;
        }
    }
    return ours ? TokenRefusal::none : TokenRefusal::claims;
}

}  // namespace msteams::graph
