#include "web/routes.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "common/strings.hpp"
#include "crypto/crypto.hpp"
#include "metrics/counters.hpp"
#include "metrics/prometheus.hpp"
#include "store/repositories.hpp"
#include "sync/receiver.hpp"

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

Response notifications(Request const& request, char const* kind,
                       std::function<std::shared_ptr<sync::Receiver>()> const& receiver) {
    if (auto handshake = validation_handshake(request)) {
        log::info("answered a Microsoft Graph validation request", {{"endpoint", kind}});
        return *handshake;
    }
    auto const r = receiver();
    if (!r) {
        // Not active: refuse without losing anything; Graph sends the notifications again.
        return not_active_json(30);
    }
    auto const answer = std::string_view(kind) == "changes" ? r->changes(request.body) : r->lifecycle(request.body);
    if (answer.status >= 400) {
        auto response = json_error(answer.status, answer.error_id, answer.message);
        if (answer.retry_after_seconds > 0) {
            response.set("Retry-After", std::to_string(answer.retry_after_seconds));
        }
        return response;
    }
    Response ok;
    ok.status = answer.status;
    return ok;
}

// The newest dead letters, for system admins.
Response dead_letter_list(store::DeadLetters& dead_letters) {
    auto const count = dead_letters.count();
    auto const newest = dead_letters.newest(50);
    if (!count || !newest) {
        return json_error(503, "unavailable", "The dead letters could not be read just now.").set("Retry-After", "5");
    }
    nlohmann::json list = nlohmann::json::array();
    for (auto const& d : *newest) {
        list.push_back({{"id", d.id},
                        {"direction", std::string(store::text(d.direction))},
                        {"thread_id", d.thread_id},
                        {"payload", d.payload},
                        {"error", d.error},
                        {"attempts", d.attempts},
                        {"first_failed_at", d.first_failed_at},
                        {"last_failed_at", d.last_failed_at}});
    }
    return json_response(200, nlohmann::json{{"count", *count}, {"newest", list}}.dump());
}

}  // namespace

void install_notification_routes(Router& router, std::function<std::shared_ptr<sync::Receiver>()> const& receiver,
                                 std::shared_ptr<metrics::Counters> const& stats, std::shared_ptr<mm::Api> const& api,
                                 std::function<std::optional<store::Repositories>()> const& repositories) {
    router.add(Route{"POST", "/changes", Access::anyone, k_max_notification_body,
                     [receiver](Request const& r) { return notifications(r, "changes", receiver); }});
    router.add(Route{"POST", "/lifecycle", Access::anyone, k_max_notification_body,
                     [receiver](Request const& r) { return notifications(r, "lifecycle", receiver); }});
    router.add(Route{"GET", "/api/v1/stats", Access::user, 0, [stats, api, repositories](Request const& r) {
                         auto const admin = api->has_permission_to(r.user_id, "manage_system");
                         if (!admin || !*admin) {
                             return json_error(403, "forbidden", "Only system admins can read the counters.");
                         }
                         nlohmann::json body = nlohmann::json::object();
                         for (auto const& [name, value] : stats->snapshot()) {
                             body[name] = value;
                         }
                         // Every value is a number (clients read the counters as one map).
                         if (auto const repos = repositories ? repositories() : std::nullopt) {
                             if (auto const n = repos->dead_letters->count()) {
                                 body["dead_letters"] = *n;
                             }
                             if (auto const n = repos->inbox->size()) {
                                 body["inbox_items"] = *n;
                             }
                         }
                         return json_response(200, body.dump());
                     }});
    router.add(Route{"GET", "/api/v1/dead-letters", Access::user, 0, [api, repositories](Request const& r) {
                         auto const admin = api->has_permission_to(r.user_id, "manage_system");
                         if (!admin || !*admin) {
                             return json_error(403, "forbidden", "Only system admins can read the dead letters.");
                         }
                         auto const repos = repositories ? repositories() : std::nullopt;
                         if (!repos) {
                             return not_active_json();
                         }
                         return dead_letter_list(*repos->dead_letters);
                     }});
}

namespace {

// The password of an HTTP Basic Authorization header, or nullopt. (Not a Bearer token: Mattermost takes a bearer
// token on a plugin route for a session token and logs it when it is not one.)
std::optional<std::string> basic_password(std::string_view header) {
    constexpr std::string_view k_basic = "Basic ";
    if (header.size() <= k_basic.size() || !strings::iequals(header.substr(0, k_basic.size()), k_basic)) {
        return std::nullopt;
    }
    auto const decoded = crypto::base64_decode(strings::trim(header.substr(k_basic.size())));
    if (!decoded) {
        return std::nullopt;
    }
    auto const colon = decoded->find(':');
    if (colon == std::string::npos) {
        return std::nullopt;
    }
    return decoded->substr(colon + 1);
}

}  // namespace

