#include "app/config.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "common/json_depth.hpp"
#include "common/random.hpp"
#include "common/strings.hpp"
#include "crypto/crypto.hpp"
#include "web/teams_app_checks.hpp"

namespace msteams::app {
namespace {

using nlohmann::json;

// A setting as System Console shows it: errors name both, so the admin finds it and a script can grep the key.
struct Setting {
    char const* key;
    char const* label;
};

constexpr Setting k_tenant_id{"tenantId", "Tenant ID"};
constexpr Setting k_client_id{"clientId", "Client ID"};
constexpr Setting k_client_secret{"clientSecret", "Client secret"};
constexpr Setting k_encryption_key{"encryptionKey", "At-rest encryption key"};
constexpr Setting k_webhook_secret{"webhookSecret", "Webhook secret"};
constexpr Setting k_national_cloud{"nationalCloud", "Microsoft cloud"};
constexpr Setting k_custom_login{"customLoginUrl", "Custom login endpoint"};
constexpr Setting k_custom_graph{"customGraphUrl", "Custom Graph endpoint"};
constexpr Setting k_extra_ca{"extraCaPem", "Additional trusted CA certificates"};
constexpr Setting k_evaluation_api{"evaluationApi", "Use the Graph evaluation API"};
constexpr Setting k_chat_sync{"chatSync", "Teams chats"};
constexpr Setting k_subscription_mode{"subscriptionMode", "How the bridge hears of Teams messages"};
constexpr Setting k_user_budget{"perUserSubscriptionBudget", "Teams subscriptions the bridge may own"};
// Advanced, not in System Console: the planner's activity half-life and shortest hold of a rich subscription (tests).
constexpr Setting k_planner_half_life{"plannerHalfLifeSeconds", "Activity half-life (seconds)"};
constexpr Setting k_planner_min_hold{"plannerMinHoldSeconds", "Shortest hold of a rich subscription (seconds)"};
constexpr Setting k_enforce{"enforceConnectedAccounts", "Ask users to connect their Teams account"};
constexpr Setting k_allow_skip{"allowSkipConnectAccounts", "Allow users to skip connecting for now"};
constexpr Setting k_connected_allowed{"connectedUsersAllowed", "Maximum connected users"};
constexpr Setting k_allow_list{"connectAllowList", "Who may connect"};
constexpr Setting k_invite_pool{"invitePoolSize", "Invite pool size"};
constexpr Setting k_selective_sync{"selectiveSync", "Selective sync"};
constexpr Setting k_sync_guests{"syncGuestUsers", "Synchronise guest users"};
constexpr Setting k_default_primary{"defaultPrimaryPlatform", "Default primary platform"};
constexpr Setting k_activity_feed{"activityFeed", "Teams activity feed"};
constexpr Setting k_feed_delay{"feedDelaySeconds", "Teams activity feed delay (seconds)"};
constexpr Setting k_proactive_install{"proactiveAppInstall", "Install the Teams app for Teams-primary users"};
// System Console, Advanced: the activity-feed budget per second (Graph documents 5 per tenant; tests).
constexpr Setting k_feed_rate{"graphFeedPerSecond", "Graph activity-feed notifications per second"};
// System Console, Advanced: the bulk activity-feed budget per second (Graph documents 2 per tenant; tests).
constexpr Setting k_feed_bulk_rate{"graphFeedBulkPerSecond", "Graph bulk activity-feed requests per second"};
constexpr Setting k_sync_presence{"syncPresence", "Show Teams people's presence"};
// Advanced, not in System Console: how often photos and presence of Teams people are brought up to date (tests).
constexpr Setting k_profile_seconds{"profileSyncIntervalSeconds", "Profile sync interval (seconds)"};
// Advanced, not in System Console: how long a Teams presence read for notifications-only users is trusted (tests).
constexpr Setting k_presence_cache_seconds{"presenceCacheSeconds", "Presence cache (seconds)"};
// Advanced, not in System Console: how often the app's client secret expiry is read (tests).
constexpr Setting k_credential_seconds{"credentialCheckIntervalSeconds", "Credential check interval (seconds)"};
constexpr Setting k_auth_service{"syntheticUserAuthService", "Synthetic users' authentication service"};
constexpr Setting k_auth_data{"syntheticUserAuthData", "Synthetic users' authentication data"};
constexpr Setting k_auto_promote{"automaticallyPromoteSyntheticUsers", "Automatically promote synthetic users"};
constexpr Setting k_sync_users{"syncUsersInterval", "Synchronise Teams users every (minutes)"};
// Advanced, not in System Console: the user sync interval in seconds (overrides the minutes; tests).
constexpr Setting k_sync_users_seconds{"syncUsersIntervalSeconds", "User sync interval (seconds)"};
constexpr Setting k_sync_users_domains{"syncUsersDomains", "Only Teams users of these email domains"};
constexpr Setting k_sync_users_max{"syncUsersMaxPerRun", "Most users one user sync run creates or changes"};
constexpr Setting k_reconcile{"reconcileIntervalMinutes", "Reconcile recently active chats every (minutes)"};
constexpr Setting k_max_to_mm{"maxFileSizeToMattermostMb", "Largest Teams file to copy into Mattermost (MB)"};
constexpr Setting k_max_to_teams{"maxFileSizeToTeamsMb", "Largest Mattermost file to send to Teams (MB)"};
// System Console, Advanced: Graph's per-chat budgets, for tenants whose limits differ from the documented ones.
constexpr Setting k_chat_reads{"graphChatReadsPerMinute", "Graph reads per chat per minute"};
constexpr Setting k_chat_posts{"graphChatPostsPerMinute", "Graph posts per chat per minute"};
// Advanced, not in System Console: the reconciliation interval in seconds (overrides the minutes; tests).
constexpr Setting k_reconcile_seconds{"reconcileIntervalSeconds", "Reconciliation interval (seconds)"};
constexpr Setting k_chat_writes{"graphChatWritesPerMinute", "Graph edits, deletes and reactions per chat per minute"};
// Advanced: Graph's budget per team (linked channels' messages), and its messages per app per channel per day.
constexpr Setting k_team_requests{"graphTeamRequestsPerMinute", "Graph requests per team per minute"};
constexpr Setting k_channel_daily{"channelDailyMessageLimit", "Messages to one Teams channel per day"};
// Advanced: how long one Graph request may take before the bridge gives up on its answer.
constexpr Setting k_request_timeout{"graphRequestTimeoutMs", "Graph request timeout (ms)"};
constexpr Setting k_metrics_token{"metricsToken", "Metrics token"};
constexpr Setting k_teams_app_id{"teamsAppId", "Teams app ID"};
constexpr Setting k_teams_app_name{"teamsAppName", "Teams app name"};
constexpr Setting k_teams_app_version{"teamsAppVersion", "Teams app version"};
constexpr Setting k_teams_app_color_icon{"teamsAppColorIcon", "Teams app colour icon"};
constexpr Setting k_teams_app_outline_icon{"teamsAppOutlineIcon", "Teams app outline icon"};

constexpr std::size_t k_max_text = 4096;
constexpr std::size_t k_max_ca_pem = 64 * 1024;

std::string name(Setting s) { return std::string(s.label) + " (" + s.key + ")"; }

std::unexpected<Error> invalid(Setting s, std::string const& what) {
    return fail(ErrorCode::invalid_argument, name(s) + " " + what);
}

bool has_control_chars(std::string_view s) {
    for (unsigned char c : s) {
        if (c < 0x20 || c == 0x7F) {
            return true;
        }
    }
    return false;
}

// Reads settings by key, case-insensitively (Mattermost lower-cases the keys it stores).
class Reader {
public:
    explicit Reader(json const& object) : object_(object) {}

