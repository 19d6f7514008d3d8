#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "store/roster.hpp"
#include "sync/audience.hpp"
#include "sync/feed.hpp"
#include "web/router.hpp"

namespace msteams::web {

// What the primary-platform route works with in the configuration in force.
struct PrimaryContext {
    std::shared_ptr<store::Roster> roster;
    std::shared_ptr<sync::Audience> audience;
    std::shared_ptr<sync::Feed> feed;  // may be null
    store::Platform default_primary = store::Platform::mattermost;
};

// nullopt while the plugin is not active.
using PrimarySource = std::function<std::optional<PrimaryContext>()>;

// GET and POST /api/v1/primary: the user's primary platform for the webapp's account settings, as
// {"primary": "mattermost"|"teams", "feed": whether Teams-primary users get activity-feed notifications,
//  "blocked": whether Microsoft refuses to notify this user}; POST takes {"primary": ...} (the same as
// /msteams primary).
void install_primary_route(Router& router, PrimarySource const& source);

}  // namespace msteams::web
