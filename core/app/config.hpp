#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace msteams::app {

// The server settings the core needs, as the shim reads them from Mattermost's configuration.
struct ServerSettings {
    std::string site_url;
    std::string sql_driver_name;
    std::string sql_data_source;  // secret
    std::int64_t max_file_size = 0;
    std::string server_version;
    std::string bundle_path;
    std::string plugin_version;
    std::string diagnostic_id;
    std::string log_level;  // the server's most verbose log level; "" = unknown
    std::string node_name;  // this server's name in a cluster (the metrics' node label)
    std::int64_t core_restarts = 0;
    std::string frame_ancestors;  // ServiceSettings.FrameAncestors
};

enum class Cloud { global, usgov, usgovdod, china, custom };
enum class ChatSync { mirror, notifications, off };
// Where a connected user who never chose reads Mattermost's notifications (defaultPrimaryPlatform).
enum class PrimaryPlatform { mattermost, teams };
// How the bridge hears of Teams chat messages: `global`, one tenant-wide subscription with basic notifications (each
// message read with a GET); `global_rich`, the same subscription with the message inside the notification, encrypted
// for the bridge (no GET); `per_user`, a rich subscription per connected user while the budget lasts (in the order
// they connected) beside the basic global one for the rest; `hybrid`, the same with the budget given to the users
// whose chats are busiest (subscriptions::Planner).
enum class SubscriptionMode { global, global_rich, per_user, hybrid };
enum class SyntheticAuthService { saml, ldap };
enum class SyntheticAuthData { id, mail, user_principal_name };

char const* to_string(Cloud c) noexcept;
char const* to_string(ChatSync c) noexcept;
char const* to_string(SubscriptionMode m) noexcept;

// A validated, immutable snapshot of everything configurable. Built only by parse_config.
struct Config {
    // Entra app registration
    std::string tenant_id;
    std::string client_id;
    std::string client_secret;   // secret
    std::string encryption_key;  // secret
    std::string webhook_secret;  // secret
    std::string metrics_token;   // secret; empty: the plugin's /metrics route is closed
    Cloud cloud = Cloud::global;
    std::string login_base_url;  // e.g. https://login.microsoftonline.com (no trailing slash)
    std::string graph_base_url;  // e.g. https://graph.microsoft.com (no trailing slash, no /v1.0)
    // The cloud's Teams web client, for links into Teams (no trailing slash): e.g. https://gov.teams.microsoft.us.
    std::string teams_web_url = "https://teams.microsoft.com";
    // The CSP frame-ancestors sources of the cloud's Teams (and Microsoft 365) clients: who may frame the Teams tab.
    std::string teams_frame_ancestors =
        "https://teams.microsoft.com https://*.teams.microsoft.com https://*.cloud.microsoft https://*.office.com "
        "https://*.microsoft365.com https://*.skype.com https://outlook.office.com https://outlook.office365.com";
    // The hosts in the issuers of the cloud's v1.0 and v2.0 tokens (custom endpoints emulate the global cloud).
    std::string token_issuer_v1_host = "sts.windows.net";
    std::string token_issuer_v2_host = "login.microsoftonline.com";
    // The resource identifier in scopes ("<resource>/Chat.ReadWrite", "<resource>/.default"): the cloud's Graph
    // host, also for custom endpoints (which emulate the global cloud).
    std::string graph_resource;
    std::string extra_ca_pem;
    bool evaluation_api = false;

    // What is bridged
    ChatSync chat_sync = ChatSync::mirror;
    SubscriptionMode subscription_mode = SubscriptionMode::global;
    // per-user and hybrid: Teams subscriptions the bridge may own in all (the organization has 10,000 for every app).
    int per_user_subscription_budget = 9000;
    int planner_half_life_seconds = 6 * 3600;
    int planner_min_hold_seconds = 30 * 60;