    json const* find(Setting s) const {
        auto const it = object_.find(strings::to_lower(s.key));
        if (it == object_.end() || it->is_null()) {
            return nullptr;
        }
        return &*it;
    }

    Result<std::string> text(Setting s, std::size_t max = k_max_text) const {
        auto const* v = find(s);
        if (v == nullptr) {
            return std::string{};
        }
        if (!v->is_string()) {
            return invalid(s, "must be text.");
        }
        auto value = std::string(strings::trim(v->get_ref<std::string const&>()));
        if (value == k_masked_setting) {
            // What Mattermost shows for a secret setting, saved back by a path that did not restore the value.
            return invalid(s,
                           "holds the mask Mattermost shows for secrets instead of a value: enter (or regenerate) "
                           "it again.");
        }
        if (value.size() > max) {
            return invalid(s, "is longer than " + std::to_string(max) + " characters.");
        }
        return value;
    }

    Result<bool> boolean(Setting s, bool fallback) const {
        auto const* v = find(s);
        if (v == nullptr) {
            return fallback;
        }
        if (v->is_boolean()) {
            return v->get<bool>();
        }
        if (v->is_string()) {
            auto const t = strings::to_lower(strings::trim(v->get_ref<std::string const&>()));
            if (t == "true") {
                return true;
            }
            if (t == "false") {
                return false;
            }
            if (t.empty()) {
                return fallback;
            }
        }
        return invalid(s, "must be true or false.");
    }

