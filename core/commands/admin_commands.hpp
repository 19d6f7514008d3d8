#pragma once

#include <functional>
#include <memory>
#include <string>

#include "commands/commands.hpp"
#include "mm/api.hpp"
#include "store/repositories.hpp"
#include "sync/people.hpp"

namespace msteams::commands {

// What the admin sub-commands need from the configuration in force.
struct AdminContext {
    store::Repositories repos;
    sync::SyntheticAuth auth;  // what /msteams promote sets: syntheticUserAuthService, syntheticUserAuthData
    // The bridge's state for system admins (Markdown), appended to /msteams status; may be empty.
    std::function<std::string()> status_details;
    // Why a Teams user is or is not on a rich subscription of their own (per-user and hybrid modes), for
    // `/msteams status @user`; empty in the global modes.
    std::function<Result<std::string>(TeamsUserId const&)> explain_subscription{};
};

// nullptr while the plugin is not active.
using AdminSource = std::function<std::shared_ptr<AdminContext const>()>;

// Whether `name` is a valid Mattermost username: 3–22 characters of a-z 0-9 . - _, starting with a letter.
[[nodiscard]] bool valid_username(std::string const& name);

// For system admins: show-links (the linked channels) and promote (a synthetic user becomes a normal user).
void add_admin_commands(Dispatcher& dispatcher, mm::Api& api, AdminSource const& source);

}  // namespace msteams::commands
