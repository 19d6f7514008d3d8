#pragma once

#include <string>
#include <string_view>

#include "common/log.hpp"
#include "common/result.hpp"
#include "mm/types.hpp"

namespace msteams::mm {

// The Mattermost server API, as the core uses it. Implemented over gRPC by rpc::ApiClient (the shim calls the real
// plugin API); tests use fakes. Mattermost's AppErrors come back as Error with the AppError's status code in
// http_status and its id and message in the text.
class Api {
public:
    virtual ~Api() = default;

    virtual void log(log::Level level, std::string_view message, log::Fields const& fields) noexcept = 0;

    // Replaces the plugin's settings map (PluginSettings.Plugins[id]); triggers a configuration change.
    [[nodiscard]] virtual Status save_plugin_config(std::string const& settings_json) = 0;

    [[nodiscard]] virtual Status register_command(Command const& command) = 0;
    [[nodiscard]] virtual Status unregister_command(std::string const& team_id, std::string const& trigger) = 0;

    // Creates the bot or updates it; returns its user id.
    [[nodiscard]] virtual Result<std::string> ensure_bot(Bot const& bot) = 0;

    [[nodiscard]] virtual Result<User> get_user(std::string const& id) = 0;
    [[nodiscard]] virtual Result<User> get_user_by_email(std::string const& email) = 0;
    [[nodiscard]] virtual Result<User> get_user_by_username(std::string const& username) = 0;
    [[nodiscard]] virtual Result<bool> has_permission_to(std::string const& user_id, std::string const& permission) = 0;

    [[nodiscard]] virtual Result<Channel> get_channel(std::string const& id) = 0;
    [[nodiscard]] virtual Result<Channel> get_direct_channel(std::string const& user_a, std::string const& user_b) = 0;

    [[nodiscard]] virtual Result<Post> create_post(Post const& post) = 0;
    [[nodiscard]] virtual Result<Post> send_ephemeral_post(std::string const& user_id, Post const& post) = 0;

    // `payload_json` must be a JSON object.
    [[nodiscard]] virtual Status publish_websocket_event(std::string const& event, std::string const& payload_json,
                                                         Broadcast const& broadcast) = 0;
};

}  // namespace msteams::mm