    Result<long long> integer(Setting s, long long fallback, long long min, long long max) const {
        auto const* v = find(s);
        if (v == nullptr) {
            return fallback;
        }
        auto const out_of_range = [&] {
            return invalid(s, "must be between " + std::to_string(min) + " and " + std::to_string(max) + ".");
        };
        long long value = 0;
        if (v->is_number_unsigned()) {
            auto const u = v->get<unsigned long long>();
            if (u > static_cast<unsigned long long>(max)) {
                return out_of_range();
            }
            value = static_cast<long long>(u);
        } else if (v->is_number_integer()) {
            value = v->get<long long>();
        } else if (v->is_number_float()) {
            double const d = v->get<double>();
            if (d != std::trunc(d)) {  // also NaN
                return invalid(s, "must be a whole number.");
            }
            // Compared as doubles first: a double outside long long's range must never be converted.
            if (d < static_cast<double>(min) || d > static_cast<double>(max) || std::fabs(d) >= 9.0e18) {
                return out_of_range();
            }
            value = static_cast<long long>(d);
        } else if (v->is_string()) {
            auto const t = strings::trim(v->get_ref<std::string const&>());
            if (t.empty()) {
                return fallback;
            }
            auto const [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
            if (ec != std::errc{} || end != t.data() + t.size()) {
                return invalid(s, "must be a whole number.");
            }
        } else {
            return invalid(s, "must be a whole number.");
        }
        if (value < min || value > max) {
            return out_of_range();
        }
        return value;
    }

    template <class Enum>
    Result<Enum> choice(Setting s, Enum fallback, std::initializer_list<std::pair<char const*, Enum>> options) const {
        auto t = text(s, 64);
        if (!t) {
            return std::unexpected(t.error());
        }
        if (t->empty()) {
            return fallback;
        }
        std::string allowed;
        for (auto const& [label, value] : options) {
            if (strings::iequals(*t, label)) {
                return value;
            }
            allowed += allowed.empty() ? "" : ", ";
            allowed += label;
        }
        return invalid(s, "must be one of: " + allowed + ".");
    }

private:
    json const& object_;
};

// https://host[:port][/path], no query, no fragment, no credentials. Returns it without a trailing slash.
Result<std::string> https_base_url(Setting s, std::string url) {
    if (url.empty()) {
        return invalid(s, "is required when Microsoft cloud is Custom.");
    }
    constexpr std::string_view scheme = "https://";
    if (url.size() <= scheme.size() || !strings::iequals(std::string_view(url).substr(0, scheme.size()), scheme)) {
        return invalid(s, "must start with https:// (certificate verification is always on).");
    }
    if (has_control_chars(url) || url.find_first_of(" ?#@\\") != std::string::npos) {
        return invalid(s, "must be a plain https URL without spaces, query, fragment or credentials.");
    }
    auto const host_end = url.find('/', scheme.size());
    if (host_end == scheme.size()) {
        return invalid(s, "has no host name.");
    }
    while (url.size() > scheme.size() && url.back() == '/') {
        url.pop_back();
    }
    return url;
}

Status check_ca_pem(std::string const& pem) {
    if (pem.empty()) {
        return {};
    }
    if (pem.size() > k_max_ca_pem) {
        return invalid(k_extra_ca, "is larger than 64 KiB.");
    }
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
    if (!bio) {
        return fail(ErrorCode::internal, "out of memory reading " + name(k_extra_ca));
    }
    int count = 0;
    while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
        X509_free(cert);
        ++count;
    }
    ERR_clear_error();
    if (count == 0) {
        return invalid(k_extra_ca, "contains no PEM certificate (-----BEGIN CERTIFICATE-----).");
    }
    return {};
}

bool is_domain_name(std::string_view s) {
    if (s.empty() || s.size() > 253 || s.find('.') == std::string_view::npos || s.front() == '.' || s.back() == '.') {
        return false;
    }
    for (char c : s) {
        bool const ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
        if (!ok) {
            return false;
        }
    }
    return true;
}

// "contoso.com, @Fabrikam.com" → {"contoso.com", "fabrikam.com"}: comma- or space-separated, case-insensitive, an
// optional "@" in front.
Result<std::vector<std::string>> email_domains(Setting s, std::string const& text) {
    std::vector<std::string> out;
    std::string item;
    auto const flush = [&]() -> Status {
        auto d = strings::to_lower(strings::trim(item));
        item.clear();
        if (!d.empty() && d.front() == '@') {
            d.erase(0, 1);
        }
        if (d.empty()) {
            return {};
        }
        if (!is_domain_name(d)) {
            return invalid(s,
                           "lists \"" + strings::utf8_prefix(d, 64) +
                               "\", which is not a domain name: give email domains such as contoso.com, separated by "
                               "commas.");
        }
        if (std::find(out.begin(), out.end(), d) == out.end()) {
            out.push_back(std::move(d));
        }
        return {};
    };
    for (char c : text) {
        if (c == ',' || c == ';' || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            MSTEAMS_TRY(flush());
        } else {
            item += c;
        }
    }
    MSTEAMS_TRY(flush());
    if (out.size() > 100) {
        return invalid(s, "lists more than 100 domains.");
    }
    return out;
}

Status check_site_url(std::string const& url) {
    if (url.empty()) {
        return fail(ErrorCode::invalid_argument,
                    "Site URL (ServiceSettings.SiteURL) is not set: Microsoft needs it to send change notifications "
                    "and to redirect users back after they connect. Set it in System Console > Environment > Web "
                    "Server.");
    }
    bool const http = url.starts_with("http://") || url.starts_with("https://");
    if (!http || has_control_chars(url) || url.find(' ') != std::string::npos) {
        return fail(ErrorCode::invalid_argument, "Site URL (ServiceSettings.SiteURL) must be an http(s) URL.");
    }
    return {};
}

// Fills a generated secret when empty and checks it otherwise.
Result<std::string> generated_secret(Reader const& r, Setting s, bool generate, std::size_t min, std::size_t max,
                                     json& settings, std::vector<std::string>& generated) {
    auto value = r.text(s, max);
    if (!value) {
        return value;
    }
    if (value->empty()) {
        if (!generate) {
            return invalid(s, "is empty: regenerate it in System Console.");
        }
        *value = random::token(k_generated_secret_length);
        auto const key = strings::to_lower(s.key);
        settings[key] = *value;
        generated.push_back(key);
        return value;
    }
    if (value->size() < min) {
        return invalid(s, "must be at least " + std::to_string(min) + " characters: regenerate it in System Console.");
    }
    for (unsigned char c : *value) {
        if (c < 0x21 || c > 0x7E) {
            return invalid(s, "must be printable ASCII without spaces: regenerate it in System Console.");
        }
    }
    return value;
}

// Collects every problem of a configuration instead of stopping at the first.
struct Problems {
    std::vector<std::string> list;

