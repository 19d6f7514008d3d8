#pragma once

#include <functional>
#include <optional>
#include <string>

#include "web/router.hpp"

namespace msteams::web {

// What the webapp needs to know about the configuration (nothing secret).
struct WebappSettings {
    bool enforce_connected_accounts = false;
    bool allow_skip_connect_accounts = true;
    std::string chat_sync;
    bool linked_channels = false;
};

inline constexpr std::size_t k_max_notification_body = 1 << 20;  // Graph batches stay far below this
inline constexpr std::size_t k_max_validation_token = 4096;

// Installs the routes that exist in this build. `settings` returns nullopt while the plugin is not active.
void install_routes(Router& router, std::function<std::optional<WebappSettings>()> settings);

}  // namespace msteams::web
