#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "graph/client.hpp"
#include "store/repositories.hpp"

// The daily check of the app's own credentials: the client secret's expiry, told to system admins 30, 7 and 1 days
// before (once each, across the cluster).
namespace msteams::subscriptions {

// The notice due for a secret that expires at `end_at`: the smallest of 30, 7 and 1 days that the time left has
// reached (0 once it has expired), or nullopt while more than 30 days are left.
[[nodiscard]] std::optional<int> notice_due(std::int64_t now_ms, std::int64_t end_at);

// The expiry of the configured secret among the app's secrets: the one whose hint starts the configured secret (the
// soonest if several do), or nullopt when none does.
[[nodiscard]] std::optional<std::int64_t> configured_secret_expiry(std::vector<graph::AppSecret> const& secrets,
                                                                   std::string const& client_secret);

// The application permissions of `required` that `granted` does not satisfy. An entry may name alternatives
// ("Chat.Read.All|Chat.ReadWrite.All"): any one of them satisfies it.
[[nodiscard]] std::vector<std::string> missing_permissions(std::vector<std::string> const& required,
                                                           std::vector<std::string> const& granted);

struct CredentialCheckSettings {
    std::string client_secret;               // secret: only its first three characters are compared, never logged
    std::function<std::int64_t()> clock_ms;  // tests move it; default now_ms()
    std::vector<std::string> required_permissions;  // what the configured features need (alternatives with '|')
};

using SecretReader = std::function<Result<std::vector<graph::AppSecret>>()>;
using PermissionReader = std::function<Result<std::vector<std::string>>()>;  // the app token's roles
using AdminTeller = std::function<void(std::string const& text)>;

class CredentialCheck {
public:
    CredentialCheck(CredentialCheckSettings settings, SecretReader read, PermissionReader permissions,
                    std::shared_ptr<store::Notices> notices, AdminTeller tell_admins);

    // Reads the secret's expiry and tells admins when a notice is due and not sent yet. A secret Graph does not let
    // the bridge read (no Application.Read.All) is logged once and is not an error.
    [[nodiscard]] Status run_once();

    // The configured secret's expiry as last read (Unix ms), or nullopt (not read, or not readable).
    [[nodiscard]] std::optional<std::int64_t> expiry() const;
    // The required application permissions the app's token lacked when last checked.
    [[nodiscard]] std::vector<std::string> missing() const;

private:
    [[nodiscard]] std::int64_t clock() const;

    CredentialCheckSettings settings_;
    [[nodiscard]] Status check_permissions();

    SecretReader read_;
    PermissionReader permissions_;
    std::vector<std::string> missing_;
    std::shared_ptr<store::Notices> notices_;
    AdminTeller tell_;
    mutable std::mutex mutex_;
    std::optional<std::int64_t> expiry_;
    bool told_unreadable_ = false;
};

}  // namespace msteams::subscriptions
