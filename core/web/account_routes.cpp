#include "web/account_routes.hpp"

#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "common/strings.hpp"
#include "web/pages.hpp"

namespace msteams::web {
namespace {

constexpr std::size_t k_max_query_value = 4096;

std::optional<std::string> query_value(Request const& request, std::string_view key) {
    auto const query = strings::parse_query(request.raw_query);
    if (!query) {
        return std::nullopt;
    }
    for (auto const& [k, v] : *query) {
        if (k == key) {
            return v.size() > k_max_query_value ? std::nullopt : std::optional<std::string>(v);
        }
    }
    return std::nullopt;
}

Response not_active_page() {
    return connect_result_page(503, ConnectOutcome::failed, "MS Teams is not available",
                               "The MS Teams plugin is not active right now. Try again in a moment, or ask your "
                               "system admin.")
        .set("Retry-After", "5");
}

int status_for(ErrorCode code) {
    switch (code) {
        case ErrorCode::invalid_argument: return 400;
        case ErrorCode::unauthenticated: return 401;
        case ErrorCode::permission_denied: return 403;
        case ErrorCode::not_found: return 404;
        case ErrorCode::conflict: return 409;
        case ErrorCode::too_large: return 413;
        case ErrorCode::unavailable: return 503;
        case ErrorCode::internal: return 500;
    }
    return 500;
}

// How a connect attempt ended, for the result page and for the main Mattermost window.
struct Ending {
    int status;
    ConnectOutcome outcome;
    std::string title;
    std::string text;
};

// What the user is told about an error in the OAuth window: the message when it is meant for them, a generic one for
// failures of the server or of Microsoft (the details are in the server log).
Ending error_ending(Error const& e) {
    bool const for_user = e.code == ErrorCode::invalid_argument || e.code == ErrorCode::permission_denied ||
                          e.code == ErrorCode::not_found || e.code == ErrorCode::conflict;
    if (for_user && e.http_status == 0) {
        return {status_for(e.code), ConnectOutcome::refused, "Could not connect to Microsoft Teams", e.message};
    }
    log::error("connecting a Teams account failed", {{"error", e.message}});
    return {e.code == ErrorCode::unavailable ? 503 : 502, ConnectOutcome::failed,
            "Could not connect to Microsoft Teams",
            "Microsoft Teams could not be reached or refused the sign-in. Try again in a moment; if it keeps failing, "
            "your system admin will find the details in the Mattermost server log."};
}

Response connect_error_page(Error const& e) {
    auto const ending = error_ending(e);
    return connect_result_page(ending.status, ending.outcome, ending.title, ending.text);
}

// The result page, and the same outcome sent to the user's Mattermost windows (websocket event connect_outcome):
// Microsoft's sign-in pages send Cross-Origin-Opener-Policy: same-origin, which cuts the sign-in window off from the
// window that opened it, so the page's own message may never arrive. A connection is announced by Logins
// (connection_changed).
Response end_attempt(mm::Api& api, MmUserId const& user_id, Ending const& ending) {
    if (ending.outcome != ConnectOutcome::connected) {
        nlohmann::json const payload{{"outcome", to_string(ending.outcome)}, {"message", ending.text}};
        if (auto s = api.publish_websocket_event("connect_outcome", payload.dump(), mm::Broadcast{user_id, {}, ""});
            !s) {
            log::warn("could not tell a user's windows how connecting ended", {{"error", s.error().message}});
        }
    }
    return connect_result_page(ending.status, ending.outcome, ending.title, ending.text);
}

// GET /connect: where the browser goes to sign in with Microsoft (the bot's account with ?purpose=bot).
Response start_connect(sync::Logins& logins, mm::Api& api, Request const& request) {
    auto purpose = sync::Purpose::user;
    if (query_value(request, "purpose").value_or("") == "bot") {
        auto admin = api.has_permission_to(request.user_id, "manage_system");
        if (!admin || !*admin) {
            return connect_result_page(403, ConnectOutcome::refused, "Could not connect to Microsoft Teams",
                                       "Only system admins can connect the bot account.");
        }
        purpose = sync::Purpose::bot;
    }
    auto url = logins.begin(request.user_id, purpose);
    if (!url) {
        return connect_error_page(url.error());
    }
    Response r;
    r.status = 302;
    r.set("Location", *url);
    r.set("Cache-Control", "no-store");
    return r;
}

// GET /oauth-redirect: Microsoft's answer; the outcome goes to the pop-up and to the user's Mattermost windows.
Response finish_connect(sync::Logins& logins, mm::Api& api, OnConnected const& on_connected, Request const& request) {
    auto const end = [&](Ending const& ending) { return end_attempt(api, request.user_id, ending); };
    auto const state = query_value(request, "state");
    if (auto const error = query_value(request, "error")) {
        auto const description = query_value(request, "error_description").value_or("");
        log::info("Microsoft sign-in ended with an error",
                  {{"error", *error}, {"description", strings::utf8_prefix(description, 300)}});
        if (state) {
            if (auto a = logins.abandon(*state, request.user_id); !a) {
                // Not this user's sign-in: nothing is said to this user's windows about another's.
                return connect_result_page(403, ConnectOutcome::refused, "Could not connect to Microsoft Teams",
                                           a.error().message);
            }
        }
        if (*error == "access_denied") {
            return end({400, ConnectOutcome::cancelled, "Microsoft Teams was not connected",
                        "The sign-in was cancelled or permission was not granted."});
        }
        return end({400, ConnectOutcome::refused, "Microsoft Teams was not connected",
                    "Microsoft ended the sign-in with an error (" + strings::utf8_prefix(*error, 100) +
                        "). Try again, or ask your system admin."});
    }
    auto const code = query_value(request, "code");
    if (!state || !code || state->empty() || code->empty()) {
        return end({400, ConnectOutcome::refused, "Could not connect to Microsoft Teams",
                    "The sign-in response is incomplete. Start again from Mattermost."});
    }
    auto connected = logins.finish(*state, *code, request.user_id);
    if (!connected) {
        return end(error_ending(connected.error()));
    }
    if (on_connected) {
        on_connected(*connected);
    }
    auto const who = connected->teams_display_name.empty()
                         ? connected->teams_email
                         : connected->teams_display_name + " (" + connected->teams_email + ")";
    return end({200, ConnectOutcome::connected, "Microsoft Teams connected",
                connected->purpose == sync::Purpose::bot
                    ? "The MS Teams bot is now connected as " + who + ". You can close this window."
                    : "Your Mattermost account is now connected to Microsoft Teams as " + who +
                          ". You can close this window."});
}

// GET /api/v1/connection-status: the webapp's view of the user's connection.
Response connection_status(sync::Logins& logins, Request const& request) {
    auto account = logins.account(request.user_id);
    if (!account) {
        log::error("reading a connection failed", {{"error", account.error().message}});
        return json_error(503, "unavailable", "The connection status is unavailable.");
    }
    bool const connected = *account && (*account)->connected();
    bool can_connect = connected;
    if (!connected) {
        auto const count = logins.count_connected();
        auto const refused = logins.refusal(request.user_id);
        can_connect = count && *count < logins.limit() && refused && !*refused;
    }
    nlohmann::json body{{"connected", connected},
                        {"teams_user_id", connected ? (*account)->teams_user_id.str() : ""},
                        {"teams_email", connected ? (*account)->teams_email : ""},
                        {"teams_display_name", connected ? (*account)->teams_display_name : ""},
                        {"can_connect", can_connect}};
    return json_response(200, body.dump());
}

// POST /api/v1/disconnect
Response disconnect(sync::Logins& logins, Request const& request) {
    if (auto d = logins.disconnect(request.user_id); !d) {
        if (d.error().code == ErrorCode::not_found) {
            return json_error(404, "not_connected", "Your account is not connected.");
        }
        log::error("disconnecting failed", {{"error", d.error().message}});
        return json_error(503, "unavailable", "Disconnecting failed; try again.");
    }
    return json_response(200, R"({"connected":false})");
}

}  // namespace

void install_account_routes(Router& router, LoginsSource const& logins_source, std::shared_ptr<mm::Api> const& api,
                            OnConnected const& on_connected) {
    router.add(Route{"GET", "/connect", Access::user, 0, [logins_source, api](Request const& request) {
                         auto logins = logins_source();
                         return logins ? start_connect(*logins, *api, request) : not_active_page();
                     }});
    router.add(Route{"GET", "/oauth-redirect", Access::user, 0, [logins_source, api, on_connected](Request const& r) {
                         auto logins = logins_source();
                         return logins ? finish_connect(*logins, *api, on_connected, r) : not_active_page();
                     }});
    router.add(Route{"GET", "/api/v1/connection-status", Access::user, 0, [logins_source](Request const& request) {
                         auto logins = logins_source();
                         return logins ? connection_status(*logins, request) : not_active_json();
                     }});
    router.add(Route{"POST", "/api/v1/disconnect", Access::user, 4096, [logins_source](Request const& request) {
                         auto logins = logins_source();
                         return logins ? disconnect(*logins, request) : not_active_json();
                     }});
}

}  // namespace msteams::web