void install_metrics_route(Router& router, std::function<std::string()> const& token,
                           std::function<std::string()> const& render) {
    router.add(Route{"GET", "/metrics", Access::anyone, 0, [token, render](Request const& r) {
                         if (!r.metrics_listener) {
                             auto const expected = token();
                             if (expected.empty()) {
                                 return json_error(404, "not_found",
                                                   "Metrics are served on the Mattermost server's metrics listener; "
                                                   "set a metrics token in the plugin's settings to read them here.");
                             }
                             auto const given = basic_password(r.header("Authorization"));
                             if (!given || !strings::constant_time_equal(*given, expected)) {
                                 return json_error(401, "unauthorized",
                                                   "The metrics token is required as the password of HTTP Basic "
                                                   "authentication.")
                                     .set("WWW-Authenticate", "Basic realm=\"msteams metrics\"");
                             }
                         }
                         Response out;
                         out.status = 200;
                         out.body = render();
                         out.set("Content-Type", metrics::k_content_type).set("Cache-Control", "no-store");
                         return out;
                     }});
}

void install_status_route(Router& router, std::shared_ptr<mm::Api> const& api,
                          std::function<std::string()> const& render) {
    router.add(Route{"GET", "/api/v1/status", Access::user, 0, [api, render](Request const& r) {
                         auto const admin = api->has_permission_to(r.user_id, "manage_system");
                         if (!admin || !*admin) {
                             return json_error(403, "forbidden", "Only system admins can read the bridge's status.");
                         }
                         return json_response(200, render());
                     }});
}

void install_channel_routes(Router& router, std::shared_ptr<mm::Api> const& api,
                            std::function<std::optional<store::Repositories>()> const& repositories) {
    router.add(Route{"GET", "/api/v1/channel-bridged", Access::user, 0, [api, repositories](Request const& r) {
                         auto const query = strings::parse_query(r.raw_query);
                         std::optional<MmChannelId> parsed;
                         if (query) {
                             for (auto const& [k, v] : *query) {
                                 if (k == "channel_id") {
                                     parsed = MmChannelId::parse(v);
                                 }
                             }
                         }
                         if (!parsed) {
                             return json_error(400, "bad_channel_id", "channel_id must be a Mattermost channel id.");
                         }
                         auto const& channel_id = *parsed;
                         auto const repos = repositories ? repositories() : std::nullopt;
                         if (!repos) {
                             return not_active_json();
                         }
                         auto const no = [] { return json_response(200, R"({"bridged":false})"); };
                         auto const channel = api->get_channel(channel_id);
                         if (!channel || (channel->type != "D" && channel->type != "G") || channel->delete_at != 0) {
                             return no();
                         }
                         // A GM has at most 8 members (a DM 2): one page holds them all.
                         auto const members = api->get_channel_member_ids(channel_id, 0, 100);
                         if (!members) {
                             return json_error(503, "unavailable", "Try again in a moment.").set("Retry-After", "5");
                         }
                         if (std::find(members->begin(), members->end(), r.user_id) == members->end()) {
                             return no();
                         }
                         auto const portal = repos->portals->by_channel(channel_id);
                         if (!portal) {
                             log::error("reading a portal failed", {{"error", portal.error().message}});
                             return json_error(503, "unavailable", "Try again in a moment.").set("Retry-After", "5");
                         }
                         if (!*portal || (*portal)->kind != store::PortalKind::chat) {
                             return no();
                         }
                         return json_response(200, R"({"bridged":true})");
                     }});
}

void install_routes(Router& router, std::function<std::optional<WebappSettings>()> const& settings) {
    router.add(Route{"GET", "/api/v1/config", Access::user, 0, [settings](Request const&) {
                         auto const s = settings();
                         if (!s) {
                             return not_active_json();
                         }
                         nlohmann::json const body{{"enforce_connected_accounts", s->enforce_connected_accounts},
                                                   {"allow_skip_connect_accounts", s->allow_skip_connect_accounts},
                                                   {"chat_sync", s->chat_sync}};
                         return json_response(200, body.dump());
                     }});
}

}  // namespace msteams::web
