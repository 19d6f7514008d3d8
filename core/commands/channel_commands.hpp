#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "commands/commands.hpp"
#include "common/result.hpp"
#include "graph/client.hpp"
#include "mm/api.hpp"
#include "store/repositories.hpp"

// Linked channels: /msteams link, unlink and show, run in a Mattermost channel by its admins (or system admins), and
// the autocomplete of link's arguments (the Teams teams and channels the user can see, read with their own token).
namespace msteams::commands {

// The Teams side as the caller sees it, with their delegated token (graph::Client in production).
struct TeamsDirectory {
    std::function<Result<std::vector<graph::TeamInfo>>(std::string const& token)> teams;
    std::function<Result<std::vector<graph::ChannelInfo>>(std::string const& token, std::string const& team_id)>
        channels;
};

struct ChannelContext {
    store::Repositories repos;
    // The caller's Teams token: permission_denied or not_found when they are not connected.
    std::function<Result<std::string>(MmUserId const&)> access_token;
    TeamsDirectory directory;
    // A link was made or removed: the subscription monitor makes or deletes the channel's subscription now.
    std::function<void()> links_changed;
};

// nullptr while the plugin is not active.
using ChannelSource = std::function<std::shared_ptr<ChannelContext const>()>;

// Where Mattermost fetches link's argument suggestions (below the plugin's URL).
inline constexpr char const* k_autocomplete_teams_path = "/autocomplete/teams";
inline constexpr char const* k_autocomplete_channels_path = "/autocomplete/channels";

// link, unlink, show; `plugin_id` makes link's autocomplete URLs.
void add_channel_commands(Dispatcher& dispatcher, mm::Api& api, ChannelSource const& source,
                          std::string const& plugin_id);

// One suggestion of a dynamic autocomplete list (Mattermost's AutocompleteListItem).
struct Suggestion {
    std::string item;
    std::string hint;
    std::string help;
};
// The JSON array Mattermost expects from a dynamic list's FetchURL.
[[nodiscard]] std::string suggestions_json(std::vector<Suggestion> const& suggestions);
// The teams the user belongs to, those whose name or id starts with `typed` (any case); empty when they are not
// connected.
[[nodiscard]] Result<std::vector<Suggestion>> suggest_teams(ChannelContext const& ctx, MmUserId const& user,
                                                            std::string const& typed);
// The channels of the team named in `parsed` (what the user typed before: "msteams link <team> "), those whose name or
// id starts with `typed`.
[[nodiscard]] Result<std::vector<Suggestion>> suggest_channels(ChannelContext const& ctx, MmUserId const& user,
                                                               std::string const& parsed, std::string const& typed);

}  // namespace msteams::commands