    void add(std::string message) { list.push_back(std::move(message)); }

    template <class T, class U>
    void take(Result<T> r, U& target) {
        if (r) {
            target = static_cast<U>(std::move(*r));
        } else {
            add(std::move(r.error().message));
        }
    }

    void check(Status s) {
        if (!s) {
            add(std::move(s.error().message));
        }
    }

    [[nodiscard]] std::string summary() const {
        if (list.size() == 1) {
            return list.front();
        }
        std::string text = std::to_string(list.size()) + " settings need fixing:";
        for (auto const& p : list) {
            text += " " + p;
        }
        return text;
    }
};

// The Teams app id when none is set: a GUID made from the SHA-256 of the client id (RFC 9562 version 8, a name-based
// id of our own), so it stays the same for as long as the app registration does. Teams wants an Entra app of its own
// for every Teams app, so another client id is another Teams app.
std::string teams_app_id_for(std::string const& client_id) {
    auto b = crypto::sha256("com.mattermost.msteams teams app " + strings::to_lower(client_id));
    b[6] = static_cast<char>((static_cast<unsigned char>(b[6]) & 0x0FU) | 0x80U);
    b[8] = static_cast<char>((static_cast<unsigned char>(b[8]) & 0x3FU) | 0x80U);
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string out;
    for (int i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out += '-';
        }
        auto const byte = static_cast<unsigned char>(b[i]);
        out += k_hex[byte >> 4U];
        out += k_hex[byte & 0x0FU];
    }
    return out;
}

// An uploaded icon: base64 of a PNG file (System Console's upload stores it so), checked by `check`. Empty: none.
Result<std::string> icon_setting(Reader const& r, Setting s, std::size_t max_bytes, Status (*check)(std::string_view)) {
    auto text = r.text(s, k_max_settings_json);
    if (!text) {
        return text;
    }
    if (text->size() > (max_bytes + 2) / 3 * 4 + 4) {
        return invalid(s, "is larger than " + std::to_string(max_bytes / 1024) + " KiB: upload a smaller PNG.");
    }
    if (text->empty()) {
        return std::string{};
    }
    auto png = crypto::base64_decode(*text);
    if (!png) {
        return invalid(s, "is not a base64-encoded PNG file: upload the icon again.");
    }
    if (auto const ok = check(*png); !ok) {
        return invalid(s, ok.error().message);
    }
    return png;
}

// The Teams app package's settings (after the client id).
void parse_teams_app(Reader const& r, Config& c, Problems& problems) {
    problems.take(r.text(k_teams_app_id, 64), c.teams_app_id);
    if (c.teams_app_id.empty()) {
        c.teams_app_id = strings::is_guid(c.client_id) ? teams_app_id_for(c.client_id) : std::string{};
    } else if (!strings::is_guid(c.teams_app_id)) {
        problems.check(invalid(k_teams_app_id,
                               "must be a GUID such as 00000000-0000-0000-0000-000000000000, or empty "
                               "(then it is made from the Client ID)."));
    }
    problems.take(r.text(k_teams_app_name, 256), c.teams_app_name);
    if (c.teams_app_name.empty()) {
        c.teams_app_name = "Mattermost";
    } else if (c.teams_app_name.size() > web::k_max_app_name || has_control_chars(c.teams_app_name)) {
        problems.check(invalid(k_teams_app_name, "must be at most 30 characters, without control characters."));
    }
    problems.take(r.text(k_teams_app_version, 64), c.teams_app_version);
    if (c.teams_app_version.empty()) {
        c.teams_app_version = "1.0.0";
    } else if (!web::is_app_version(c.teams_app_version)) {
        problems.check(invalid(k_teams_app_version, "must be three numbers such as 1.0.0 (MAJOR.MINOR.PATCH)."));
    }
    problems.take(icon_setting(r, k_teams_app_color_icon, web::k_max_color_icon_bytes, &web::check_color_icon),
                  c.teams_app_color_icon);
    problems.take(icon_setting(r, k_teams_app_outline_icon, web::k_max_outline_icon_bytes, &web::check_outline_icon),
                  c.teams_app_outline_icon);
}

// The Teams activity feed of Teams-primary users (issue #15).
void read_feed(Reader const& r, Problems& problems, Config& c) {
    problems.take(r.choice(k_default_primary, PrimaryPlatform::mattermost,
                           {{"mattermost", PrimaryPlatform::mattermost}, {"teams", PrimaryPlatform::teams}}),
                  c.default_primary);
    problems.take(r.boolean(k_activity_feed, false), c.activity_feed);
    problems.take(r.integer(k_feed_delay, 15, 0, 600), c.feed_delay_seconds);
    problems.take(r.boolean(k_proactive_install, false), c.proactive_app_install);
    problems.take(r.integer(k_feed_rate, 5, 1, 100), c.graph_feed_per_second);
    problems.take(r.integer(k_feed_bulk_rate, 2, 1, 100), c.graph_feed_bulk_per_second);
}

}  // namespace

