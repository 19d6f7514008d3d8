#include "commands/channel_commands.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/clock.hpp"
#include "common/log.hpp"
#include "common/strings.hpp"

namespace msteams::commands {
namespace {

constexpr std::size_t k_max_suggestions = 25;

Result<std::shared_ptr<ChannelContext const>> active(ChannelSource const& source) {
    auto ctx = source();
    if (!ctx) {
        return fail(ErrorCode::unavailable, "The MS Teams plugin is not active right now. Try again in a moment.");
    }
    return ctx;
}

Error data_failure(Error const& e) {
    log::error("a /msteams channel command could not read or write its data", {{"error", e.message}});
    return Error{ErrorCode::unavailable,
                 "That did not work because the plugin could not reach its data. Try again in a moment.",
                 0,
                 {}};
}

// A name from Teams in a reply: one line, bold, without the characters that would end the bold or mention anyone.
std::string shown(std::string const& name) {
    std::string out;
    for (char c : strings::utf8_prefix(name, 200)) {
        if (c == '@') {
            out += "@\u200b";  // a zero-width space: no mention
        } else {
            out += c == '\n' || c == '\r' || c == '*' || c == '`' ? ' ' : c;
        }
    }
    return "**" + out + "**";
}

bool starts_with_any_case(std::string const& text, std::string const& prefix) {
    return strings::to_lower(text).starts_with(strings::to_lower(prefix));
}

// The channel the command was run in, if it can be linked, and whether the caller may change its link.
Result<mm::Channel> linkable_channel(mm::Api& api, Invocation const& inv) {
    auto channel = api.get_channel(inv.args.channel_id);
    if (!channel) {
        return std::unexpected(data_failure(channel.error()));
    }
    if (channel->type != "O" && channel->type != "P") {
        return fail(ErrorCode::invalid_argument,
                    "Only public and private channels can be linked to Microsoft Teams channels; direct and group "
                    "messages are bridged with Teams chats.");
    }
    // Channel admins hold manage_channel_roles in their channel (as do team and system admins); plain members, who
    // may rename a channel, do not.
    auto const allowed = api.has_permission_to_channel(inv.args.user_id, inv.args.channel_id, "manage_channel_roles");
    if (!allowed) {
        return std::unexpected(data_failure(allowed.error()));
    }
    if (!*allowed) {
        return fail(ErrorCode::permission_denied,
                    "Only an admin of this channel or a system admin can change its link to Microsoft Teams.");
    }
    return channel;
}

Result<std::string> caller_token(ChannelContext const& ctx, MmUserId const& user) {
    auto token = ctx.access_token(user);
    if (!token) {
        if (token.error().code == ErrorCode::permission_denied || token.error().code == ErrorCode::not_found) {
            return fail(ErrorCode::permission_denied,
                        "Connect your Microsoft Teams account first (`/msteams connect`): the team and channel are "
                        "looked up as you see them in Teams.");
        }
        return std::unexpected(token.error());
    }
    return token;
}

// A team by id or by name (any case) among the caller's teams.
Result<graph::TeamInfo> find_team(std::vector<graph::TeamInfo> const& teams, std::string const& wanted) {
    std::vector<graph::TeamInfo> named;
    for (auto const& t : teams) {
        if (strings::iequals(t.id, wanted)) {
            return t;
        }
        if (strings::iequals(t.display_name, wanted)) {
            named.push_back(t);
        }
    }
    if (named.size() == 1) {
        return named.front();
    }
    if (named.size() > 1) {
        return fail(ErrorCode::invalid_argument, "More than one of your teams is called " + shown(wanted) +
                                                     ": pick it from the suggestions (its id).");
    }
    return fail(ErrorCode::not_found, "You are not a member of a Microsoft Teams team " + shown(wanted) +
                                          ". Pick one from the suggestions as you type.");
}

Result<graph::ChannelInfo> find_channel(std::vector<graph::ChannelInfo> const& channels, std::string const& wanted) {
    std::vector<graph::ChannelInfo> named;
    for (auto const& c : channels) {
        if (c.id.str() == wanted) {
            return c;
        }
        if (strings::iequals(c.display_name, wanted)) {
            named.push_back(c);
        }
    }
    if (named.size() == 1) {
        return named.front();
    }
    return fail(ErrorCode::not_found, "That team has no channel " + shown(wanted) +
                                          " that you can see. Pick one from the suggestions as you type.");
}

Result<std::string> link(mm::Api& api, ChannelSource const& source, Invocation const& inv) {
    if (inv.words.size() < 2) {
        return fail(ErrorCode::invalid_argument,
                    "Usage: `/msteams link [team] [channel]`, run in the Mattermost channel to link; the suggestions "
                    "list the Teams teams and channels you can see.");
    }
    std::shared_ptr<ChannelContext const> ctx;
    MSTEAMS_TRY_ASSIGN(ctx, active(source));
    mm::Channel channel;
    MSTEAMS_TRY_ASSIGN(channel, linkable_channel(api, inv));
    std::optional<store::Portal> existing;
    if (auto found = ctx->repos.portals->by_channel(channel.id); !found) {
        return std::unexpected(data_failure(found.error()));
    } else {
        existing = *found;
    }
    if (existing) {
        return fail(ErrorCode::conflict,
                    "This channel is already linked to Microsoft Teams. Run `/msteams unlink` "
                    "first to link it elsewhere.");
    }
    std::string token;
    MSTEAMS_TRY_ASSIGN(token, caller_token(*ctx, inv.args.user_id));
    std::vector<graph::TeamInfo> teams;
    MSTEAMS_TRY_ASSIGN(teams, ctx->directory.teams(token));
    graph::TeamInfo team;
    MSTEAMS_TRY_ASSIGN(team, find_team(teams, inv.words[0]));
    std::string wanted_channel = inv.words[1];
    for (std::size_t i = 2; i < inv.words.size(); ++i) {
        wanted_channel += " " + inv.words[i];  // a channel name with spaces
    }
    std::vector<graph::ChannelInfo> channels;
    MSTEAMS_TRY_ASSIGN(channels, ctx->directory.channels(token, team.id));
    graph::ChannelInfo teams_channel;
    MSTEAMS_TRY_ASSIGN(teams_channel, find_channel(channels, wanted_channel));

    auto const now = now_ms();
    // Reading starts at the link: what was written in Teams before stays there.
    store::Portal portal{teams_channel.id, store::PortalKind::channel, team.id, channel.id, inv.args.user_id, now, now};
    auto added = ctx->repos.portals->add(portal);
    if (!added) {
        if (added.error().code == ErrorCode::conflict) {
            return fail(ErrorCode::conflict, "This channel is already linked to Microsoft Teams.");
        }
        return std::unexpected(data_failure(added.error()));
    }
    if (added->mm_channel_id != channel.id) {
        auto const other = api.get_channel(added->mm_channel_id);
        return fail(ErrorCode::conflict, "That Teams channel is linked to another Mattermost channel already" +
                                             (other ? std::string(" (~") + other->name + ")" : std::string()) + ".");
    }
    log::info("a channel was linked to a Teams channel",
              {{"channel_id", channel.id}, {"teams_channel_id", teams_channel.id}, {"user_id", inv.args.user_id}});
    if (ctx->links_changed) {
        ctx->links_changed();
    }
    return "This channel is now linked to " + shown(teams_channel.display_name) + " in " + shown(team.display_name) +
           " in Microsoft Teams. Posts, thread replies, edits, deletions, reactions and files go both ways from now "
           "on.";
}

Result<std::string> unlink(mm::Api& api, ChannelSource const& source, Invocation const& inv) {
    if (!inv.words.empty()) {
        return fail(ErrorCode::invalid_argument, "`/msteams unlink` takes no arguments: run it in the linked channel.");
    }
    std::shared_ptr<ChannelContext const> ctx;
    MSTEAMS_TRY_ASSIGN(ctx, active(source));
    mm::Channel channel;
    MSTEAMS_TRY_ASSIGN(channel, linkable_channel(api, inv));
    auto const portal = ctx->repos.portals->by_channel(channel.id);
    if (!portal) {
        return std::unexpected(data_failure(portal.error()));
    }
    if (!*portal || (*portal)->kind != store::PortalKind::channel) {
        return fail(ErrorCode::not_found, "This channel is not linked to Microsoft Teams.");
    }
    // Both directions stop at once: the receiver and the senders ask for the link every time. The monitor deletes
    // the subscription.
    auto const removed = ctx->repos.portals->remove((*portal)->teams_thread_id);
    if (!removed) {
        return std::unexpected(data_failure(removed.error()));
    }
    log::info(
        "a channel was unlinked from Teams",
        {{"channel_id", channel.id}, {"teams_channel_id", (*portal)->teams_thread_id}, {"user_id", inv.args.user_id}});
    if (ctx->links_changed) {
        ctx->links_changed();
    }
    return std::string("This channel is no longer linked to Microsoft Teams: nothing more goes either way.");
}

Result<std::string> show(mm::Api& api, ChannelSource const& source, Invocation const& inv) {
    std::shared_ptr<ChannelContext const> ctx;
    MSTEAMS_TRY_ASSIGN(ctx, active(source));
    auto const portal = ctx->repos.portals->by_channel(inv.args.channel_id);
    if (!portal) {
        return std::unexpected(data_failure(portal.error()));
    }
    if (!*portal || (*portal)->kind != store::PortalKind::channel) {
        return std::string("This channel is not linked to Microsoft Teams.");
    }
    auto const& p = **portal;
    std::string team = "`" + p.teams_team_id + "`";
    std::string channel = "`" + p.teams_thread_id.str() + "`";
    // Names as the caller sees them, when they are connected (ids otherwise).
    if (auto token = ctx->access_token(inv.args.user_id)) {
        if (auto teams = ctx->directory.teams(*token)) {
            for (auto const& t : *teams) {
                if (t.id == p.teams_team_id) {
                    team = shown(t.display_name);
                }
            }
        }
        if (auto channels = ctx->directory.channels(*token, p.teams_team_id)) {
            for (auto const& c : *channels) {
                if (c.id == p.teams_thread_id) {
                    channel = shown(c.display_name);
                }
            }
        }
    }
    std::string by;
    if (!p.creator_mm_user_id.empty()) {
        if (auto creator = api.get_user(p.creator_mm_user_id)) {
            by = " by @" + creator->username;
        }
    }
    return "This channel is linked to the Microsoft Teams channel " + channel + " in the team " + team + " (linked" +
           by + ").";
}

}  // namespace

std::string suggestions_json(std::vector<Suggestion> const& suggestions) {
    auto list = nlohmann::json::array();
    for (auto const& s : suggestions) {
        list.push_back({{"Item", s.item}, {"Hint", s.hint}, {"HelpText", s.help}});
    }
    return list.dump();
}

Result<std::vector<Suggestion>> suggest_teams(ChannelContext const& ctx, MmUserId const& user,
                                              std::string const& typed) {
    auto token = ctx.access_token(user);
    if (!token) {
        return std::vector<Suggestion>{{"", "", "Connect your Teams account first: /msteams connect"}};
    }
    std::vector<graph::TeamInfo> teams;
    MSTEAMS_TRY_ASSIGN(teams, ctx.directory.teams(*token));
    std::vector<Suggestion> out;
    for (auto const& t : teams) {
        if (out.size() < k_max_suggestions &&
            (starts_with_any_case(t.display_name, typed) || starts_with_any_case(t.id, typed))) {
            out.push_back(Suggestion{t.id, "", t.display_name});
        }
    }
    return out;
}

Result<std::vector<Suggestion>> suggest_channels(ChannelContext const& ctx, MmUserId const& user,
                                                 std::string const& parsed, std::string const& typed) {
    // parsed: "msteams link <team> " (or with a leading slash).
    auto const words = strings::split_words(parsed);
    auto const at = std::find_if(words.begin(), words.end(), [](auto const& w) { return strings::iequals(w, "link"); });
    if (at == words.end() || at + 1 == words.end()) {
        return std::vector<Suggestion>();
    }
    auto token = ctx.access_token(user);
    if (!token) {
        return std::vector<Suggestion>{{"", "", "Connect your Teams account first: /msteams connect"}};
    }
    std::vector<graph::TeamInfo> teams;
    MSTEAMS_TRY_ASSIGN(teams, ctx.directory.teams(*token));
    auto const team = find_team(teams, *(at + 1));
    if (!team) {
        return std::vector<Suggestion>();
    }
    std::vector<graph::ChannelInfo> channels;
    MSTEAMS_TRY_ASSIGN(channels, ctx.directory.channels(*token, team->id));
    std::vector<Suggestion> out;
    for (auto const& c : channels) {
        if (out.size() < k_max_suggestions &&
            (starts_with_any_case(c.display_name, typed) || starts_with_any_case(c.id.str(), typed))) {
            out.push_back(Suggestion{c.id.str(), "", c.display_name});
        }
    }
    return out;
}

void add_channel_commands(Dispatcher& dispatcher, mm::Api& api, ChannelSource const& source,
                          std::string const& plugin_id) {
    auto const base = "plugins/" + plugin_id;
    dispatcher.add(SubCommand{"link",
                              "[team] [channel]",
                              "Link this channel to a Microsoft Teams channel: messages go both ways (channel admins).",
                              false,
                              [&api, source](Invocation const& inv) { return link(api, source, inv); },
                              {DynamicArgument{"The Microsoft Teams team", base + k_autocomplete_teams_path},
                               DynamicArgument{"The Microsoft Teams channel", base + k_autocomplete_channels_path}}});
    dispatcher.add(SubCommand{"unlink", "", "Unlink this channel from Microsoft Teams (channel admins).", false,
                              [&api, source](Invocation const& inv) { return unlink(api, source, inv); }});
    dispatcher.add(SubCommand{"show", "", "Show the Microsoft Teams channel this channel is linked to.", false,
                              [&api, source](Invocation const& inv) { return show(api, source, inv); }});
}

}  // namespace msteams::commands
