#include "commands/admin_commands.hpp"

#include "common/log.hpp"
#include "graph/entra.hpp"

namespace msteams::commands {
namespace {

Result<std::shared_ptr<AdminContext const>> active(AdminSource const& source) {
    auto ctx = source();
    if (!ctx) {
        return fail(ErrorCode::unavailable, "The MS Teams plugin is not active right now. Try again in a moment.");
    }
    return ctx;
}

Error data_failure(Error const& e) {
    log::error("a /msteams admin command could not read or write its data", {{"error", e.message}});
    return Error{ErrorCode::unavailable,
                 "That did not work because the plugin could not reach its data. Try again in a moment.", 0, {}};
}

// A table cell: no pipes or line breaks from names.
std::string cell(std::string s) {
    for (auto& c : s) {
        if (c == '|' || c == '\n' || c == '\r') {
            c = ' ';
        }
    }
    return s;
}

std::string strip_at(std::string s) { return !s.empty() && s.front() == '@' ? s.substr(1) : s; }

}  // namespace

bool valid_username(std::string const& name) {
    if (name.size() < 3 || name.size() > 22 || name.front() < 'a' || name.front() > 'z') {
        return false;
    }
    for (char c : name) {
        bool const ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
        if (!ok) {
            return false;
        }
    }
    return true;
}

void add_admin_commands(Dispatcher& dispatcher, mm::Api& api, AdminSource source) {
    dispatcher.add(SubCommand{
        "show-links", "", "Show the Mattermost channels linked to Teams channels.", true,
        [&api, source](Invocation const& inv) -> Result<std::string> {
            if (!inv.words.empty()) {
                return fail(ErrorCode::invalid_argument, "`/msteams show-links` takes no arguments.");
            }
            std::shared_ptr<AdminContext const> ctx;
            MSTEAMS_TRY_ASSIGN(ctx, active(source));
            auto portals = ctx->bridge->portals("channel");
            if (!portals) {
                return std::unexpected(data_failure(portals.error()));
            }
            if (portals->empty()) {
                return std::string("No channels are linked to Microsoft Teams yet.");
            }
            std::string table = "| Mattermost channel | Teams team | Teams channel | Linked by |\n|---|---|---|---|\n";
            for (auto const& p : *portals) {
                auto const channel = api.get_channel(p.mm_channel_id);
                auto const creator =
                    p.creator_mm_user_id.empty() ? Result<mm::User>(std::unexpected(Error{})) : api.get_user(p.creator_mm_user_id);
                table += "| " + cell(channel ? channel->display_name + " (~" + channel->name + ")" : p.mm_channel_id) +
                         " | " + cell(p.teams_team_id) + " | " + cell(p.teams_thread_id) + " | " +
                         cell(creator ? "@" + creator->username : "") + " |\n";
            }
            return table;
        }});

    dispatcher.add(SubCommand{
        "promote", "[username] [new-username]",
        "Turn a synthetic user (a Teams user who appears in Mattermost) into a normal user, with a new username.", true,
        [&api, source](Invocation const& inv) -> Result<std::string> {
            if (inv.words.size() != 2) {
                return fail(ErrorCode::invalid_argument,
                            "Usage: `/msteams promote [username] [new-username]`, e.g. `/msteams promote "
                            "msteams_alex.wilber alex.wilber`.");
            }
            auto const username = strip_at(inv.words[0]);
            auto const new_username = strip_at(inv.words[1]);
            if (!valid_username(new_username)) {
                return fail(ErrorCode::invalid_argument,
                            "`" + new_username + "` is not a valid username: use 3 to 22 lower-case letters, digits, "
                                                 "'.', '-' or '_', starting with a letter.");
            }
            std::shared_ptr<AdminContext const> ctx;
            MSTEAMS_TRY_ASSIGN(ctx, active(source));
            auto user = api.get_user_by_username(username);
            if (!user) {
                return fail(ErrorCode::not_found, "There is no user @" + username + ".");
            }
            auto teams = ctx->bridge->user_by_mm_id(user->id);
            if (!teams) {
                return std::unexpected(data_failure(teams.error()));
            }
            if (!*teams || !(*teams)->synthetic) {
                return fail(ErrorCode::invalid_argument,
                            "@" + username + " is not a synthetic user: only users the plugin created for Teams "
                                             "people can be promoted.");
            }
            if (new_username != username) {
                if (auto taken = api.get_user_by_username(new_username); taken) {
                    return fail(ErrorCode::conflict, "The username @" + new_username + " is taken.");
                }
            }
            mm::User changed = *user;
            changed.username = new_username;
            changed.props.erase("msteams_user_id");
            changed.auth_service = ctx->synthetic_auth_service;
            changed.auth_data = ctx->synthetic_auth_data == "mail" || ctx->synthetic_auth_data == "upn"
                                    ? (*teams)->email
                                    : (*teams)->teams_user_id;
            if (auto updated = api.update_user(changed); !updated) {
                return fail(ErrorCode::unavailable, "Could not update @" + username + ": " + updated.error().message);
            }
            if (auto s = ctx->bridge->mark_promoted(user->id, graph::now_ms()); !s) {
                return std::unexpected(data_failure(s.error()));
            }
            log::info("promoted a synthetic user", {{"user_id", user->id}, {"username", new_username}});
            return "@" + new_username + " is now a normal Mattermost user and can sign in with " +
                   (ctx->synthetic_auth_service == "ldap" ? std::string("AD/LDAP") : std::string("SAML")) + ".";
        }});
}

}  // namespace msteams::commands
