#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ids.hpp"

// The rows of the bridge's tables (migrations 002 and later), as the repositories of store/repositories.hpp read and
// write them.
namespace msteams::store {

// The closed sets of the tables' text columns. Each is stored as the text `text()` gives (the migrations' CHECK
// constraints list the same words) and read back with `parse()`: these two are the only places that spell them.
enum class PortalKind { chat, channel };
enum class Origin { teams, mattermost };                       // where a bridged message was written first
enum class Change { created, updated, deleted, catchup };      // what an inbox item asks the inbound side to do
enum class OutboxKind { post, edit, remove, react, unreact };  // remove is stored as "delete"
enum class Direction { inbound, outbound };                    // Teams → Mattermost, Mattermost → Teams
enum class SubscriptionKind { chats, user, channel };          // /chats/getAllMessages, one user's, one channel's
enum class SubscriptionState { active, reauthorize, removed, missed };
enum class LegacyStep { settings, accounts, users, links, messages };  // the import of the official plugin's data
enum class UserSyncPhase { listing, sweeping, done };  // the user sync job's run: reading pages, checking the unlisted

template <class E>
struct Names;
template <>
struct Names<PortalKind> {
    static constexpr std::array<std::string_view, 2> words{"chat", "channel"};
};
template <>
struct Names<Origin> {
    static constexpr std::array<std::string_view, 2> words{"teams", "mattermost"};
};
template <>
struct Names<Change> {
    static constexpr std::array<std::string_view, 4> words{"created", "updated", "deleted", "catchup"};
};
template <>
struct Names<OutboxKind> {
    static constexpr std::array<std::string_view, 5> words{"post", "edit", "delete", "react", "unreact"};
};
template <>
struct Names<Direction> {
    static constexpr std::array<std::string_view, 2> words{"inbound", "outbound"};
};
template <>
struct Names<SubscriptionKind> {
    static constexpr std::array<std::string_view, 3> words{"chats", "user", "channel"};
};
template <>
struct Names<SubscriptionState> {
    static constexpr std::array<std::string_view, 4> words{"active", "reauthorize", "removed", "missed"};
};

template <>
struct Names<LegacyStep> {
    static constexpr std::array<std::string_view, 5> words{"settings", "accounts", "users", "links", "messages"};
};

template <>
struct Names<UserSyncPhase> {
    static constexpr std::array<std::string_view, 3> words{"listing", "sweeping", "done"};
};

template <class E>
[[nodiscard]] constexpr std::string_view text(E e) {
    return Names<E>::words.at(static_cast<std::size_t>(e));
}

template <class E>
[[nodiscard]] constexpr std::optional<E> parse(std::string_view word) {
    for (std::size_t i = 0; i < Names<E>::words.size(); ++i) {
        if (Names<E>::words[i] == word) {
            return static_cast<E>(i);
        }
    }
    return std::nullopt;
}

// A Teams user who has a Mattermost user without being connected (msteams_users).
struct TeamsUser {
    TeamsUserId teams_user_id;
    MmUserId mm_user_id;
    bool synthetic = false;
    std::string display_name;
    std::string email;
    std::int64_t created_at = 0;
    std::int64_t promoted_at = 0;
    // Migration 012 (the user sync job). The userPrincipalName ("" when unknown: rows of older builds).
    std::string upn{};
    // Unix ms the bridge deactivated the synthetic user (its Teams account disabled or deleted, or a guest while
    // guests are not synced); 0 while active. Only the bridge's own deactivations: it reactivates only those.
    std::int64_t deactivated_at{};
    // The Mattermost teams the bridge made the synthetic user a member of (sorted).
    std::vector<std::string> team_ids{};
    // The last user sync run whose listing of the tenant had this Teams user (0: none).
    std::int64_t seen_run{};
};

struct Portal {
    TeamsThreadId teams_thread_id;
    PortalKind kind = PortalKind::chat;
    std::string teams_team_id;
    MmChannelId mm_channel_id;
    MmUserId creator_mm_user_id;
    std::int64_t created_at = 0;
    std::int64_t cursor_ms = 0;
};

struct ChatInfo {
    TeamsThreadId chat_id;
    std::vector<TeamsUserId> member_ids;  // sorted
    std::string web_url;
    std::int64_t checked_at = 0;
};

struct MessageLink {
    TeamsThreadId teams_thread_id;
    TeamsMessageId teams_message_id;
    MmPostId mm_post_id;  // empty while pending
    MmChannelId mm_channel_id;
    Origin origin = Origin::teams;
    std::int64_t teams_modified_at = 0;
    std::int64_t pending_since = 0;
    bool deleted = false;
};

// The message id under which an outbound send is recorded while in flight, before Teams has given the message its
// id: "pending:<post id>", a key no Teams message has (Messages::mark_pending, sending_to and forget use it).
[[nodiscard]] inline TeamsMessageId send_in_flight(MmPostId const& post) {
    return TeamsMessageId("pending:" + post.str());
}

struct ReactionLink {
    MmPostId mm_post_id;
    MmUserId mm_user_id;
    std::string emoji_name;
    TeamsUserId teams_user_id;
    std::string reaction_type;
};

struct InboxItem {
    std::int64_t id = 0;
    std::int64_t received_at = 0;
    SubscriptionId subscription_id;
    Change change_type = Change::created;
    TeamsThreadId thread_id;
    TeamsMessageId message_id;  // empty for a catch-up read
    int attempts = 0;
    std::int64_t since_ms = 0;  // a catch-up of a chat first seen after downtime: read it from then on (Unix ms)
    // A rich notification's encryptedContent as it arrived (JSON, still encrypted); empty for a basic one.
    std::string content{};
    // Enqueued: not claimed before this (Unix ms; 0: at once). A rich item waits out the order hold here rather than
    // being claimed, found too young and put back.
    std::int64_t not_before{};
};

struct OutboxItem {
    std::int64_t id = 0;
    std::int64_t created_at = 0;
    MmChannelId channel_id;
    OutboxKind kind = OutboxKind::post;
    MmPostId post_id;
    MmUserId user_id;
    std::string payload;  // JSON
    std::string event_key;
    std::int64_t sort_at = 0;  // when it happened in Mattermost: items are sent in this order
    int attempts = 0;
};

// An event key the outbox was given (Outbox::seen), and whether its item is still queued.
struct SeenEvent {
    std::string event_key;
    bool queued = false;
};

// A node's last heartbeat (msteams_nodes), Unix ms on the database's clock.
struct NodeBeat {
    std::string node_id;
    std::int64_t seen_at = 0;
};

// An inbox or outbox item that kept failing, set aside so that the rest of its conversation goes on.
struct DeadLetter {
    std::int64_t id = 0;
    Direction direction = Direction::inbound;
    std::string thread_id;  // the Teams chat (inbound) or the Mattermost channel (outbound)
    std::string payload;    // JSON: what DeadLetters::retry puts back
    std::string error;
    int attempts = 0;
    std::int64_t first_failed_at = 0;
    std::int64_t last_failed_at = 0;
};

struct SubscriptionRow {
    SubscriptionId id;
    SubscriptionKind kind = SubscriptionKind::chats;
    std::string resource;
    std::string owner;
    std::int64_t expires_at = 0;
    std::int64_t created_at = 0;
    SubscriptionState state = SubscriptionState::active;
    std::string client_state_hash;
    std::string certificate_id{};  // rich subscriptions: the certificate it was created or last renewed with
};

// A connected Teams user, for the subscription planner.
struct ConnectedUser {
    TeamsUserId user;
    std::int64_t connected_at = 0;  // Unix ms
};

// A Teams user's activity: bridged messages in their chats, decayed; the value at `at` (Unix ms).
struct ActivityRow {
    TeamsUserId user;
    double activity = 0;
    std::int64_t at = 0;
};

// Graph refused a subscription for the organization's quota while the bridge owned `budget` of them.
struct QuotaRefusal {
    std::int64_t budget = 0;
    std::int64_t at = 0;  // Unix ms
};

// A certificate Graph encrypts rich notifications with (msteams_certificates).
struct CertificateRow {
    std::string id;  // the encryptionCertificateId
    std::string thumbprint;
    std::string certificate;         // base64 of the DER
    std::string private_key_sealed;  // PKCS#8 PEM, sealed with the id as context
    std::int64_t created_at = 0;     // Unix ms
    std::int64_t expires_at = 0;     // Unix ms
};

}  // namespace msteams::store
