#pragma once

#include <functional>
#include <memory>

#include "mm/api.hpp"
#include "sync/logins.hpp"
#include "web/router.hpp"

namespace msteams::web {

// Returns the logins of the configuration in force, or nullptr while the plugin is not active.
using LoginsSource = std::function<std::shared_ptr<sync::Logins>()>;

// Called once an account is connected through /oauth-redirect (after the page is ready, before it is sent).
using OnConnected = std::function<void(sync::Connected const&)>;

// /connect, /oauth-redirect, /api/v1/connection-status, /api/v1/disconnect.
void install_account_routes(Router& router, LoginsSource const& logins_source, std::shared_ptr<mm::Api> const& api,
                            OnConnected const& on_connected = {});

}  // namespace msteams::web
