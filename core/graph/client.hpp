#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/ids.hpp"
#include "common/result.hpp"
#include "graph/entra.hpp"
#include "graph/observer.hpp"
#include "http/client.hpp"

// Microsoft Graph v1.0, typed: chats, chat messages, files, users and change-notification subscriptions.
//
// Every call takes the access token to use (a connected user's delegated token, or the app token from
// Entra::app_token()). The client keeps Graph's documented limits by design: token buckets per chat (reads, posts,
// other writes) and per tenant, which make callers wait their turn instead of collecting 429s; every try, retries
// included, takes its turn. A 429 or 503 that still arrives is retried after its Retry-After (a 429 also holds its
// chat's bucket until then, so the chat's other requests wait instead of collecting 429s), other 5xx and transport
// failures with exponential backoff, up to a deadline, after which the error (ErrorCode::unavailable, retry_after set)
// goes to the caller. Errors are graph_error()'s.
//
// Graph has no idempotency key, so a write that must not happen twice (a message, a group chat, a subscription) is
// repeated only when Graph provably did not apply it: the connection failed before the request was sent, or a 429,
// or a 503 with Retry-After (throttling, documented as not applied). After a timeout or a connection lost once the
// request was sent, or another 5xx, it fails with ErrorCode::unavailable and Error::outcome_unknown set: the caller
// looks for the effect before trying again.
namespace msteams::graph {

struct Identity {
    TeamsUserId id;
    std::string display_name;
};

struct ChatMember {
    TeamsUserId user_id;  // empty for members who are not Entra users
    std::string display_name;
    std::string email;
    std::vector<std::string> roles;  // "owner", "guest"
};

struct Chat {
    TeamsThreadId id;
    std::string chat_type;  // "oneOnOne", "group", "meeting"
    std::string topic;
    std::string web_url;
    std::int64_t last_updated_at = 0;  // lastUpdatedDateTime, Unix ms (0 when absent)
    std::vector<ChatMember> members;   // filled when asked for ($expand=members)
};

struct Mention {
    int id = 0;
    std::string text;     // mentionText
    TeamsUserId user_id;  // empty when a mention is not of a user (a tag, a channel, everyone)
    std::string display_name;
};

struct Attachment {
    std::string id;
    std::string content_type;  // "reference" (a file), "messageReference" (quoted reply), cards...
    std::string content_url;
    std::string content;  // JSON text for messageReference and cards
    std::string name;
};

struct Reaction {
    std::string reaction_type;  // "like", "heart", ... or a Unicode emoji
    TeamsUserId user_id;
    std::int64_t created_at = 0;  // Unix ms
};

struct HostedContentRef {
    std::string id;
};

struct ChatMessage {
    TeamsMessageId id;
    TeamsThreadId chat_id;
    TeamsMessageId reply_to_id;
    std::string message_type;           // "message", "systemEventMessage", ...
    std::int64_t created_at = 0;        // Unix ms
    std::int64_t last_modified_at = 0;  // Unix ms
    std::int64_t last_edited_at = 0;    // Unix ms; 0 if never edited
    std::int64_t deleted_at = 0;        // Unix ms; 0 if not deleted
    Identity from;                      // empty id for system or application senders
    std::string body_content_type;      // "html" or "text"
    std::string body;
    std::string subject;
    std::vector<Attachment> attachments;
    std::vector<Mention> mentions;
    std::vector<Reaction> reactions;
    std::string raw_json;  // the message as Graph sent it (for the converter CLI and debugging)
};

// Parses one chatMessage JSON object (a GET answer, or a decrypted rich notification). invalid_argument when it is
// not one.
[[nodiscard]] Result<ChatMessage> parse_chat_message(std::string const& text);

// A Teams user's presence (GET /communications/getPresencesByUserId): availability is Available, AvailableIdle,
// Away, BeRightBack, Busy, BusyIdle, DoNotDisturb, Offline or PresenceUnknown.
struct Presence {
    TeamsUserId id;
    std::string availability;
    std::string activity;
};

// A client secret of the app registration as Graph lists it: never the secret, only its first characters.
struct AppSecret {
    std::string hint;         // the secret's first three characters
    std::int64_t end_at = 0;  // Unix ms it expires
};

// The most users one getPresencesByUserId request may ask about.
inline constexpr std::size_t k_max_presence_ids = 650;
// The largest profile photo the bridge takes (Graph's largest size, 648×648, is far smaller).
inline constexpr std::size_t k_max_photo_bytes = std::size_t{4} << 20;

struct GraphUser {
    TeamsUserId id;
    std::string display_name;
    std::string mail;
    std::string user_principal_name;
    std::string user_type;  // "Member" or "Guest"
    bool account_enabled = true;
};

// A page of the tenant's users (GET /users) and the link to the next one ("" after the last).
struct UserPage {
    std::vector<GraphUser> users;
    std::string next_link;
};

// How far back from where a channel is read its roots are looked at for new replies (list_oldest_messages_since):
// Graph lists a channel's roots with their replies and no filter, so a read forward pages back this far.
inline constexpr std::int64_t k_channel_thread_window_ms = 60LL * 60 * 1000;

// The most users one GET /users page may hold ($top; Graph refuses 1,000).
inline constexpr std::size_t k_max_user_page = 999;

struct Subscription {
    SubscriptionId id;
    std::string resource;
    std::string change_type;
    std::string notification_url;
    std::string lifecycle_notification_url;
    std::string client_state;     // secret; never logged
    std::int64_t expires_at = 0;  // Unix ms
    bool include_resource_data = false;
    std::string encryption_certificate;  // base64 DER
    std::string encryption_certificate_id;
};

// A Teams conversation as Graph addresses it: a chat by its id (/chats/{id}), a channel by its team and its id
// (/teams/{team}/channels/{id}). A chat id converts implicitly, so that chat callers name only the chat.
//
// In a channel, a reply is addressed through its root (…/messages/{root}/replies/{reply}): the client gives a reply
// the id "<root>/<reply>" (channel_reply_id), which callers keep and hand back like any message id (the message map,
// the inbox), and takes it apart again for the request. A root's id is its own.
struct Thread {
    TeamsThreadId id;
    std::string team_id;  // channels only (a GUID); empty for a chat