    // Users
    bool enforce_connected_accounts = false;
    bool allow_skip_connect_accounts = true;
    int connected_users_allowed = 1000;
    // Rollout controls: who may connect besides the maximum (empty list and pool 0: everyone), and selective sync
    // (a chat is bridged only when someone in it reads it in Mattermost).
    std::string connect_allow_list{};  // usernames, separated by commas or spaces
    long long invite_pool_size = 0;
    bool selective_sync = false;
    // Chats active recently are read forward from their cursors this often (a lost notification costs at most this
    // delay); 0 = off.
    int reconcile_interval_seconds = 300;
    bool sync_guest_users = false;
    // The Teams activity feed of Teams-primary users (through the Teams app, teams_app_id below): their primary
    // platform when they never chose, whether the feed is on, how long a notification waits for the user to read the
    // post in Mattermost, whether the app is installed for them, and Graph's feed budget (advanced).
    PrimaryPlatform default_primary = PrimaryPlatform::mattermost;
    bool activity_feed = false;
    long long feed_delay_seconds = 15;
    bool proactive_app_install = false;
    long long graph_feed_per_second = 5;
    long long graph_feed_bulk_per_second = 2;  // sendActivityNotificationToRecipients requests
    // Teams people's presence shown as their Mattermost status (needs Presence.Read.All); their photos always are.
    bool sync_presence = true;
    long long profile_sync_interval_seconds = 60;
    long long presence_cache_seconds = 60;  // how long a presence read for notifications-only users is trusted
    long long credential_check_interval_seconds = 86400;  // reading the client secret's expiry
    SyntheticAuthService synthetic_auth_service = SyntheticAuthService::saml;
    SyntheticAuthData synthetic_auth_data = SyntheticAuthData::id;
    // A synthetic user whose person signs in through that service with the identity of their Teams account becomes
    // theirs; synthetic users carry that sign-in from the start so that the sign-in finds them.
    bool auto_promote_synthetic_users = false;
    // The user sync job: a run this often (syncUsersInterval, in minutes; syncUsersIntervalSeconds for tests); 0 = off.
    long long sync_users_interval_seconds = 0;
    // Only Teams users with an email (mail or UPN) in these domains become synthetic users (lower case; empty: all).
    std::vector<std::string> sync_users_domains;
    // The most Mattermost users one run creates or changes (advanced).
    long long sync_users_max_per_run = 5000;

    // The Teams app package (docs/embedded.md): its app id (set, or else made from the client id, so it stays the same
    // as long as the app registration does; empty while there is no client id), name, version, and icons (PNG bytes;
    // empty: the default ones).
    std::string teams_app_id;
    std::string teams_app_name = "Mattermost";
    std::string teams_app_version = "1.0.0";
    std::string teams_app_color_icon;
    std::string teams_app_outline_icon;

    // Files, in bytes (already capped by the server's maximum file size)
    std::int64_t max_file_size_to_mattermost = 20LL << 20;
    std::int64_t max_file_size_to_teams = 20LL << 20;

    // Graph's per-chat budgets (advanced; the documented limit is one request per second per chat)
    long long chat_reads_per_minute = 60;
    long long chat_posts_per_minute = 60;
    long long chat_writes_per_minute = 60;
    // Linked channels (advanced): requests per team (Graph allows 4 a second) and messages per channel per day
    // (Graph takes 3,000 from an app); tests lower or raise them
    long long team_requests_per_minute = 240;
    long long channel_daily_message_limit = 3000;
    // How long one Graph request may take (advanced; tests and the chaos suite set it short)
    long long graph_request_timeout_ms = 30'000;

    ServerSettings server;

    // Required settings that are still empty, named as System Console shows them ("Tenant ID (tenantId)"). Until
    // they are filled in the plugin runs but waits: nothing calls Microsoft.
    std::vector<std::string> missing;

    [[nodiscard]] bool configured() const noexcept { return missing.empty(); }
};

struct ParsedConfig {
    Config config;
    // Settings the parse generated because they were empty (encryptionKey, webhookSecret), lower-cased as Mattermost
    // stores them; the caller saves them back. Empty when nothing was generated.
    std::vector<std::string> generated_keys;
    // The settings map with generated values filled in, as JSON, for saving back.
    std::string settings_json;
};

// Parses PluginSettings.Plugins[id] (JSON; keys matched case-insensitively, numbers accepted as JSON numbers or
// numeric strings) and validates it together with the server settings. Every problem names the setting as System
// Console shows it and its key; the error carries all of them, and `problems` (when given) receives them one by
// one. Empty required settings are not a problem: they are listed in Config::missing. `generate_missing_secrets`
// fills empty generated settings with fresh random values.
[[nodiscard]] Result<ParsedConfig> parse_config(std::string_view settings_json, ServerSettings const& server,
                                                bool generate_missing_secrets,
                                                std::vector<std::string>* problems = nullptr);

// The official Mattermost MS Teams plugin (the same plugin id) left its settings under its own names; where this plugin
// reads the same value under another name it is carried over, once: only while this plugin's setting is absent from
// the stored settings (docs/upgrade.md lists which). Settings both plugins name alike (tenantId, clientId,
// clientSecret, encryptionKey, webhookSecret, evaluationApi, connectedUsersAllowed, syncGuestUsers,
// syntheticUserAuthService, syntheticUserAuthData) need nothing.
struct LegacySettings {
    std::string settings_json;         // the settings with the carried-over values added (keys lower-cased)
    std::vector<std::string> carried;  // e.g. "chatSync = mirror (from syncDirectMessages)"; empty: nothing
};
[[nodiscard]] LegacySettings carry_over_legacy_settings(std::string_view settings_json);

// A one-line description for the log, without secrets.
std::string describe(Config const& config);

// What Mattermost shows instead of a secret setting's value (model.FakeSetting). Never a value.
inline constexpr std::string_view k_masked_setting = "********************************";

// Limits on the settings input itself.
inline constexpr std::size_t k_max_settings_json = 256 * 1024;
inline constexpr std::size_t k_generated_secret_length = 32;

}  // namespace msteams::app
