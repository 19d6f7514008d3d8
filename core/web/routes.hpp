#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "mm/api.hpp"
#include "store/repositories.hpp"
#include "web/router.hpp"

namespace msteams::metrics {
struct Counters;
}
namespace msteams::sync {
class Receiver;
}  // namespace msteams::sync

namespace msteams::web {

// What the webapp needs to know about the configuration (nothing secret).
struct WebappSettings {
    bool enforce_connected_accounts = false;
    bool allow_skip_connect_accounts = true;
    std::string chat_sync;
};

inline constexpr std::size_t k_max_notification_body = 1 << 20;  // Graph batches stay far below this
inline constexpr std::size_t k_max_validation_token = 4096;

// Installs the routes that exist in this build. `settings` returns nullopt while the plugin is not active.
void install_routes(Router& router, std::function<std::optional<WebappSettings>()> const& settings);

// /changes and /lifecycle (Microsoft Graph's notifications: the validation handshake, then the receiver; 503 while
// the plugin is not active, so that Graph sends them again), GET /api/v1/stats (system admins: the counters, and the
// dead-letter count when `repositories` returns them, i.e. while active) and GET /api/v1/dead-letters (the newest).
void install_notification_routes(Router& router, std::function<std::shared_ptr<sync::Receiver>()> const& receiver,
                                 std::shared_ptr<metrics::Counters> const& stats, std::shared_ptr<mm::Api> const& api,
                                 std::function<std::optional<store::Repositories>()> const& repositories = {});

// GET /api/v1/channel-bridged?channel_id=<id>: {"bridged": bool} — whether a DM or GM the asking user belongs to is
// bridged to a Teams chat (the webapp marks such conversations). Other channel types, channels the user is not a
// member of, and unknown ids all answer false, so the answer tells nobody anything about a conversation they are not
// in; 503 while the plugin is not active.
void install_channel_routes(Router& router, std::shared_ptr<mm::Api> const& api,
                            std::function<std::optional<store::Repositories>()> const& repositories);

// GET /metrics: the Prometheus exposition `render` writes. Requests from the server's metrics listener (the
// ServeMetrics hook) are served as they come: that listener is the admin's to protect. Through the plugin's own
// route only with HTTP Basic authentication whose password is `token()`, the configured metrics token (any user
// name); 404 while none is set, 401 for a wrong or missing one.
void install_metrics_route(Router& router, std::function<std::string()> const& token,
                           std::function<std::string()> const& render);

// GET /api/v1/status: what /msteams status shows system admins, as JSON (`render`); 403 for anyone else.
void install_status_route(Router& router, std::shared_ptr<mm::Api> const& api,
                          std::function<std::string()> const& render);

}  // namespace msteams::web
