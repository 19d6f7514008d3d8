#include "graph/entra.hpp"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/strings.hpp"
#include "crypto/crypto.hpp"

namespace msteams::graph {
namespace {

using nlohmann::json;

constexpr std::size_t k_max_token_response = 64 * 1024;
constexpr std::int64_t k_app_token_margin_ms = 5 * 60 * 1000;
constexpr std::chrono::milliseconds k_timeout{20'000};

std::string form_field(std::string_view key, std::string_view value) {
    return strings::url_encode(key) + "=" + strings::url_encode(value);
}

std::chrono::seconds retry_after(http::Response const& r) {
    auto const header = r.header("Retry-After");  // trim() returns a view: keep the string alive
    auto const v = strings::trim(header);
    long long seconds = 0;
    for (char c : v) {
        if (c < '0' || c > '9') {
            return std::chrono::seconds(0);
        }
        seconds = seconds * 10 + (c - '0');
        if (seconds > 86400) {
            return std::chrono::seconds(86400);
        }
    }
    return std::chrono::seconds(seconds);
}

// "AADSTS70008: The provided authorization code or refresh token has expired..." → up to the first line break.
std::string first_line(std::string const& s) {
    auto const end = s.find_first_of("\r\n");
    auto line = s.substr(0, end);
    return strings::utf8_prefix(line, 300);
}

}  // namespace

Error entra_error(http::Response const& r) {
    auto const body = json::parse(r.body, nullptr, false);
    std::string error;
    std::string description;
    if (body.is_object()) {
        if (body.contains("error") && body["error"].is_string()) {
            error = body["error"].get<std::string>();
        }
        if (body.contains("error_description") && body["error_description"].is_string()) {
            description = first_line(body["error_description"].get<std::string>());
        }
    }
    Error e;
    e.http_status = r.status;
    e.retry_after = retry_after(r);
    if (error == "invalid_grant" || error == "interaction_required" || error == "consent_required") {
        e.code = ErrorCode::permission_denied;
    } else if (error == "invalid_client" || error == "unauthorized_client") {
        e.code = ErrorCode::unauthenticated;
    } else if (r.status == 429 || r.status >= 500 || error == "temporarily_unavailable") {
        e.code = ErrorCode::unavailable;
    } else {
        e.code = ErrorCode::invalid_argument;
    }
    e.message = "Microsoft Entra ID answered " + std::to_string(r.status) +
                (error.empty() ? std::string() : " " + error) + (description.empty() ? "" : ": " + description);
    return e;
}

Error graph_error(http::Response const& r) {
    auto const body = json::parse(r.body, nullptr, false);
    std::string code;
    std::string message;
    if (body.is_object() && body.contains("error") && body["error"].is_object()) {
        auto const& err = body["error"];
        if (err.contains("code") && err["code"].is_string()) {
            code = err["code"].get<std::string>();
        }
        if (err.contains("message") && err["message"].is_string()) {
            message = first_line(err["message"].get<std::string>());
        }
    }
    Error e;
    e.http_status = r.status;
    e.retry_after = retry_after(r);
    switch (r.status) {
        case 400: e.code = ErrorCode::invalid_argument; break;
        case 401: e.code = ErrorCode::unauthenticated; break;
        case 403: e.code = ErrorCode::permission_denied; break;
        case 404: e.code = ErrorCode::not_found; break;
        case 409: e.code = ErrorCode::conflict; break;
        case 413: e.code = ErrorCode::too_large; break;
        default: e.code = (r.status == 429 || r.status >= 500) ? ErrorCode::unavailable : ErrorCode::internal;
    }
    e.message = "Microsoft Graph answered " + std::to_string(r.status) + (code.empty() ? "" : " " + code) +
                (message.empty() ? "" : ": " + message);
    e.peer_id = code;
    return e;
}

std::vector<std::string> token_roles(std::string const& access_token) {
    std::vector<std::string> roles;
    auto const first = access_token.find('.');
    auto const second = first == std::string::npos ? std::string::npos : access_token.find('.', first + 1);
    if (second == std::string::npos) {
        return roles;
    }
    auto const payload = crypto::base64url_decode(std::string_view(access_token).substr(first + 1, second - first - 1));
    if (!payload) {
        return roles;
    }
    auto const claims = json::parse(*payload, nullptr, false);
    if (!claims.is_object() || !claims.contains("roles") || !claims["roles"].is_array()) {
        return roles;
    }
    for (auto const& r : claims["roles"]) {
        if (r.is_string()) {
            roles.push_back(r.get<std::string>());
        }
    }
    return roles;
}

Entra::Entra(std::shared_ptr<http::Client> http, App app, std::shared_ptr<Observer> observer)
    : http_(std::move(http)),
      app_(std::move(app)),
      observer_(std::move(observer)) {}

Result<http::Response> Entra::timed_send(http::Request req,
                                         std::function<void(int, std::chrono::nanoseconds)> const& report) const {
    auto const sent_at = std::chrono::steady_clock::now();
    auto answer = http_->send(std::move(req));
    if (observer_) {
        report(answer ? answer->status : 0, std::chrono::steady_clock::now() - sent_at);
    }
    return answer;
}

std::string Entra::delegated_scope(bool with_added) const {
    std::string scope = "openid profile offline_access";
    for (auto const* p : k_delegated_permissions) {
        scope += " " + app_.resource + "/" + p;
    }
    if (with_added) {
        for (auto const* p : k_added_delegated_permissions) {
            scope += " " + app_.resource + "/" + p;
        }
    }
    return scope;
}

std::string Entra::authorize_url(std::string const& redirect_uri, std::string const& state,
                                 std::string const& code_challenge) const {
    return app_.login_base + "/" + strings::url_encode(app_.tenant) + "/oauth2/v2.0/authorize?" +
           form_field("client_id", app_.client_id) + "&response_type=code&" + form_field("redirect_uri", redirect_uri) +
           "&response_mode=query&" + form_field("scope", delegated_scope()) + "&" + form_field("state", state) + "&" +
           form_field("code_challenge", code_challenge) + "&code_challenge_method=S256&prompt=select_account";
}

Result<Token> Entra::token_request(std::string_view grant, std::string const& form) const {
    http::Request req;
    req.method = "POST";
    req.url = app_.login_base + "/" + strings::url_encode(app_.tenant) + "/oauth2/v2.0/token";
    req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
    req.body =
        form + "&" + form_field("client_id", app_.client_id) + "&" + form_field("client_secret", app_.client_secret);
    req.timeout = k_timeout;
    req.max_response_body = k_max_token_response;
    auto const started = now_ms();
    http::Response r;
    MSTEAMS_TRY_ASSIGN(r, timed_send(std::move(req), [&](int status, std::chrono::nanoseconds took) {
                           observer_->entra_request(grant, status, took);
                       }));
    if (r.status != 200) {
        return std::unexpected(entra_error(r));
    }
    auto const body = json::parse(r.body, nullptr, false);
    if (!body.is_object() || !body.contains("access_token") || !body["access_token"].is_string()) {
        return fail(ErrorCode::internal, "Microsoft Entra ID answered 200 without an access token");
    }
    Token t;
    t.access_token = body["access_token"].get<std::string>();
    if (body.contains("refresh_token") && body["refresh_token"].is_string()) {
        t.refresh_token = body["refresh_token"].get<std::string>();
    }
    if (body.contains("scope") && body["scope"].is_string()) {
        t.scope = body["scope"].get<std::string>();
    }
    std::int64_t expires_in = 3600;
    if (body.contains("expires_in")) {
        auto const& v = body["expires_in"];
        if (v.is_number_integer()) {
            expires_in = v.get<std::int64_t>();
        } else if (v.is_string()) {
            expires_in = std::atoll(v.get<std::string>().c_str());
        }
    }
    if (expires_in <= 0 || expires_in > 86400) {
        expires_in = 3600;
    }
    t.expires_at = started + expires_in * 1000;
    return t;
}

Result<Token> Entra::redeem_code(std::string const& code, std::string const& redirect_uri,
                                 std::string const& code_verifier) const {
    return token_request("authorization_code", "grant_type=authorization_code&" + form_field("code", code) + "&" +
                                                   form_field("redirect_uri", redirect_uri) + "&" +
                                                   form_field("code_verifier", code_verifier) + "&" +
                                                   form_field("scope", delegated_scope()));
}

Result<Token> Entra::refresh(std::string const& refresh_token) const {
    auto const form = [&](bool with_added) {
        return "grant_type=refresh_token&" + form_field("refresh_token", refresh_token) + "&" +
               form_field("scope", delegated_scope(with_added));
    };
    auto t = token_request("refresh_token", form(true));
    // AADSTS65001: the tenant has not consented to a permission added since (k_added_delegated_permissions); the
    // connection goes on with what it was granted. Any other refusal is the grant's.
    if (!t && t.error().code == ErrorCode::permission_denied &&
        t.error().message.find("AADSTS65001") != std::string::npos) {
        return token_request("refresh_token", form(false));
    }
    return t;
}

Result<Token> Entra::app_token() { return app_token_valid_for(std::chrono::milliseconds(k_app_token_margin_ms)); }

Result<Token> Entra::app_token_valid_for(std::chrono::milliseconds at_least) {
    std::lock_guard lock(app_token_mutex_);
    auto const margin = std::max(k_app_token_margin_ms, static_cast<std::int64_t>(at_least.count()));
    if (!app_token_.access_token.empty() && app_token_.expires_at - margin > now_ms()) {
        return app_token_;
    }
    Token t;
    MSTEAMS_TRY_ASSIGN(t, token_request("client_credentials", "grant_type=client_credentials&" +
                                                                  form_field("scope", app_.resource + "/.default")));
    app_token_ = t;
    return t;
}

Result<Me> Entra::me(std::string const& access_token) const {
    http::Request req;
    req.url = app_.graph_base + "/v1.0/me?$select=id,displayName,mail,userPrincipalName";
    req.headers = {{"Authorization", "Bearer " + access_token}, {"Accept", "application/json"}};
    req.timeout = k_timeout;
    req.max_response_body = k_max_token_response;
    http::Response r;
    MSTEAMS_TRY_ASSIGN(r, timed_send(std::move(req), [&](int status, std::chrono::nanoseconds took) {
                           observer_->graph_request("me", status, took);
                       }));
    if (r.status != 200) {
        return std::unexpected(graph_error(r));
    }
    auto const body = json::parse(r.body, nullptr, false);
    if (!body.is_object() || !body.contains("id") || !body["id"].is_string()) {
        return fail(ErrorCode::internal, "Microsoft Graph answered /me without an id");
    }
    auto const text = [&](char const* key) {
        return body.contains(key) && body[key].is_string() ? body[key].get<std::string>() : std::string();
    };
    auto id = TeamsUserId::parse(text("id"));
    if (!id) {
        return fail(ErrorCode::internal, "Microsoft Graph answered /me with an id that is not an Entra object id");
    }
    return Me{*std::move(id), text("displayName"), text("mail"), text("userPrincipalName")};
}

}  // namespace msteams::graph