char const* to_string(Cloud c) noexcept {
    switch (c) {
        case Cloud::global: return "global";
        case Cloud::usgov: return "usgov";
        case Cloud::usgovdod: return "usgovdod";
        case Cloud::china: return "china";
        case Cloud::custom: return "custom";
    }
    return "global";
}

char const* to_string(ChatSync c) noexcept {
    switch (c) {
        case ChatSync::mirror: return "mirror";
        case ChatSync::notifications: return "notifications";
        case ChatSync::off: return "off";
    }
    return "?";
}

char const* to_string(SubscriptionMode m) noexcept {
    switch (m) {
        case SubscriptionMode::global: return "global";
        case SubscriptionMode::global_rich: return "global-rich";
        case SubscriptionMode::per_user: return "per-user";
        case SubscriptionMode::hybrid: return "hybrid";
    }
    return "?";
}

// Long (over 80 lines) on purpose: one setting after another, each read, bounded and explained in place.
// NOLINTNEXTLINE(readability-function-size)
Result<ParsedConfig> parse_config(std::string_view settings_json, ServerSettings const& server,
                                  bool generate_missing_secrets, std::vector<std::string>* problems_out) {
    if (settings_json.size() > k_max_settings_json) {
        return fail(ErrorCode::invalid_argument, "The plugin settings are larger than 256 KiB.");
    }
    json settings = json::object();
    if (!json_limits::nesting_within(settings_json, json_limits::k_max_json_depth)) {
        return fail(ErrorCode::invalid_argument, "The plugin settings nest too deeply.");
    }
    if (!strings::trim(settings_json).empty()) {
        settings = json::parse(settings_json, nullptr, /*allow_exceptions=*/false);
        if (settings.is_discarded() || !(settings.is_object() || settings.is_null())) {
            return fail(ErrorCode::invalid_argument, "The plugin settings are not a JSON object.");
        }
        if (settings.is_null()) {
            settings = json::object();
        }
    }
    // Keys as Mattermost stores them; a key in another case is the same setting.
    json normalized = json::object();
    for (auto const& [key, value] : settings.items()) {
        normalized[strings::to_lower(key)] = value;
    }

    Reader const r(normalized);
    ParsedConfig out;
    Config& c = out.config;
    // Every problem is collected, so that the admin fixes them all in one go.
    Problems problems;

    if (server.sql_driver_name != "postgres") {
        problems.add(
            "The MS Teams plugin requires PostgreSQL, but this server's database driver "
            "(SqlSettings.DriverName) is \"" +
            server.sql_driver_name + "\".");
    }
    problems.check(check_site_url(server.site_url));
    c.server = server;
    while (c.server.site_url.ends_with('/')) {
        c.server.site_url.pop_back();
    }

    // Required settings that are empty leave the plugin waiting to be set up; present and wrong is a problem.
    problems.take(r.text(k_tenant_id, 253), c.tenant_id);
    if (c.tenant_id.empty()) {
        c.missing.push_back(name(k_tenant_id));
    } else if (!strings::is_guid(c.tenant_id) && !is_domain_name(c.tenant_id)) {
        problems.check(invalid(k_tenant_id, "must be a tenant GUID or the tenant's domain name."));
    }
    problems.take(r.text(k_client_id, 64), c.client_id);
    if (c.client_id.empty()) {
        c.missing.push_back(name(k_client_id));
    } else if (!strings::is_guid(c.client_id)) {
        problems.check(invalid(k_client_id, "must be a GUID such as 00000000-0000-0000-0000-000000000000."));
    }
    problems.take(r.text(k_client_secret, 1024), c.client_secret);
    if (c.client_secret.empty()) {
        c.missing.push_back(name(k_client_secret));
    } else if (has_control_chars(c.client_secret)) {
        problems.check(invalid(k_client_secret, "contains control characters."));
    }
    problems.take(
        generated_secret(r, k_encryption_key, generate_missing_secrets, 16, 256, normalized, out.generated_keys),
        c.encryption_key);
    // Graph limits clientState to 128 characters.
    problems.take(
        generated_secret(r, k_webhook_secret, generate_missing_secrets, 16, 128, normalized, out.generated_keys),
        c.webhook_secret);

    // Optional: empty keeps the plugin's own /metrics route closed (the server's metrics listener serves them).
    problems.take(r.text(k_metrics_token, 256), c.metrics_token);
    if (!c.metrics_token.empty() && (c.metrics_token.size() < 16 || has_control_chars(c.metrics_token) ||
                                     c.metrics_token.find(' ') != std::string::npos)) {
        problems.check(invalid(k_metrics_token, "must be empty or at least 16 characters without spaces."));
        c.metrics_token.clear();
    }
    problems.take(r.choice(k_national_cloud, Cloud::global,
                           {{"global", Cloud::global},
                            {"usgov", Cloud::usgov},
                            {"usgovdod", Cloud::usgovdod},
                            {"china", Cloud::china},
                            {"custom", Cloud::custom}}),
                  c.cloud);
    switch (c.cloud) {
        case Cloud::global:
            c.login_base_url = "https://login.microsoftonline.com";
            c.graph_base_url = "https://graph.microsoft.com";
            c.graph_resource = c.graph_base_url;
            break;
        case Cloud::usgov:
            c.teams_web_url = "https://gov.teams.microsoft.us";
            c.teams_frame_ancestors = "https://gov.teams.microsoft.us https://*.gov.teams.microsoft.us";
            c.token_issuer_v2_host = "login.microsoftonline.us";
            c.login_base_url = "https://login.microsoftonline.us";
            c.graph_base_url = "https://graph.microsoft.us";
            c.graph_resource = c.graph_base_url;
            break;
        case Cloud::usgovdod:
            c.teams_web_url = "https://dod.teams.microsoft.us";
            c.teams_frame_ancestors = "https://dod.teams.microsoft.us https://*.dod.teams.microsoft.us";
            c.token_issuer_v2_host = "login.microsoftonline.us";
            c.login_base_url = "https://login.microsoftonline.us";
            c.graph_base_url = "https://dod-graph.microsoft.us";
            c.graph_resource = c.graph_base_url;
            break;
        case Cloud::china:
            c.teams_web_url = "https://teams.microsoftonline.cn";
            c.teams_frame_ancestors = "https://teams.microsoftonline.cn https://*.teams.microsoftonline.cn";
            c.token_issuer_v1_host = "sts.chinacloudapi.cn";
            c.token_issuer_v2_host = "login.partner.microsoftonline.cn";
            c.login_base_url = "https://login.chinacloudapi.cn";
            c.graph_base_url = "https://microsoftgraph.chinacloudapi.cn";
            c.graph_resource = c.graph_base_url;
            break;
        case Cloud::custom: {
            if (auto login = r.text(k_custom_login, 2048); !login) {
                problems.add(login.error().message);
            } else {
                problems.take(https_base_url(k_custom_login, std::move(*login)), c.login_base_url);
            }
            if (auto graph = r.text(k_custom_graph, 2048); !graph) {
                problems.add(graph.error().message);
            } else {
                problems.take(https_base_url(k_custom_graph, std::move(*graph)), c.graph_base_url);
            }
            c.graph_resource = "https://graph.microsoft.com";
            break;
        }
    }
    problems.take(r.text(k_extra_ca, k_max_ca_pem + 1), c.extra_ca_pem);
    problems.check(check_ca_pem(c.extra_ca_pem));
    problems.take(r.boolean(k_evaluation_api, false), c.evaluation_api);

    problems.take(
        r.choice(k_chat_sync, ChatSync::mirror,
                 {{"mirror", ChatSync::mirror}, {"notifications", ChatSync::notifications}, {"off", ChatSync::off}}),
        c.chat_sync);
    problems.take(r.choice(k_subscription_mode, SubscriptionMode::global,
                           {{"global", SubscriptionMode::global},
                            {"global-rich", SubscriptionMode::global_rich},
                            {"per-user", SubscriptionMode::per_user},
                            {"hybrid", SubscriptionMode::hybrid}}),
                  c.subscription_mode);
    problems.take(r.integer(k_user_budget, 9000, 2, 10'000), c.per_user_subscription_budget);
    problems.take(r.integer(k_planner_half_life, 6 * 3600, 1, 7 * 86400), c.planner_half_life_seconds);
    problems.take(r.integer(k_planner_min_hold, 30 * 60, 0, 86400), c.planner_min_hold_seconds);

    problems.take(r.boolean(k_enforce, false), c.enforce_connected_accounts);
    problems.take(r.boolean(k_allow_skip, true), c.allow_skip_connect_accounts);
    problems.take(r.integer(k_connected_allowed, 1000, 0, 1'000'000), c.connected_users_allowed);
    problems.take(r.text(k_allow_list, 64 * 1024), c.connect_allow_list);
    problems.take(r.integer(k_invite_pool, 0, 0, 1'000'000), c.invite_pool_size);
    problems.take(r.boolean(k_selective_sync, false), c.selective_sync);
    problems.take(r.boolean(k_sync_guests, false), c.sync_guest_users);
    read_feed(r, problems, c);
    problems.take(r.boolean(k_sync_presence, true), c.sync_presence);
    problems.take(r.integer(k_profile_seconds, 60, 1, 86400), c.profile_sync_interval_seconds);
    problems.take(r.integer(k_presence_cache_seconds, 60, 1, 3600), c.presence_cache_seconds);
    problems.take(r.integer(k_credential_seconds, 86400, 1, 7 * 86400), c.credential_check_interval_seconds);
    problems.take(r.choice(k_auth_service, SyntheticAuthService::saml,
                           {{"saml", SyntheticAuthService::saml}, {"ldap", SyntheticAuthService::ldap}}),
                  c.synthetic_auth_service);
    problems.take(r.choice(k_auth_data, SyntheticAuthData::id,
                           {{"ID", SyntheticAuthData::id},
                            {"Mail", SyntheticAuthData::mail},
                            {"UserPrincipalName", SyntheticAuthData::user_principal_name}}),
                  c.synthetic_auth_data);

    problems.take(r.boolean(k_auto_promote, false), c.auto_promote_synthetic_users);
    {
        long long minutes = 0;
        problems.take(r.integer(k_sync_users, 0, 0, 7 * 1440), minutes);
        c.sync_users_interval_seconds = minutes * 60;
        long long seconds = -1;
        problems.take(r.integer(k_sync_users_seconds, -1, -1, 7 * 86400), seconds);
        if (seconds >= 0) {
            c.sync_users_interval_seconds = seconds;
        }
        if (auto domains = r.text(k_sync_users_domains); !domains) {
            problems.add(domains.error().message);
        } else {
            problems.take(email_domains(k_sync_users_domains, *domains), c.sync_users_domains);
        }
        problems.take(r.integer(k_sync_users_max, 5000, 1, 1'000'000), c.sync_users_max_per_run);
    }

    long long mb = 20;
    problems.take(r.integer(k_max_to_mm, 20, 0, 1024), mb);
    c.max_file_size_to_mattermost = mb << 20;
    if (server.max_file_size > 0 && c.max_file_size_to_mattermost > server.max_file_size) {
        c.max_file_size_to_mattermost = server.max_file_size;
    }
    {
        long long minutes = 5;
        problems.take(r.integer(k_reconcile, 5, 0, 1440), minutes);
        c.reconcile_interval_seconds = static_cast<int>(minutes * 60);
        long long seconds = -1;
        problems.take(r.integer(k_reconcile_seconds, -1, -1, 86400), seconds);
        if (seconds >= 0) {
            c.reconcile_interval_seconds = static_cast<int>(seconds);
        }
    }
    mb = 20;
    problems.take(r.integer(k_max_to_teams, 20, 0, 1024), mb);
    c.max_file_size_to_teams = mb << 20;
    problems.take(r.integer(k_chat_reads, 60, 1, 6000), c.chat_reads_per_minute);
    problems.take(r.integer(k_chat_posts, 60, 1, 6000), c.chat_posts_per_minute);
    problems.take(r.integer(k_chat_writes, 60, 1, 6000), c.chat_writes_per_minute);
    problems.take(r.integer(k_team_requests, 240, 1, 60'000), c.team_requests_per_minute);
    problems.take(r.integer(k_channel_daily, 3000, 1, 1'000'000), c.channel_daily_message_limit);
    problems.take(r.integer(k_request_timeout, 30'000, 100, 600'000), c.graph_request_timeout_ms);
    parse_teams_app(r, c, problems);

    if (problems_out != nullptr) {
        *problems_out = problems.list;
    }
    if (!problems.list.empty()) {
        return fail(ErrorCode::invalid_argument, problems.summary());
    }
    if (!out.generated_keys.empty()) {
        out.settings_json = normalized.dump();
    }
    return out;
}

namespace {

// A stored boolean setting: a JSON boolean, or "true"/"false" as System Console sometimes saves them.
std::optional<bool> legacy_bool(json const& settings, std::string const& key) {
    auto const it = settings.find(key);
    if (it == settings.end()) {
        return std::nullopt;
    }
    if (it->is_boolean()) {
        return it->get<bool>();
    }
    if (it->is_string()) {
        auto const v = strings::to_lower(it->get<std::string>());
        if (v == "true") {
            return true;
        }
        if (v == "false") {
            return false;
        }
    }
    return std::nullopt;
}

}  // namespace

LegacySettings carry_over_legacy_settings(std::string_view settings_json) {
    LegacySettings out;
    out.settings_json = std::string(settings_json);
    if (settings_json.size() > k_max_settings_json ||
        !json_limits::nesting_within(settings_json, json_limits::k_max_json_depth)) {
        return out;  // parse_config refuses it
    }
    auto parsed = json::parse(settings_json, nullptr, false);
    if (!parsed.is_object()) {
        return out;  // parse_config says what is wrong with it
    }
    json settings = json::object();
    for (auto const& [key, value] : parsed.items()) {
        settings[strings::to_lower(key)] = value;
    }
    // Teams chats (chatSync). The official plugin mirrored chats with syncDirectMessages / syncGroupMessages (up to
    // v1.14) or experimentalSyncChats (v1.15), and sent notifications only with syncNotifications. Both mirror keys
    // stored as false with notifications off is a server that bridged no chats. Anything else is left to the default.
    if (!settings.contains("chatsync")) {
        std::string from;
        for (char const* key : {"syncDirectMessages", "syncGroupMessages", "experimentalSyncChats"}) {
            if (legacy_bool(settings, strings::to_lower(key)).value_or(false)) {
                from += (from.empty() ? "" : ", ") + std::string(key);
            }
        }
        auto const notifications = legacy_bool(settings, "syncnotifications");
        auto const dms = legacy_bool(settings, "syncdirectmessages");
        auto const gms = legacy_bool(settings, "syncgroupmessages");
        std::string value;
        if (!from.empty()) {
            value = "mirror";
        } else if (notifications.value_or(false)) {
            value = "notifications";
            from = "syncNotifications";
        } else if (dms == false && gms == false) {
            value = "off";
            from = std::string("syncDirectMessages, syncGroupMessages") + (notifications ? ", syncNotifications" : "");
        }
        if (!value.empty()) {
            settings["chatsync"] = value;
            out.carried.push_back("chatSync = " + value + " (from " + from + ")");
        }
    }
    if (!out.carried.empty()) {
        out.settings_json = settings.dump();
    }
    return out;
}

std::string describe(Config const& c) {
    std::string s;
    s += "tenant=" + c.tenant_id;
    s += " client=" + c.client_id;
    s += std::string(" cloud=") + to_string(c.cloud);
    s += " graph=" + c.graph_base_url;
    s += std::string(" chats=") + to_string(c.chat_sync);
    s += std::string(" subscriptions=") + to_string(c.subscription_mode);
    s += " user_sync=" +
         (c.sync_users_interval_seconds > 0 ? std::to_string(c.sync_users_interval_seconds) + "s" : "off");
    s += std::string(" auto_promote=") + (c.auto_promote_synthetic_users ? "on" : "off");
    s += " site_url=" + c.server.site_url;
    return s;
}

}  // namespace msteams::app
