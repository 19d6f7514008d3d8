#include "web/report_route.hpp"

#include <vector>

#include "common/clock.hpp"
#include "common/log.hpp"

namespace msteams::web {
namespace {

std::string health_text(store::TokenHealth h) {
    switch (h) {
        case store::TokenHealth::ok: return "ok";
        case store::TokenHealth::refresh_failed: return "refresh failed";
        case store::TokenHealth::needs_reconnect: return "needs reconnect";
    }
    return "ok";
}

std::string line(std::vector<std::string> const& cells) {
    std::string out;
    for (std::size_t i = 0; i < cells.size(); ++i) {
        out += (i ? "," : "") + csv_cell(cells[i]);
    }
    return out + "\r\n";
}

Response report(mm::Api& api, store::Roster& roster) {
    std::string body = line({"Mattermost user", "Mattermost user id", "Teams user", "Teams email", "Teams user id",
                             "Connected since", "Last activity", "Token health"});
    MmUserId after;
    std::size_t rows = 0;
    bool more = false;
    while (true) {
        auto page = roster.report_page(after, k_report_page);
        if (!page) {
            log::error("could not read the connected-users report", {{"error", page.error().message}});
            return json_error(503, "unavailable", "The report could not be read just now; try again.")
                .set("Retry-After", "5");
        }
        for (auto const& r : *page) {
            if (rows == k_report_max_rows) {
                more = true;
                break;
            }
            auto const user = api.get_user(r.mm_user_id);
            body += line({user ? user->username : std::string(), r.mm_user_id.str(), r.teams_display_name,
                          r.teams_email, r.teams_user_id.str(), r.connected_at ? utc_text(r.connected_at) : "",
                          r.last_active_at ? utc_text(r.last_active_at) : "", health_text(r.health)});
            ++rows;
        }
        if (more || page->size() < k_report_page) {
            break;
        }
        after = page->back().mm_user_id;
    }
    if (more) {
        body += line({"(only the first " + std::to_string(k_report_max_rows) + " accounts are listed)"});
    }
    Response r;
    r.status = 200;
    r.body = std::move(body);
    r.set("Content-Type", "text/csv; charset=utf-8");
    r.set("Content-Disposition", "attachment; filename=\"msteams-connected-users.csv\"");
    r.set("Cache-Control", "no-store");
    r.set("X-Content-Type-Options", "nosniff");
    return r;
}

}  // namespace

std::string csv_cell(std::string_view text) {
    std::string out = "\"";
    if (!text.empty() && (text.front() == '=' || text.front() == '+' || text.front() == '-' || text.front() == '@' ||
                          text.front() == '\t' || text.front() == '\r')) {
        out += '\'';
    }
    for (char c : text) {
        if (c == '"') {
            out += '"';
        }
        out += c;
    }
    return out + "\"";
}

void install_report_route(Router& router, std::shared_ptr<mm::Api> const& api,
                          std::function<std::shared_ptr<store::Roster>()> const& roster) {
    router.add(Route{"GET", k_report_path, Access::user, 0, [api, roster](Request const& r) {
                         auto const admin = api->has_permission_to(r.user_id, "manage_system");
                         if (!admin || !*admin) {
                             return json_error(403, "forbidden",
                                               "Only system admins can download the connected-users report.");
                         }
                         auto const current = roster ? roster() : nullptr;
                         if (!current) {
                             return not_active_json();
                         }
                         log::info("a system admin downloaded the connected-users report", {{"user_id", r.user_id}});
                         return report(*api, *current);
                     }});
}

}  // namespace msteams::web
