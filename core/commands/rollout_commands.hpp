#pragma once

#include <functional>
#include <memory>
#include <string>

#include "commands/commands.hpp"
#include "mm/api.hpp"
#include "store/repositories.hpp"
#include "store/roster.hpp"
#include "sync/admission.hpp"
#include "sync/audience.hpp"
#include "sync/feed.hpp"

namespace msteams::commands {

// What the rollout sub-commands need from the configuration in force.
struct RolloutContext {
    store::Repositories repos;
    std::shared_ptr<store::Roster> roster;
    std::shared_ptr<sync::Audience> audience;
    std::shared_ptr<sync::Admission> admission;
    MmUserId bot_user_id;
    std::string report_url;  // the connected-users CSV
    int connected_users_allowed = 0;
    // The primary platform of users who never chose (defaultPrimaryPlatform), and the Teams activity feed of
    // Teams-primary users (muting and restoring Mattermost's notifications when they choose); feed may be null.
    store::Platform default_primary = store::Platform::mattermost;
    std::shared_ptr<sync::Feed> feed{};
};

// nullptr while the plugin is not active.
using RolloutSource = std::function<std::shared_ptr<RolloutContext const>()>;

// For users: primary (selective sync), notifications (notifications-only mode); `status` in a DM or GM also says
// whether that chat is bridged and why; `connect` refuses those the rollout controls leave out. For system admins:
// invite, uninvite (the invite pool) and connected-users (the report's link). Added after the account and admin
// sub-commands, whose `status` and `connect` it extends.
void add_rollout_commands(Dispatcher& dispatcher, mm::Api& api, RolloutSource const& source);

}  // namespace msteams::commands
