#include "web/primary_route.hpp"

#include <nlohmann/json.hpp>

#include "common/log.hpp"

namespace msteams::web {
namespace {

using json = nlohmann::json;

Response state(PrimaryContext const& ctx, MmUserId const& user, bool settings_changed) {
    auto choices = ctx.roster->choices({user});
    if (!choices) {
        log::error("could not read a user's primary platform", {{"error", choices.error().message}});
        return json_error(503, "unavailable", "Your primary platform could not be read just now; try again.");
    }
    auto const primary = choices->empty() ? ctx.default_primary : choices->front().primary;
    bool const feed = ctx.feed && ctx.feed->enabled();
    bool blocked = false;
    if (feed) {
        auto b = ctx.feed->blocked(user);
        blocked = b && *b;
    }
    json body{{"primary", std::string(store::text(primary))},
              {"feed", feed},
              {"blocked", blocked},
              {"notifications_changed", settings_changed}};
    return json_response(200, body.dump());
}

Response choose(PrimaryContext const& ctx, Request const& request) {
    auto const body = json::parse(request.body, nullptr, false);
    auto const it = body.is_object() ? body.find("primary") : body.end();
    std::optional<store::Platform> platform;
    if (it != body.end() && it->is_string()) {
        platform = store::parse<store::Platform>(it->get<std::string>());
    }
    if (!platform) {
        return json_error(400, "bad_request", "Send {\"primary\": \"mattermost\"} or {\"primary\": \"teams\"}.");
    }
    auto applied = sync::choose_primary(*ctx.roster, *ctx.audience, ctx.feed.get(), request.user_id, *platform);
    if (!applied) {
        log::error("could not record a user's primary platform", {{"error", applied.error().message}});
        return json_error(503, "unavailable", "Your choice could not be saved just now; try again.");
    }
    return state(ctx, request.user_id, *applied);
}

}  // namespace

void install_primary_route(Router& router, PrimarySource const& source) {
    router.add(Route{"GET", "/api/v1/primary", Access::user, 0, [source](Request const& request) {
                         auto const ctx = source();
                         return ctx ? state(*ctx, request.user_id, true) : not_active_json();
                     }});
    router.add(Route{"POST", "/api/v1/primary", Access::user, 1024, [source](Request const& request) {
                         auto const ctx = source();
                         return ctx ? choose(*ctx, request) : not_active_json();
                     }});
}

}  // namespace msteams::web
