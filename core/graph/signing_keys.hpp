#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "http/client.hpp"

// Microsoft's identity platform signs its tokens (access tokens, Teams SSO tokens, change notifications'
// validationTokens) with keys it publishes at <login>/common/discovery/v2.0/keys and rolls over from time to time.
// One SigningKeys reads that set, keeps it, and reads it again when it is old or a token names a key it lacks.
namespace msteams::graph {

struct SigningKeySettings {
    std::string login_base;                            // https://login.microsoftonline.com
    std::int64_t keys_ttl_ms = 24LL * 60 * 60 * 1000;  // the key set is read again this often
    std::int64_t refetch_every_ms = 5LL * 60 * 1000;   // an unknown kid reads it again at most this often
    std::chrono::milliseconds fetch_timeout{2'000};
    std::function<std::int64_t()> clock_ms;  // Unix ms (tests move it by hand)
};

class SigningKeys {
public:
    SigningKeys(std::shared_ptr<http::Client> http, SigningKeySettings settings);
    ~SigningKeys();
    SigningKeys(SigningKeys const&) = delete;
    SigningKeys& operator=(SigningKeys const&) = delete;

    // Checks a compact JWT's RS256 signature against the published keys and returns its payload's JSON text (the
    // claims are the caller's to check). A kid the set lacks reads the set again, at most every refetch_every_ms.
    // Errors: unavailable (the key set could not be read, nor was one read before), not_found (no published key has
    // that kid), permission_denied (the signature is wrong), invalid_argument (not a JWT, or over 16 KiB).
    [[nodiscard]] Result<std::string> verify(std::string_view jwt);

    // Unix ms, by the settings' clock.
    [[nodiscard]] std::int64_t now() const;

private:
    struct Keys;
    [[nodiscard]] Result<std::shared_ptr<Keys const>> keys(bool refresh);

    std::shared_ptr<http::Client> http_;
    SigningKeySettings settings_;
    std::mutex mutex_;
    std::shared_ptr<Keys const> keys_;
    std::int64_t keys_read_at_ = 0;
    std::int64_t refreshed_at_ = 0;
};

}  // namespace msteams::graph
