#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/ids.hpp"

// Mattermost's model, as far as the core uses it. Free-form JSON (props) stays a JSON string.
namespace msteams::mm {

struct User {
    MmUserId id;
    std::string username;
    std::string auth_data;
    std::string auth_service;
    std::string email;
    bool email_verified = false;
    std::string nickname;
    std::string first_name;
    std::string last_name;
    std::string position;
    bool is_bot = false;
    bool deactivated = false;  // only read, never sent
    std::map<std::string, std::string> props;
    // On create, overrides of Mattermost's default notification settings; on update, the settings to change. Read:
    // only "email" and "push" (what the bridge mutes for Teams-primary users) and "desktop_threads" ("all" or
    // "mention": the replies in followed threads the activity feed tells of).
    std::map<std::string, std::string> notify_props;
};

// A Mattermost session made for a user (Api::create_session). The token is a secret: never logged.
struct Session {
    std::string token;
    MmUserId user_id;
    std::string csrf;
    std::int64_t expires_at = 0;  // Unix ms
    std::string cookie_path;      // "/" or the SiteURL's subpath
};

struct Post {
    MmPostId id;
    std::int64_t create_at = 0;
    std::int64_t update_at = 0;
    std::int64_t delete_at = 0;
    MmUserId user_id;
    MmChannelId channel_id;
    MmPostId root_id;
    std::string message;
    std::string type;
    std::string props_json;
    std::vector<std::string> file_ids;
};

// A thread as GetPostThread answers it: the root first, then the newest replies oldest first, at most
// k_max_thread_posts posts in all; each post has only id, create_at, user_id, channel_id, root_id, message and type.
struct PostThread {
    std::vector<Post> posts;
    bool truncated = false;  // the oldest replies were left out
};
inline constexpr std::size_t k_max_thread_posts = 1000;  // = maxThreadPosts in the shim

// A user's membership of a channel, as far as notifications go.
struct ChannelMember {
    std::int64_t last_viewed_at = 0;  // Unix ms
    std::map<std::string, std::string> notify_props;
};

// A user's status: "online", "away", "dnd" or "offline".
struct UserStatus {
    std::string status;
    std::int64_t last_activity_at = 0;  // Unix ms
    bool manual = false;
};

struct Channel {
    MmChannelId id;
    std::int64_t delete_at = 0;
    std::string team_id;
    std::string type;  // "O", "P", "D", "G"
    std::string display_name;
    std::string name;
    MmUserId creator_id;
};

struct Reaction {
    MmUserId user_id;
    MmPostId post_id;
    std::string emoji_name;
    std::int64_t create_at = 0;
    MmChannelId channel_id;
};

struct FileInfo {
    std::string id;
    MmUserId user_id;
    MmPostId post_id;
    MmChannelId channel_id;
    std::string name;
    std::string extension;
    std::int64_t size = 0;
    std::string mime_type;
};

struct CommandArgs {
    MmUserId user_id;
    MmChannelId channel_id;
    std::string team_id;
    MmPostId root_id;
    std::string command;
    std::string site_url;
};

struct CommandResponse {
    std::string response_type = "ephemeral";  // or "in_channel"
    std::string text;
};

struct Command {
    std::string trigger;
    std::string display_name;
    std::string description;
    bool auto_complete = true;
    std::string auto_complete_desc;
    std::string auto_complete_hint;
    std::string autocomplete_data_json;
    std::string icon;  // SVG or PNG bytes
};

struct Bot {
    std::string username;
    std::string display_name;
    std::string description;
    std::string profile_image;  // PNG bytes; empty keeps the default
};

// Who receives a websocket event: one user, channel or team, or (explicitly) everyone.
struct Broadcast {
    MmUserId user_id;
    MmChannelId channel_id;
    std::string team_id;
    bool all_users = false;
};

}  // namespace msteams::mm
