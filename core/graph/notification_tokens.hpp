#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "graph/signing_keys.hpp"
#include "http/client.hpp"

// The validationTokens of a rich notification batch (shared/docs/microsoft-graph.md §3.3): RS256 JWTs signed by
// Microsoft's identity keys, published at <login>/common/discovery/v2.0/keys. Before any item of a rich batch is
// trusted, every token of the batch must be signed by one of those keys, from Graph's change-notification publisher,
// for this app and tenant, and current.
namespace msteams::graph {

// The app id Graph's change notifications are published by (the tokens' `appid`).
inline constexpr char const* k_notification_publisher = "0bf30f3b-4a52-48df-9a82-234910c4a086";

struct NotificationTokenSettings {
    std::string login_base;  // https://login.microsoftonline.com
    std::string client_id;   // the tokens' audience
    std::string tenant_id;   // a GUID: the tokens' tid and issuer; a domain name: only the issuer's shape is checked
    std::int64_t keys_ttl_ms = 24LL * 60 * 60 * 1000;  // the key set is read again this often
    std::int64_t refetch_every_ms = 5LL * 60 * 1000;   // an unknown kid reads it again at most this often
    std::int64_t clock_skew_ms = 5LL * 60 * 1000;      // exp and nbf tolerance
    std::chrono::milliseconds fetch_timeout{2'000};    // the webhook's answer waits on it: Graph gives 3 s
    std::function<std::int64_t()> clock_ms;            // Unix ms (tests move it by hand)
};

// Why a batch's tokens were refused (counted by the receiver).
enum class TokenRefusal { none, missing, malformed, signature, claims, expired, keys_unavailable };
[[nodiscard]] constexpr char const* to_string(TokenRefusal r) noexcept {
    switch (r) {
        case TokenRefusal::none: return "none";
        case TokenRefusal::missing: return "missing";
        case TokenRefusal::malformed: return "malformed";
        case TokenRefusal::signature: return "signature";
        case TokenRefusal::claims: return "claims";
        case TokenRefusal::expired: return "expired";
        case TokenRefusal::keys_unavailable: return "keys_unavailable";
    }
    return "?";
}
// What checks a batch's tokens (NotificationTokens::check, or a test's).
using TokenCheck = std::function<TokenRefusal(std::vector<std::string> const& tokens)>;

class NotificationTokens {
public:
    NotificationTokens(std::shared_ptr<http::Client> http, NotificationTokenSettings settings);
    ~NotificationTokens();

    // none when every token checks out and at least one is for this app; else why not. keys_unavailable when the
    // key set could not be read (the caller answers Graph 503 so that it retries).
    [[nodiscard]] TokenRefusal check(std::vector<std::string> const& tokens);

    // Tokens that checked out are remembered until they expire (Graph sends the same ones again and again): a batch
    // costs a signature check only when its tokens are new. At most this many are remembered.
    static constexpr std::size_t k_max_remembered = 1024;

private:
    [[nodiscard]] TokenRefusal check_one(std::string const& token, bool& ours);
    [[nodiscard]] std::int64_t now() const;

    NotificationTokenSettings settings_;
    SigningKeys keys_;
    std::mutex mutex_;
    std::map<std::string, std::int64_t> remembered_;  // token → its exp (Unix ms)
};

}  // namespace msteams::graph
