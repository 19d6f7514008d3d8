#include "web/tab_routes.hpp"

#include <ctime>
#include <map>
#include <mutex>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/log.hpp"

namespace msteams::web {
namespace {

constexpr char const* k_style =
    "body{font-family:system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em;color:#3f4350}"
    "h1{font-size:1.4em}a,button.link{color:#1c58d9}ul{padding-left:1.2em}li{margin:.2em 0}"
    ".muted{color:#6b6f7a}";

// The page is static: the script reads what it needs (the query, Teams' context) itself, so nothing in it comes
// from the request. The script is the bundle's public/tab.js, which Mattermost serves itself at
// /plugins/<id>/public/tab.js ("public/tab.js" from /plugins/<id>/tab).
constexpr char const* k_tab_page =
    "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Mattermost</title>"
    "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"></head><body>"
    "<main id=\"tab\" data-state=\"starting\"><h1>Mattermost</h1><p class=\"muted\">Signing you in…</p></main>"
    "<noscript><p>This page needs JavaScript. <a href=\"../../login\">Sign in to Mattermost</a></p></noscript>"
    "<script src=\"public/tab.js\"></script></body></html>";

std::string http_date(std::int64_t unix_seconds) {
    std::time_t const t = unix_seconds;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    auto const n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return std::string(buf, n);
}

// Refused sign-ins per client and minute (and for everyone together, so that made-up addresses do not escape it).
class FailureLimit {
public:
    // Whether this client may try again now.
    bool allowed(std::string const& client, std::int64_t now_ms) {
        std::lock_guard held(mutex_);
        prune(now_ms);
        auto const it = counts_.find(client);
        return total_ < k_tab_failures_per_minute * 100 &&
               (it == counts_.end() || it->second.count < k_tab_failures_per_minute);
    }
    void failed(std::string const& client, std::int64_t now_ms) {
        std::lock_guard held(mutex_);
        prune(now_ms);
        auto& c = counts_[client];
        if (c.count == 0) {
            c.since_ms = now_ms;
        }
        ++c.count;
        ++total_;
    }

private:
    struct Count {
        std::int64_t since_ms = 0;
        int count = 0;
    };
    void prune(std::int64_t now_ms) {
        if (now_ms - pruned_at_ < 1'000 && counts_.size() < 10'000) {
            return;
        }
        pruned_at_ = now_ms;
        total_ = 0;
        for (auto it = counts_.begin(); it != counts_.end();) {
            if (now_ms - it->second.since_ms >= 60'000) {
                it = counts_.erase(it);
            } else {
                total_ += it->second.count;
                ++it;
            }
        }
        if (counts_.size() >= 10'000) {
            counts_.clear();
            total_ = 0;
        }
    }
    std::mutex mutex_;
    std::map<std::string, Count> counts_;
    std::int64_t pruned_at_ = 0;
    int total_ = 0;
};

// The client's address without its port.
std::string client_of(Request const& r) {
    auto addr = r.remote_addr;
    if (auto const colon = addr.rfind(':'); colon != std::string::npos && addr.find(']') == std::string::npos) {
        addr.resize(colon);
    } else if (auto const bracket = addr.find(']'); bracket != std::string::npos) {
        addr = addr.substr(0, bracket + 1);
    }
    return addr.empty() ? "unknown" : addr;
}

Response page(TabSettings const& s) {
    Response r;
    r.status = 200;
    r.set("Content-Type", "text/html; charset=utf-8");
    r.set("Cache-Control", "no-store");
    r.set("X-Content-Type-Options", "nosniff");
    r.set("Referrer-Policy", "no-referrer");
    // Teams frames the tab: its hosts for the configured cloud may, nobody else.
    r.set("Content-Security-Policy",
          "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' "
          "data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; "
          "frame-ancestors 'self' " +
              s.frame_ancestors);
    r.body = std::string(k_tab_page)
                 .insert(std::string(k_tab_page).find("</head>"), std::string("<style>") + k_style + "</style>");
    return r;
}

struct Found {
    std::optional<mm::User> user;
    std::optional<Response> refusal;
};

// The Mattermost user whose email is the token's email, else its UPN.
Found find_user(mm::Api& api, SsoResult const& id) {
    for (auto const* address : {&id.email, &id.upn}) {
        if (address->empty()) {
            continue;
        }
        auto user = api.get_user_by_email(*address);
        if (user) {
            return {std::move(*user), std::nullopt};
        }
        if (user.error().code != ErrorCode::not_found) {
            log::warn("the Teams tab could not look up a user", {{"error", user.error().message}});
            return {std::nullopt, json_error(503, "sso_unavailable",
                                             "Mattermost could not be asked just now. Try "
                                             "again in a moment.")
                                      .set("Retry-After", "5")};
        }
    }
    auto const who = id.email.empty() ? id.upn : id.email;
    return {std::nullopt, json_error(403, "sso_no_account",
                                     "There is no Mattermost account for " + who +
                                         ". Ask your Mattermost admin for one, or sign in with another account.")};
}

Response sign_in(TabDeps const& deps, TabSettings const& settings, Request const& r, std::string const& client,
                 FailureLimit& limit) {
    auto const now = deps.clock_ms ? deps.clock_ms() : now_ms();
    auto const refuse = [&](Response response, std::string_view reason) {
        limit.failed(client, now);
        if (deps.count) {
            deps.count(reason);
        }
        log::info("the Teams tab refused a sign-in", {{"reason", std::string(reason)}});
        return response;
    };
    auto const body = nlohmann::json::parse(r.body, nullptr, false);
    auto const token = body.is_object() && body.contains("token") && body["token"].is_string()
                           ? body["token"].get<std::string>()
                           : std::string();
    if (token.empty()) {
        return refuse(json_error(400, "sso_bad_request", "The sign-in request has no token."), "malformed");
    }
    auto const id = settings.check(token);
    if (!id.ok) {
        return refuse(json_error(id.status, "sso_" + id.reason, id.message), id.reason);
    }
    auto found = find_user(*deps.api, id);
    if (!found.user) {
        return refuse(std::move(*found.refusal), "no_account");
    }
    auto const& user = *found.user;
    if (user.deactivated || user.is_bot) {
        return refuse(json_error(403, "sso_deactivated",
                                 "Your Mattermost account @" + user.username +
                                     " is deactivated. Ask your Mattermost admin to reactivate it."),
                      "deactivated");
    }
    auto session = deps.api->create_session(user.id, {{"platform", "Microsoft Teams"}, {"msteams_sso", "true"}});
    if (!session) {
        if (session.error().code == ErrorCode::permission_denied) {
            return refuse(json_error(403, "sso_deactivated",
                                     "Your Mattermost account @" + user.username + " cannot sign in just now."),
                          "deactivated");
        }
        log::error("the Teams tab could not make a session", {{"error", session.error().message}});
        return json_error(503, "sso_unavailable", "Mattermost could not sign you in just now. Try again in a moment.")
            .set("Retry-After", "5");
    }
    if (deps.count) {
        deps.count("signed_in");
    }
    log::info("signed a user in from the Teams tab", {{"user_id", user.id.str()}});
    auto out = json_response(200, nlohmann::json{{"user_id", user.id.str()}, {"username", user.username}}.dump());
    for (auto& cookie : session_cookies(*session, now)) {
        out.set("Set-Cookie", std::move(cookie));
    }
    return out;
}

}  // namespace

std::vector<std::string> session_cookies(mm::Session const& session, std::int64_t now_ms) {
    auto const max_age = std::max<std::int64_t>(0, (session.expires_at - now_ms) / 1000);
    auto const attributes = "; Path=" + (session.cookie_path.empty() ? std::string("/") : session.cookie_path) +
                            "; Max-Age=" + std::to_string(max_age) + "; Expires=" + http_date(now_ms / 1000 + max_age) +
                            "; Secure; SameSite=None; Partitioned";
    return {"MMAUTHTOKEN=" + session.token + attributes + "; HttpOnly",
            "MMUSERID=" + session.user_id.str() + attributes, "MMCSRF=" + session.csrf + attributes,
            "MMEMBED=1" + attributes};
}

void install_tab_routes(Router& router, TabDeps deps) {
    auto const shared = std::make_shared<TabDeps const>(std::move(deps));
    auto const limit = std::make_shared<FailureLimit>();
    router.add(Route{"GET", "/tab", Access::anyone, 0, [shared](Request const&) {
                         auto const s = shared->settings();
                         if (!s) {
                             return not_active_json();
                         }
                         return page(*s);
                     }});
    router.add(Route{"POST", "/tab/sso", Access::anyone, k_max_tab_sso_body, [shared, limit](Request const& r) {
                         auto const s = shared->settings();
                         if (!s) {
                             return not_active_json();
                         }
                         // Only the tab's own script may post here: a custom header cannot be sent across sites
                         // without CORS, which this route does not grant, so another site cannot sign a visitor
                         // in to an account of its choosing (login CSRF) with a form.
                         if (r.header("X-Requested-With") != "XMLHttpRequest") {
                             return json_error(403, "sso_bad_request", "This sign-in must come from the Teams tab.");
                         }
                         auto const client = client_of(r);
                         auto const now = shared->clock_ms ? shared->clock_ms() : now_ms();
                         if (!limit->allowed(client, now)) {
                             return json_error(429, "sso_too_many",
                                               "Too many sign-ins were refused. Wait a minute, then try again.")
                                 .set("Retry-After", "60");
                         }
                         return sign_in(*shared, *s, r, client, *limit);
                     }});
}

}  // namespace msteams::web
