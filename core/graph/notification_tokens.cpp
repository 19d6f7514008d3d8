#include "graph/notification_tokens.hpp"

#include <nlohmann/json.hpp>

#include <utility>

#include "common/clock.hpp"
#include "common/log.hpp"
#include "common/strings.hpp"
#include "crypto/crypto.hpp"
#include "crypto/rich.hpp"

namespace msteams::graph {

struct NotificationTokens::Keys {
    crypto::Jwks jwks;
};

NotificationTokens::NotificationTokens(std::shared_ptr<http::Client> http, NotificationTokenSettings settings)
    : http_(std::move(http)),
      settings_(std::move(settings)) {}

NotificationTokens::~NotificationTokens() = default;

std::int64_t NotificationTokens::now() const { return settings_.clock_ms ? settings_.clock_ms() : now_ms(); }

Result<std::shared_ptr<NotificationTokens::Keys const>> NotificationTokens::keys(bool refresh) {
    std::lock_guard held(mutex_);
    auto const at = now();
    bool const stale = !keys_ || at - keys_read_at_ >= settings_.keys_ttl_ms;
    bool const may_refresh = refresh && at - keys_read_at_ >= settings_.refetch_every_ms;
    if (!stale && !may_refresh) {
        return keys_;
    }
    http::Request req;
    req.url = settings_.login_base + "/common/discovery/v2.0/keys";
    req.timeout = settings_.fetch_timeout;
    req.max_response_body = 64u << 10;
    auto res = http_->send(std::move(req));
    if (!res || res->status != 200) {
        log::warn("could not read Microsoft's signing keys",
                  {{"error", res ? "HTTP " + std::to_string(res->status) : res.error().message}});
        if (keys_) {
            return keys_;  // the old set still checks the tokens it knows
        }
        return fail(ErrorCode::unavailable, "Microsoft's signing keys could not be read");
    }
    auto jwks = crypto::Jwks::parse(res->body);
    if (!jwks) {
        log::warn("Microsoft's signing keys could not be used", {{"error", jwks.error().message}});
        if (keys_) {
            return keys_;
        }
        return std::unexpected(jwks.error());
    }
    auto fresh = std::make_shared<Keys>();
    fresh->jwks = std::move(*jwks);
    keys_ = std::move(fresh);
    keys_read_at_ = at;
    return keys_;
}

TokenRefusal NotificationTokens::check_one(std::string const& token, bool& ours) {
    auto keys_now = keys(false);
    if (!keys_now) {
        return TokenRefusal::keys_unavailable;
    }
    auto payload = crypto::verify_rs256_jwt(token, (*keys_now)->jwks);
    if (!payload && payload.error().code == ErrorCode::not_found) {
        // Microsoft rolls its keys: a kid the set does not have yet reads it again (at most every few minutes).
        keys_now = keys(true);
        if (!keys_now) {
            return TokenRefusal::keys_unavailable;
        }
        payload = crypto::verify_rs256_jwt(token, (*keys_now)->jwks);
    }
    if (!payload) {
        return payload.error().code == ErrorCode::permission_denied || payload.error().code == ErrorCode::not_found
                   ? TokenRefusal::signature
                   : TokenRefusal::malformed;
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
