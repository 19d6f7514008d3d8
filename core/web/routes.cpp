#include "web/routes.hpp"

#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "common/strings.hpp"

namespace msteams::web {
namespace {

// Microsoft Graph checks a notification URL by POSTing ?validationToken=<url-encoded token> and expects the decoded
// token back as text/plain within 10 seconds.
std::optional<Response> validation_handshake(Request const& request) {
    if (request.raw_query.find("validationToken") == std::string::npos) {
        return std::nullopt;
    }
    auto const query = strings::parse_query(request.raw_query);
    if (!query) {
        return json_error(400, "bad_query", "The query string is malformed.");
    }
    for (auto const& [key, value] : *query) {
        if (key != "validationToken") {
            continue;
        }
        if (value.empty() || value.size() > k_max_validation_token) {
            return json_error(400, "bad_validation_token", "The validation token is empty or too long.");
        }
        Response r;
        r.status = 200;
        r.set("Content-Type", "text/plain; charset=utf-8");
        r.set("X-Content-Type-Options", "nosniff");
        r.set("Cache-Control", "no-store");
        r.body = value;
        return r;
    }
    return std::nullopt;
}

Response notifications(Request const& request, char const* kind) {
    if (auto handshake = validation_handshake(request)) {
        log::info("answered a Microsoft Graph validation request", {{"endpoint", kind}});
        return *handshake;
    }
    auto const body = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object() || !body.contains("value") || !body["value"].is_array()) {
        return json_error(400, "bad_notification", "The body is not a change notification collection.");
    }
    // Nothing subscribes yet, so nothing legitimate arrives here. Refuse without losing anything: Graph retries.
    return json_error(503, "not_ready", "Change notifications are not being processed yet.").set("Retry-After", "30");
}

}  // namespace

void install_routes(Router& router, std::function<std::optional<WebappSettings>()> settings) {
    router.add(Route{"POST", "/changes", Access::anyone, k_max_notification_body,
                     [](Request const& r) { return notifications(r, "changes"); }});
    router.add(Route{"POST", "/lifecycle", Access::anyone, k_max_notification_body,
                     [](Request const& r) { return notifications(r, "lifecycle"); }});
    router.add(Route{"GET", "/api/v1/config", Access::user, 0, [settings](Request const&) {
                         auto const s = settings();
                         if (!s) {
                             return json_error(503, "not_active", "The plugin is not active.")
                                 .set("Retry-After", "5");
                         }
                         nlohmann::json const body{{"enforce_connected_accounts", s->enforce_connected_accounts},
                                                   {"allow_skip_connect_accounts", s->allow_skip_connect_accounts},
                                                   {"chat_sync", s->chat_sync},
                                                   {"linked_channels", s->linked_channels}};
                         return json_response(200, body.dump());
                     }});
}

}  // namespace msteams::web
