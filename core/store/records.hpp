#pragma once

#include <cstdint>
#include <string>
#include <vector>

// The rows of the bridge's tables (migrations 002 and later), as the repositories of store/repositories.hpp read and
// write them.
namespace msteams::store {

// A Teams user who has a Mattermost user without being connected (msteams_users).
struct TeamsUser {
    std::string teams_user_id;
    std::string mm_user_id;
    bool synthetic = false;
    std::string display_name;
    std::string email;
    std::int64_t created_at = 0;
    std::int64_t promoted_at = 0;
};

struct Portal {
    std::string teams_thread_id;
    std::string kind;  // "chat" or "channel"
    std::string teams_team_id;
    std::string mm_channel_id;
    std::string creator_mm_user_id;
    std::int64_t created_at = 0;
    std::int64_t cursor_ms = 0;
};

struct ChatInfo {
    std::string chat_id;
    std::vector<std::string> member_ids;  // sorted
    std::string web_url;
    std::int64_t checked_at = 0;
};

struct MessageLink {
    std::string teams_thread_id;
    std::string teams_message_id;
    std::string mm_post_id;  // "" while pending
    std::string mm_channel_id;
    std::string origin;  // "teams" or "mattermost"
    std::int64_t teams_modified_at = 0;
    std::int64_t pending_since = 0;
    bool deleted = false;
};

struct ReactionLink {
    std::string mm_post_id;
    std::string mm_user_id;
    std::string emoji_name;
    std::string teams_user_id;
    std::string reaction_type;
};

struct InboxItem {
    std::int64_t id = 0;
    std::int64_t received_at = 0;
    std::string subscription_id;
    std::string change_type;  // created, updated, deleted, catchup
    std::string thread_id;
    std::string message_id;
    int attempts = 0;
};

struct OutboxItem {
    std::int64_t id = 0;
    std::int64_t created_at = 0;
    std::string channel_id;
    std::string kind;  // post, edit, delete, react, unreact
    std::string post_id;
    std::string user_id;
    std::string payload;  // JSON
    std::string event_key;
    std::int64_t sort_at = 0;  // when it happened in Mattermost: items are sent in this order
    int attempts = 0;
};

// An inbox or outbox item that kept failing, set aside so that the rest of its conversation goes on.
struct DeadLetter {
    std::int64_t id = 0;
    std::string direction;  // "inbound" or "outbound"
    std::string thread_id;  // the Teams chat (inbound) or the Mattermost channel (outbound)
    std::string payload;    // JSON: what DeadLetters::retry puts back
    std::string error;
    int attempts = 0;
    std::int64_t first_failed_at = 0;
    std::int64_t last_failed_at = 0;
};

struct SubscriptionRow {
    std::string id;
    std::string kind;  // "chats", "user", "channel"
    std::string resource;
    std::string owner;
    std::int64_t expires_at = 0;
    std::int64_t created_at = 0;
    std::string state;  // active, reauthorize, removed, missed
    std::string client_state_hash;
};

}  // namespace msteams::store