    Thread() = default;
    Thread(TeamsThreadId chat) : id(std::move(chat)) {}  // NOLINT(google-explicit-constructor): a chat is a thread
    Thread(std::string team, TeamsThreadId channel) : id(std::move(channel)), team_id(std::move(team)) {}
    [[nodiscard]] bool channel() const noexcept { return !team_id.empty(); }
};

// The id under which the bridge knows a channel reply: "<root>/<reply>" (unique in its channel, and it says where
// the reply is). A root keeps its own id.
// (Inline: the receiver, fuzzed without the client, names replies so too.)
[[nodiscard]] inline TeamsMessageId channel_reply_id(TeamsMessageId const& root, TeamsMessageId const& reply) {
    return TeamsMessageId(root.str() + "/" + reply.str());
}
// The root of a channel message id ("<root>/<reply>" → root; a root → itself).
[[nodiscard]] inline TeamsMessageId channel_root_of(TeamsMessageId const& id) {
    auto const slash = id.str().find('/');
    return slash == std::string::npos ? id : TeamsMessageId(id.str().substr(0, slash));
}
// Whether the id is a channel reply's ("<root>/<reply>").
[[nodiscard]] inline bool is_channel_reply(TeamsMessageId const& id) { return id.str().find('/') != std::string::npos; }

// A team or a channel as the user sees it (GET /me/joinedTeams, /teams/{t}/channels).
struct TeamInfo {
    std::string id;
    std::string display_name;
};
struct ChannelInfo {
    TeamsThreadId id;
    std::string display_name;
    std::string membership_type;  // standard, private, shared
};

// An outgoing chat message body.
struct NewMessage {
    // Channels: the root message this is a reply to (POST …/messages/{root}/replies); empty for a new root (and in
    // chats).
    TeamsMessageId reply_to{};
    std::string html;
    std::vector<Mention> mentions;
    std::vector<Attachment> attachments;  // reference attachments (files) and messageReference (quoted replies)
    struct Hosted {
        std::string temporary_id;
        std::string content_type;
        std::string bytes;
    };
    std::vector<Hosted> hosted_contents;
};

struct DriveItem {
    std::string id;
    std::string name;
    std::string web_url;
    std::string etag;  // "{GUID},n": the GUID is the Teams attachment id
    std::int64_t size = 0;
};

// A notification in a user's Teams activity feed (POST /users/{id}/teamwork/sendActivityNotification) with a text
// topic: `activity_type` is one the Teams app's manifest declares, with its template's parameters.
struct ActivityNotification {
    std::string topic;    // topic.value: what the notification is about (a channel's name)
    std::string web_url;  // topic.webUrl: where a click goes (a deep link into the app)
    std::string activity_type;
    std::string preview;  // previewText; Teams shows at most k_max_preview_chars characters
    std::vector<std::pair<std::string, std::string>> template_parameters;
    // Another notification of the same app with the same chain id replaces this one in the feed (0: none): a send
    // repeated after a crash replaces instead of adding.
    std::int64_t chain_id = 0;
};
inline constexpr std::size_t k_max_preview_chars = 150;
// sendActivityNotificationToRecipients: at most this many recipients in one request, and an app token valid at
// least this much longer (Microsoft answers 412 otherwise).
inline constexpr std::size_t k_max_activity_recipients = 100;
inline constexpr std::chrono::minutes k_recipients_token_validity{45};

struct Limits {
    // How long a call may wait for its turn plus retries before it fails with unavailable.
    std::chrono::milliseconds deadline{60'000};
    // How long one request may take (connect, send, answer); file transfers get at least 5 minutes.
    std::chrono::milliseconds request_timeout{30'000};
    // Largest file downloaded (hosted contents, attachments).
    std::int64_t max_download_bytes = 50LL << 20;
    // Per-chat and per-tenant budgets (Graph's documented chat limits; lower them for tests). Each bucket allows a
    // burst of max(1, rate) requests; 0 or less switches that budget off.
    double chat_reads_per_second = 1.0;   // GET message(s) per chat
    double chat_posts_per_second = 1.0;   // POST message per chat
    double chat_writes_per_second = 1.0;  // edit, delete, react per chat
    double tenant_reads_per_second = 20.0;
    double tenant_posts_per_second = 20.0;
    // Channels: every request about a team's channel messages also takes a turn of the team's budget (Graph allows an
    // app 4 requests per second on one team).
    double team_requests_per_second = 4.0;
    // Activity-feed notifications per tenant (Graph's documented 5 per second for an app), and bulk ones
    // (sendActivityNotificationToRecipients: 2 requests per second, a separate budget).
    double feed_per_second = 5.0;
    double feed_bulk_per_second = 2.0;
};

// Counts of what the client did, by kind, for metrics and the benchmark.
struct Counters {
    std::uint64_t requests = 0;
    std::uint64_t message_gets = 0;
    std::uint64_t message_lists = 0;
    std::uint64_t message_posts = 0;
    std::uint64_t message_writes = 0;
    std::uint64_t chat_gets = 0;
    std::uint64_t file_downloads = 0;
    std::uint64_t file_uploads = 0;
    std::uint64_t subscription_calls = 0;
    std::uint64_t user_gets = 0;
    std::uint64_t application_reads = 0;  // the app registration's own secrets
    std::uint64_t photo_gets = 0;
    std::uint64_t presence_reads = 0;
    std::uint64_t activity_notifications = 0;       // sendActivityNotification
    std::uint64_t activity_bulk_notifications = 0;  // sendActivityNotificationToRecipients
    std::uint64_t app_installs = 0;                 // installedApps and the app catalog
    std::uint64_t throttled = 0;                    // 429 answers received
    std::uint64_t retries = 0;
    std::uint64_t waited_ms = 0;  // time spent waiting for a rate-limiter turn
};

// The chats and channel messages of Graph as the bridge's pipelines use them (delegated tokens; channel messages
// are read with the app token too): Client implements it, unit tests fake it in memory. The message calls take a
// Thread: a chat, or a linked channel (see Thread for its replies).
class ChatApi {
public:
    virtual ~ChatApi() = default;

    // Chats
    [[nodiscard]] virtual Result<Chat> get_chat(std::string const& token, TeamsThreadId const& chat_id,
                                                bool with_members) = 0;
    // POST /chats: oneOnOne with two members (idempotent) or group with more; the caller is one of `member_ids`.
    [[nodiscard]] virtual Result<Chat> create_chat(std::string const& token, std::string const& chat_type,
                                                   std::vector<TeamsUserId> const& member_ids) = 0;
    // The caller's chats with members, for finding an existing group chat ($expand=members, all pages up to
    // `max_chats`).
    [[nodiscard]] virtual Result<std::vector<Chat>> list_my_chats(std::string const& token, std::size_t max_chats) = 0;

    // Chat messages
    [[nodiscard]] virtual Result<ChatMessage> get_message(std::string const& token, Thread const& chat_id,
                                                          TeamsMessageId const& message_id) = 0;
    // Messages of a chat modified after `after_ms` (Unix ms), oldest first, at most `max_messages` (the newest
    // are kept when there are more; `truncated` says so). Graph compares more precisely than the milliseconds it
    // shows, so messages of after_ms's own millisecond may come back again: callers deduplicate.
    struct Page {
        std::vector<ChatMessage> messages;
        bool truncated = false;
    };
    [[nodiscard]] virtual Result<Page> list_messages_since(std::string const& token, Thread const& chat_id,
                                                           std::int64_t after_ms, std::size_t max_messages) = 0;
    // The same, keeping the oldest `max_messages` when there are more (`truncated`: newer ones remain). Pages through
    // everything since `after_ms` holding at most `max_messages`: a caller reads any gap in order, chunk by chunk,
    // reading again from the newest of each chunk.
    // In a channel (which Graph lists without $filter, roots newest first with their replies): the roots and replies
    // changed after `after_ms`, among the roots written since an hour before it (k_channel_thread_window_ms): a
    // reply to an older root is found by its notification only.
    [[nodiscard]] virtual Result<Page> list_oldest_messages_since(std::string const& token, Thread const& chat_id,
                                                                  std::int64_t after_ms, std::size_t max_messages) = 0;
    [[nodiscard]] virtual Result<ChatMessage> send_message(std::string const& token, Thread const& chat_id,
                                                           NewMessage const& message) = 0;
    [[nodiscard]] virtual Status update_message(std::string const& token, Thread const& chat_id,
                                                TeamsMessageId const& message_id, NewMessage const& message) = 0;
    // POST /users/{user}/chats/{chat}/messages/{id}/softDelete (the caller is `user_id`).
    [[nodiscard]] virtual Status soft_delete_message(std::string const& token, TeamsUserId const& user_id,
                                                     Thread const& chat_id, TeamsMessageId const& message_id) = 0;
    [[nodiscard]] virtual Status set_reaction(std::string const& token, Thread const& chat_id,
                                              TeamsMessageId const& message_id, std::string const& reaction_type) = 0;
    [[nodiscard]] virtual Status unset_reaction(std::string const& token, Thread const& chat_id,
                                                TeamsMessageId const& message_id, std::string const& reaction_type) = 0;

    // Files: a hosted content's bytes (pasted images) and a reference attachment's bytes (contentUrl is a
    // SharePoint/OneDrive URL, fetched through /shares/u!{base64url}/driveItem/content). too_large over the limit.
    [[nodiscard]] virtual Result<std::string> get_hosted_content(std::string const& token, Thread const& chat_id,
                                                                 TeamsMessageId const& message_id,
                                                                 std::string const& hosted_content_id) = 0;
    [[nodiscard]] virtual Result<std::string> download_shared(std::string const& token,
                                                              std::string const& content_url) = 0;
    // PUT /me/drive/root:/Microsoft Teams Chat Files/Mattermost/{key}/{name}:/content, then an organization view
    // link so chat members can open it. `key` identifies the source file (e.g. its Mattermost file id), so that
    // uploading it again (a retry) replaces the same item: same id, same link, same Teams attachment id.
    [[nodiscard]] virtual Result<DriveItem> upload_chat_file(std::string const& token, std::string const& key,
                                                             std::string const& name, std::string const& bytes) = 0;
};

// Graph's change-notification subscriptions as the monitor uses them: Client implements it, unit tests fake it.
class SubscriptionApi {
public:
    virtual ~SubscriptionApi() = default;

    // Subscriptions (app token for chats/getAllMessages)
    [[nodiscard]] virtual Result<Subscription> create_subscription(std::string const& token,
                                                                   Subscription const& wanted) = 0;
    // PATCHes the expiry; with a certificate (base64 DER) and its id, rotates the rich subscription's certificate too.
    [[nodiscard]] virtual Result<Subscription> renew_subscription(std::string const& token, SubscriptionId const& id,
                                                                  std::int64_t expires_at,
                                                                  std::string const& certificate,
                                                                  std::string const& certificate_id) = 0;
    [[nodiscard]] virtual Status reauthorize_subscription(std::string const& token, SubscriptionId const& id) = 0;
    [[nodiscard]] virtual Status delete_subscription(std::string const& token,
                                                     SubscriptionId const& id) = 0;  // 404 → ok
    [[nodiscard]] virtual Result<std::vector<Subscription>> list_subscriptions(std::string const& token) = 0;
};

class Client final : public ChatApi, public SubscriptionApi {
public:
    // `graph_base` is e.g. https://graph.microsoft.com (no /v1.0).
    // `observer` (optional) is told of every request, retry and rate-limiter wait.
    Client(std::shared_ptr<http::Client> http, std::string graph_base, Limits limits = {},
           std::shared_ptr<Observer> observer = nullptr);
    ~Client();
    Client(Client const&) = delete;
    Client& operator=(Client const&) = delete;

    // Ends every wait for a rate-limiter turn or a retry at once, and every later one: those calls fail with
    // ErrorCode::unavailable (what was never sent can be tried again after a restart). For a fast shutdown.
    void stop() noexcept;

    // Users (app token)
    [[nodiscard]] Result<GraphUser> get_user(std::string const& token, std::string const& id_or_upn);
    // The users whose mail or userPrincipalName is `address` (case-insensitive, as Graph compares them): GET /users
    // with $filter=mail eq '…' or userPrincipalName eq '…'. Graph reads a user by id or UPN only, and many tenants
    // give people a mail address other than their UPN.
    [[nodiscard]] Result<std::vector<GraphUser>> find_users_by_address(std::string const& token,
                                                                       std::string const& address);
    // One page of the tenant's users with the properties GraphUser holds. `next_link` is the previous page's (it must
    // point at this Graph host), "" for the first page of `page_size` users (1 to k_max_user_page).
    [[nodiscard]] Result<UserPage> list_users(std::string const& token, std::string const& next_link,
                                              std::size_t page_size = 100);
    // The user's profile photo (its largest size), nullopt when they have none.
    [[nodiscard]] Result<std::optional<std::string>> get_user_photo(std::string const& token, TeamsUserId const& id);
    // Presence of up to k_max_presence_ids users in one request; users Graph does not know are left out.
    [[nodiscard]] Result<std::vector<Presence>> get_presences(std::string const& token,
                                                              std::vector<TeamsUserId> const& ids);
    // The client secrets of the app registration `client_id` (app token; needs Application.Read.All, else
    // permission_denied).
    [[nodiscard]] Result<std::vector<AppSecret>> list_app_secrets(std::string const& token,
                                                                  std::string const& client_id);

    // Teams and channels as a user sees them (delegated token): the teams they belong to, a team's channels, one
    // channel (not_found or permission_denied when the user cannot see it). At most `max` of each.
    [[nodiscard]] Result<std::vector<TeamInfo>> list_joined_teams(std::string const& token, std::size_t max = 500);
    [[nodiscard]] Result<std::vector<ChannelInfo>> list_channels(std::string const& token, std::string const& team_id,
                                                                 std::size_t max = 500);
    [[nodiscard]] Result<TeamInfo> get_team(std::string const& token, std::string const& team_id);
    [[nodiscard]] Result<ChannelInfo> get_channel(std::string const& token, std::string const& team_id,
                                                  TeamsThreadId const& channel_id);
    // Activity feed (app token with TeamsActivity.Send; the app installed for the user). permission_denied (403)
    // when Microsoft refuses: the app is not installed for the user, or the permission was not granted. Repeated
    // freely when the outcome is unknown: a chain id makes the repeat replace the first.
    [[nodiscard]] Status send_activity_notification(std::string const& token, TeamsUserId const& user_id,
                                                    ActivityNotification const& notification);
    // The same notification to 1 to k_max_activity_recipients users in one request (bulk budget); the token must
    // be valid k_recipients_token_validity longer. Microsoft accepts the request as a whole and skips, silently, a
    // recipient it will not notify; permission_denied only when it refuses the whole request.
    [[nodiscard]] Status send_activity_notification_to_recipients(std::string const& token,
                                                                  std::vector<TeamsUserId> const& user_ids,
                                                                  ActivityNotification const& notification);
    // The app catalog's id of the Teams app whose manifest id is `external_id` (nullopt when it is not published).
    [[nodiscard]] Result<std::optional<std::string>> find_catalog_app(std::string const& token,
                                                                      std::string const& external_id);
    // Installs the catalog app for the user (TeamsAppInstallation.ReadWriteSelfForUser.All or
    // ...ReadWriteForUser.All); installed already counts as done. permission_denied when Microsoft refuses.
    [[nodiscard]] Status install_app_for_user(std::string const& token, TeamsUserId const& user_id,
                                              std::string const& catalog_app_id);

    // Chats
    [[nodiscard]] Result<Chat> get_chat(std::string const& token, TeamsThreadId const& chat_id,
                                        bool with_members) override;
    // POST /chats: oneOnOne with two members (idempotent) or group with more; the caller is one of `member_ids`.
    [[nodiscard]] Result<Chat> create_chat(std::string const& token, std::string const& chat_type,
                                           std::vector<TeamsUserId> const& member_ids) override;
    // The caller's chats with members, for finding an existing group chat ($expand=members, all pages up to
    // `max_chats`).
    [[nodiscard]] Result<std::vector<Chat>> list_my_chats(std::string const& token, std::size_t max_chats) override;

    // Chat messages
    [[nodiscard]] Result<ChatMessage> get_message(std::string const& token, Thread const& chat_id,
                                                  TeamsMessageId const& message_id) override;
    [[nodiscard]] Result<Page> list_messages_since(std::string const& token, Thread const& chat_id,
                                                   std::int64_t after_ms, std::size_t max_messages) override;
    // The same, keeping the oldest `max_messages` when there are more (`truncated`: newer ones remain). Pages through
    // everything since `after_ms` holding at most `max_messages`: a caller reads any gap in order, chunk by chunk,
    // reading again from the newest of each chunk.
    [[nodiscard]] Result<Page> list_oldest_messages_since(std::string const& token, Thread const& chat_id,
                                                          std::int64_t after_ms, std::size_t max_messages) override;
    [[nodiscard]] Result<ChatMessage> send_message(std::string const& token, Thread const& chat_id,
                                                   NewMessage const& message) override;
    [[nodiscard]] Status update_message(std::string const& token, Thread const& chat_id,
                                        TeamsMessageId const& message_id, NewMessage const& message) override;
    // POST /users/{user}/chats/{chat}/messages/{id}/softDelete (the caller is `user_id`).
    [[nodiscard]] Status soft_delete_message(std::string const& token, TeamsUserId const& user_id,
                                             Thread const& chat_id, TeamsMessageId const& message_id) override;
    [[nodiscard]] Status set_reaction(std::string const& token, Thread const& chat_id, TeamsMessageId const& message_id,
                                      std::string const& reaction_type) override;
    [[nodiscard]] Status unset_reaction(std::string const& token, Thread const& chat_id,
                                        TeamsMessageId const& message_id, std::string const& reaction_type) override;

    // Files: a hosted content's bytes (pasted images) and a reference attachment's bytes (contentUrl is a
    // SharePoint/OneDrive URL, fetched through /shares/u!{base64url}/driveItem/content). too_large over the limit.
    [[nodiscard]] Result<std::string> get_hosted_content(std::string const& token, Thread const& chat_id,
                                                         TeamsMessageId const& message_id,
                                                         std::string const& hosted_content_id) override;
    [[nodiscard]] Result<std::string> download_shared(std::string const& token,
                                                      std::string const& content_url) override;
    // PUT /me/drive/root:/Microsoft Teams Chat Files/Mattermost/{key}/{name}:/content, then an organization view
    // link so chat members can open it. `key` identifies the source file (e.g. its Mattermost file id), so that
    // uploading it again (a retry) replaces the same item: same id, same link, same Teams attachment id.
    [[nodiscard]] Result<DriveItem> upload_chat_file(std::string const& token, std::string const& key,
                                                     std::string const& name, std::string const& bytes) override;

    // Subscriptions (app token for chats/getAllMessages)
    [[nodiscard]] Result<Subscription> create_subscription(std::string const& token,
                                                           Subscription const& wanted) override;
    [[nodiscard]] Result<Subscription> renew_subscription(std::string const& token, SubscriptionId const& id,
                                                          std::int64_t expires_at, std::string const& certificate,
                                                          std::string const& certificate_id) override;
    [[nodiscard]] Status reauthorize_subscription(std::string const& token, SubscriptionId const& id) override;
    [[nodiscard]] Status delete_subscription(std::string const& token, SubscriptionId const& id) override;  // 404 → ok
    [[nodiscard]] Result<std::vector<Subscription>> list_subscriptions(std::string const& token) override;

    [[nodiscard]] Counters counters() const;

private:
    enum class Keep { newest, oldest };
    [[nodiscard]] Result<Page> list_messages(std::string const& token, Thread const& chat_id, std::int64_t after_ms,
                                             std::size_t max_messages, Keep keep);
    [[nodiscard]] Result<Page> list_channel_messages(std::string const& token, Thread const& channel,
                                                     std::int64_t after_ms, std::size_t max_messages, Keep keep);

    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace msteams::graph
