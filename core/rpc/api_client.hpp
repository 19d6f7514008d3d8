#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "mm/api.hpp"

namespace msteams::rpc {

// mm::Api over the shim's MattermostApi gRPC service.
class ApiClient final : public mm::Api {
public:
    // `socket_path` is the shim's unix socket. Calls fail with ErrorCode::unavailable when the shim does not answer
    // within `deadline`.
    explicit ApiClient(std::string const& socket_path, std::chrono::milliseconds deadline = std::chrono::seconds(30));
    ~ApiClient() override;
    ApiClient(ApiClient const&) = delete;
    ApiClient& operator=(ApiClient const&) = delete;

    void log(log::Level level, std::string_view message, log::Fields const& fields) noexcept override;
    Status save_plugin_config(std::string const& settings_json) override;
    Status register_command(mm::Command const& command) override;
    Status unregister_command(std::string const& team_id, std::string const& trigger) override;
    Result<MmUserId> ensure_bot(mm::Bot const& bot) override;
    Result<mm::User> get_user(MmUserId const& id) override;
    Result<mm::User> get_user_by_email(std::string const& email) override;
    Result<mm::User> get_user_by_username(std::string const& username) override;
    Result<bool> has_permission_to(MmUserId const& user_id, std::string const& permission) override;
    [[nodiscard]] Result<bool> has_permission_to_channel(MmUserId const& user_id, MmChannelId const& channel_id,
                                                         std::string const& permission) override;
    Result<mm::Channel> get_channel(MmChannelId const& id) override;
    Result<mm::Channel> get_direct_channel(MmUserId const& user_a, MmUserId const& user_b) override;
    Result<mm::Post> create_post(mm::Post const& post) override;
    Result<mm::Post> send_ephemeral_post(MmUserId const& user_id, mm::Post const& post) override;
    Status publish_websocket_event(std::string const& event, std::string const& payload_json,
                                   mm::Broadcast const& broadcast) override;
    Result<mm::User> create_user(mm::User const& user, std::string const& password) override;
    Result<mm::User> update_user(mm::User const& user) override;
    Status update_user_active(MmUserId const& user_id, bool active) override;
    Result<std::vector<std::string>> get_team_ids_for_user(MmUserId const& user_id) override;
    Result<std::vector<std::string>> get_group_names_for_user(MmUserId const& user_id) override;
    Result<mm::Session> create_session(MmUserId const& user_id,
                                       std::map<std::string, std::string> const& props) override;
    Status add_team_member(std::string const& team_id, MmUserId const& user_id) override;
    Status update_preference(MmUserId const& user_id, std::string const& category, std::string const& name,
                             std::string const& value) override;
    Status set_profile_image(MmUserId const& user_id, std::string const& image) override;
    Status update_user_status(MmUserId const& user_id, std::string const& status) override;
    Result<mm::Channel> get_group_channel(std::vector<MmUserId> const& user_ids) override;
    Result<std::vector<MmUserId>> get_active_user_ids_in_role(std::string const& role) override;
    Result<std::vector<MmUserId>> get_channel_member_ids(MmChannelId const& channel_id, int page,
                                                         int per_page) override;
    Result<mm::ChannelMember> get_channel_member(MmChannelId const& channel_id, MmUserId const& user_id) override;
    Result<mm::UserStatus> get_user_status(MmUserId const& user_id) override;
    Result<mm::Post> get_post(MmPostId const& id) override;
    Result<mm::Post> update_post(mm::Post const& post) override;
    Status delete_post(MmPostId const& id) override;
    Result<std::vector<mm::Post>> get_posts_since(MmChannelId const& channel_id, std::int64_t since_ms) override;
    Result<mm::PostThread> get_post_thread(MmPostId const& id) override;
    Result<mm::Reaction> add_reaction(mm::Reaction const& reaction) override;
    Status remove_reaction(mm::Reaction const& reaction) override;
    Result<std::vector<mm::Reaction>> get_reactions(MmPostId const& post_id) override;
    // Data over rpc::kMaxFileBytes fails with ErrorCode::too_large without a call.
    Result<mm::FileInfo> upload_file(MmUserId const& user_id, MmChannelId const& channel_id, std::string const& name,
                                     std::string const& data) override;
    Result<mm::FileInfo> get_file_info(std::string const& file_id) override;
    Result<std::string> get_file(std::string const& file_id) override;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// A log sink that sends lines through the API to the Mattermost server log, falling back to stderr when the shim
// does not answer.
std::shared_ptr<log::Sink> make_api_log_sink(std::shared_ptr<mm::Api> api);

}  // namespace msteams::rpc
