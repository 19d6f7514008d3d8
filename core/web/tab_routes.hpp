#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mm/api.hpp"
#include "web/router.hpp"

// The Teams tab (the personal tab of the bridge's Teams app): GET /tab is the page Teams frames; its script (the
// bundle's public/tab.js, with Microsoft's Teams JavaScript client library) asks Teams for an SSO token and posts it
// to POST /tab/sso,
// which checks it, finds the Mattermost user and signs them in with cookies that work inside Teams' frame.
namespace msteams::web {

// What an SSO token proved. web may not use graph: the app adapts graph::SsoTokens to this.
struct SsoResult {
    bool ok = false;
    std::string reason;   // a short id when refused: "expired", "tenant", "audience", … (logged and counted)
    std::string message;  // what the user reads when refused
    int status = 401;     // the HTTP status of a refusal (503 when Microsoft's keys could not be read)
    std::string object_id;
    std::string email;
    std::string upn;
};

struct TabSettings {
    std::function<SsoResult(std::string_view token)> check;
    std::string frame_ancestors;  // CSP sources of the configured cloud's Teams hosts
};

struct TabDeps {
    std::function<std::optional<TabSettings>()> settings;  // nullopt while the plugin is not active
    std::shared_ptr<mm::Api> api;
    std::function<void(std::string_view outcome)> count;  // "signed_in" or a refusal's reason
    std::function<std::int64_t()> clock_ms;               // Unix ms (tests move it)
};

// POST /tab/sso must carry `X-Requested-With: XMLHttpRequest` (as Mattermost's own client does).
inline constexpr std::size_t k_max_tab_sso_body = 20u << 10;  // {"token": "..."}: tokens are at most 16 KiB
// Refused sign-ins one client may make a minute before it is told to wait.
inline constexpr int k_tab_failures_per_minute = 10;

void install_tab_routes(Router& router, TabDeps deps);

// The Set-Cookie values for a Mattermost session inside Teams' frame: MMAUTHTOKEN (HttpOnly), MMUSERID and MMCSRF
// (read by Mattermost's web client), and MMEMBED=1 (Mattermost's own logins in this browser then make embeddable
// cookies too); all `SameSite=None; Secure; Partitioned`, expiring with the session.
[[nodiscard]] std::vector<std::string> session_cookies(mm::Session const& session, std::int64_t now_ms);

}  // namespace msteams::web
