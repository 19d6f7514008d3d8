#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

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
    [[nodiscard]] virtual Result<MmUserId> ensure_bot(Bot const& bot) = 0;

    [[nodiscard]] virtual Result<User> get_user(MmUserId const& id) = 0;
    [[nodiscard]] virtual Result<User> get_user_by_email(std::string const& email) = 0;
    [[nodiscard]] virtual Result<User> get_user_by_username(std::string const& username) = 0;
    [[nodiscard]] virtual Result<bool> has_permission_to(MmUserId const& user_id, std::string const& permission) = 0;
    // The permission in one channel (a channel admin has manage_channel_roles in theirs, say).
    [[nodiscard]] virtual Result<bool> has_permission_to_channel(MmUserId const& user_id, MmChannelId const& channel_id,
                                                                 std::string const& permission) = 0;

    [[nodiscard]] virtual Result<Channel> get_channel(MmChannelId const& id) = 0;
    [[nodiscard]] virtual Result<Channel> get_direct_channel(MmUserId const& user_a, MmUserId const& user_b) = 0;

    // Creates a user (synthetic users for Teams people without a Mattermost account). `password` may be empty when
    // auth_service is set.
    [[nodiscard]] virtual Result<User> create_user(User const& user, std::string const& password) = 0;
    // Updates username, names, email, auth_service/auth_data, props, and the notification settings in notify_props
    // (empty: none); the id selects the user.
    [[nodiscard]] virtual Result<User> update_user(User const& user) = 0;
    // Deactivates (`active` false) or reactivates a user.
    [[nodiscard]] virtual Status update_user_active(MmUserId const& user_id, bool active) = 0;
    // The ids of the (not deleted) teams the user is a member of.
    [[nodiscard]] virtual Result<std::vector<std::string>> get_team_ids_for_user(MmUserId const& user_id) = 0;
    // The names (lower case) of the user groups (custom or LDAP-synced) the user belongs to.
    [[nodiscard]] virtual Result<std::vector<std::string>> get_group_names_for_user(MmUserId const& user_id) = 0;
    // Signs the user in as Mattermost's login does (roles, CSRF token, the SSO session length), with `props` added to
    // the session. permission_denied (403) for a deactivated, bot or remote user.
    [[nodiscard]] virtual Result<Session> create_session(MmUserId const& user_id,
                                                         std::map<std::string, std::string> const& props) = 0;
    // Makes the user a member of the team (a member already stays one, without an error).
    [[nodiscard]] virtual Status add_team_member(std::string const& team_id, MmUserId const& user_id) = 0;
    // Sets one user preference (e.g. category "notifications", name "email_interval", value "0").
    [[nodiscard]] virtual Status update_preference(MmUserId const& user_id, std::string const& category,
                                                   std::string const& name, std::string const& value) = 0;

    // Replaces a user's profile image (JPEG, PNG or GIF bytes; Mattermost checks and scales them).
    [[nodiscard]] virtual Status set_profile_image(MmUserId const& user_id, std::string const& image) = 0;
    // Sets a user's status: "online", "away", "dnd" or "offline".
    [[nodiscard]] virtual Status update_user_status(MmUserId const& user_id, std::string const& status) = 0;

    // The group channel of exactly these users (3 to 8), created when missing.
    [[nodiscard]] virtual Result<Channel> get_group_channel(std::vector<MmUserId> const& user_ids) = 0;
    // Up to `per_page` member user ids, page by page (page 0 first).
    // Active users with the role (e.g. "system_admin"), at most the first 200.
    [[nodiscard]] virtual Result<std::vector<MmUserId>> get_active_user_ids_in_role(std::string const& role) = 0;
    [[nodiscard]] virtual Result<std::vector<MmUserId>> get_channel_member_ids(MmChannelId const& channel_id, int page,
                                                                               int per_page) = 0;
    // One membership (not_found when the user is not a member).
    [[nodiscard]] virtual Result<ChannelMember> get_channel_member(MmChannelId const& channel_id,
                                                                   MmUserId const& user_id) = 0;
    [[nodiscard]] virtual Result<UserStatus> get_user_status(MmUserId const& user_id) = 0;

    [[nodiscard]] virtual Result<Post> create_post(Post const& post) = 0;
    [[nodiscard]] virtual Result<Post> get_post(MmPostId const& id) = 0;
    // Replaces message, props and file ids of an existing post (edit).
    [[nodiscard]] virtual Result<Post> update_post(Post const& post) = 0;
    [[nodiscard]] virtual Status delete_post(MmPostId const& id) = 0;
    // Posts of a channel created or changed since `since_ms` (Unix ms), oldest first; deleted ones included.
    [[nodiscard]] virtual Result<std::vector<Post>> get_posts_since(MmChannelId const& channel_id,
                                                                    std::int64_t since_ms) = 0;
    // The thread of a post (its root or any reply), bounded: see PostThread. Who took part in it and whom they
    // mentioned (Mattermost makes them the thread's followers).
    [[nodiscard]] virtual Result<PostThread> get_post_thread(MmPostId const& id) = 0;

    [[nodiscard]] virtual Result<Reaction> add_reaction(Reaction const& reaction) = 0;
    [[nodiscard]] virtual Status remove_reaction(Reaction const& reaction) = 0;
    [[nodiscard]] virtual Result<std::vector<Reaction>> get_reactions(MmPostId const& post_id) = 0;

    // Stores a file for a later post in `channel_id` as `user_id`.
    [[nodiscard]] virtual Result<FileInfo> upload_file(MmUserId const& user_id, MmChannelId const& channel_id,
                                                       std::string const& name, std::string const& data) = 0;
    [[nodiscard]] virtual Result<FileInfo> get_file_info(std::string const& file_id) = 0;
    [[nodiscard]] virtual Result<std::string> get_file(std::string const& file_id) = 0;
    [[nodiscard]] virtual Result<Post> send_ephemeral_post(MmUserId const& user_id, Post const& post) = 0;

    // `payload_json` must be a JSON object.
    [[nodiscard]] virtual Status publish_websocket_event(std::string const& event, std::string const& payload_json,
                                                         Broadcast const& broadcast) = 0;
};

}  // namespace msteams::mm
