#include "graph/signing_keys.hpp"

#include <utility>

#include "common/clock.hpp"
#include "common/log.hpp"
#include "crypto/rich.hpp"

namespace msteams::graph {

struct SigningKeys::Keys {
    crypto::Jwks jwks;
};

SigningKeys::SigningKeys(std::shared_ptr<http::Client> http, SigningKeySettings settings)
    : http_(std::move(http)),
      settings_(std::move(settings)) {}

SigningKeys::~SigningKeys() = default;

std::int64_t SigningKeys::now() const { return settings_.clock_ms ? settings_.clock_ms() : now_ms(); }

Result<std::shared_ptr<SigningKeys::Keys const>> SigningKeys::keys(bool refresh) {
    std::lock_guard held(mutex_);
    auto const at = now();
    bool const stale = !keys_ || at - keys_read_at_ >= settings_.keys_ttl_ms;
    bool const may_refresh = refresh && at - refreshed_at_ >= settings_.refetch_every_ms;
    if (!stale && !may_refresh) {
        return keys_;
    }
    // A failed read counts too: a flood of tokens with made-up kids costs one request per period, not one each.
    refreshed_at_ = at;
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
        return fail(ErrorCode::unavailable, "Microsoft's signing keys could not be used");
    }
    auto fresh = std::make_shared<Keys>();
    fresh->jwks = std::move(*jwks);
    keys_ = std::move(fresh);
    keys_read_at_ = at;
    return keys_;
}

Result<std::string> SigningKeys::verify(std::string_view jwt) {
    if (jwt.size() > 16u << 10) {
        return fail(ErrorCode::invalid_argument, "the token is over 16 KiB");
    }
    auto keys_now = keys(false);
    if (!keys_now) {
        return std::unexpected(keys_now.error());
    }
    auto payload = crypto::verify_rs256_jwt(jwt, (*keys_now)->jwks);
    if (!payload && payload.error().code == ErrorCode::not_found) {
        // Microsoft rolls its keys: a kid the set does not have yet reads it again (at most every few minutes).
        keys_now = keys(true);
        if (!keys_now) {
            return std::unexpected(keys_now.error());
        }
        payload = crypto::verify_rs256_jwt(jwt, (*keys_now)->jwks);
    }
    return payload;
}

}  // namespace msteams::graph
