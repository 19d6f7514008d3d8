#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/ids.hpp"
#include "common/result.hpp"
#include "graph/observer.hpp"
#include "http/client.hpp"

// Microsoft Entra ID (v2 endpoints): authorization code with PKCE, refresh, client credentials; and the errors
// Entra and Graph answer with.
namespace msteams::graph {

struct App {
    std::string login_base;  // https://login.microsoftonline.com
    std::string graph_base;  // https://graph.microsoft.com
    std::string resource;    // the resource identifier used in scopes
    std::string tenant;
    std::string client_id;
    std::string client_secret;  // secret
};

// The delegated permissions a connected user grants (the README lists them for the app registration).
inline constexpr char const* k_delegated_permissions[] = {
    "User.Read",
    "Chat.ReadWrite",
    "ChatMessage.Send",
    "Chat.Create",
    "Files.ReadWrite",
    "Team.ReadBasic.All",
    "Channel.ReadBasic.All",
    "ChannelMessage.Send",
    "ChannelMessage.Read.All",
};

// Asked for since linked channels (editing and deleting a channel message), at sign-in and at every refresh: Entra
// issues any scope the app has consent for from an existing refresh token, so connections made before get it
// without connecting again. Where the tenant has not consented to it yet, the refresh is asked again without it and
// the connection keeps working (a channel edit then tells its author what is missing).
inline constexpr char const* k_added_delegated_permissions[] = {
    "ChannelMessage.ReadWrite",
};

struct Token {
    std::string access_token;     // secret
    std::string refresh_token;    // secret; empty for app tokens
    std::int64_t expires_at = 0;  // Unix ms
    std::string scope;
};

struct Me {
    TeamsUserId id;
    std::string display_name;
    std::string mail;
    std::string user_principal_name;
};

// Where the application's own token comes from: Entra, or a fake in unit tests.
class AppTokens {
public:
    virtual ~AppTokens() = default;
    [[nodiscard]] virtual Result<Token> app_token() = 0;
};

// A user's sign-in as Logins runs it: Entra, or a fake in unit tests.
class SignIn {
public:
    virtual ~SignIn() = default;
    // The URL to send the user's browser to.
    [[nodiscard]] virtual std::string authorize_url(std::string const& redirect_uri, std::string const& state,
                                                    std::string const& code_challenge) const = 0;
    [[nodiscard]] virtual Result<Token> redeem_code(std::string const& code, std::string const& redirect_uri,
                                                    std::string const& code_verifier) const = 0;
    // permission_denied when the grant is gone (the user must connect again).
    [[nodiscard]] virtual Result<Token> refresh(std::string const& refresh_token) const = 0;
    // GET /v1.0/me with a delegated token.
    [[nodiscard]] virtual Result<Me> me(std::string const& access_token) const = 0;
};

class Entra final : public AppTokens, public SignIn {
public:
    // `observer` (optional) is told of every token request.
    Entra(std::shared_ptr<http::Client> http, App app, std::shared_ptr<Observer> observer = nullptr);

    [[nodiscard]] std::string authorize_url(std::string const& redirect_uri, std::string const& state,
                                            std::string const& code_challenge) const override;
    [[nodiscard]] Result<Token> redeem_code(std::string const& code, std::string const& redirect_uri,
                                            std::string const& code_verifier) const override;
    [[nodiscard]] Result<Token> refresh(std::string const& refresh_token) const override;
    // The application's own token (client credentials), cached until five minutes before it expires.
    [[nodiscard]] Result<Token> app_token() override;
    // The application's token valid at least `at_least` longer (sendActivityNotificationToRecipients wants 45
    // minutes): the cached one when it is, else a new one (which may still fall short when tokens live less long).
    [[nodiscard]] Result<Token> app_token_valid_for(std::chrono::milliseconds at_least);

    [[nodiscard]] Result<Me> me(std::string const& access_token) const override;

    [[nodiscard]] App const& app() const noexcept { return app_; }

private:
    [[nodiscard]] Result<Token> token_request(std::string_view grant, std::string const& form) const;
    // Sends `req`; with an observer, `report` is told its status (0: no answer) and latency.
    [[nodiscard]] Result<http::Response> timed_send(
        http::Request req, std::function<void(int, std::chrono::nanoseconds)> const& report) const;
    // The delegated scopes asked for; `with_added`: k_added_delegated_permissions too.
    [[nodiscard]] std::string delegated_scope(bool with_added = true) const;

    std::shared_ptr<http::Client> http_;
    App app_;
    std::shared_ptr<Observer> observer_;  // may be null
    std::mutex app_token_mutex_;
    Token app_token_;
};

// The application permissions ("roles") an app token carries, read from its JWT payload without checking it (the
// token came from Entra over TLS); empty when it has none or is not a JWT.
[[nodiscard]] std::vector<std::string> token_roles(std::string const& access_token);

// An Entra error answer as an Error: invalid_grant → permission_denied (the grant is gone: the user must connect
// again); invalid_client / unauthorized_client → unauthenticated (the app registration's credentials are wrong: an
// admin's job); 429/5xx → unavailable with retry_after; the rest invalid_argument. The message names Entra's error
// and AADSTS code, never anything that was sent.
[[nodiscard]] Error entra_error(http::Response const& response);

// A Graph error answer ({"error":{"code","message"}}) as an Error, with Retry-After for 429/503.
[[nodiscard]] Error graph_error(http::Response const& response);

}  // namespace msteams::graph
