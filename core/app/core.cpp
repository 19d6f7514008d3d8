#include "app/core.hpp"

#include <algorithm>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "app/diagnostics.hpp"
#include "app/observers.hpp"
#include "commands/account_commands.hpp"
#include "commands/admin_commands.hpp"
#include "commands/channel_commands.hpp"
#include "common/clock.hpp"
#include "common/log.hpp"
#include "common/random.hpp"
#include "common/strings.hpp"
#include "common/version.hpp"
#include "crypto/crypto.hpp"
#include "graph/client.hpp"
#include "graph/entra.hpp"
#include "graph/notification_tokens.hpp"
#include "graph/signing_keys.hpp"
#include "graph/sso_tokens.hpp"
#include "http/client.hpp"
#include "metrics/prometheus.hpp"
#include "store/overview.hpp"
#include "store/repositories.hpp"
#include "store/database.hpp"
#include "store/profiles.hpp"
#include "store/user_sync.hpp"
#include "subscriptions/credentials.hpp"
#include "subscriptions/monitor.hpp"
#include "store/legacy.hpp"
#include "sync/inbound.hpp"
#include "sync/legacy_import.hpp"
#include "sync/logins.hpp"
#include "sync/outbound.hpp"
#include "sync/people.hpp"
#include "sync/profile_sync.hpp"
#include "sync/promotion.hpp"
#include "sync/user_sync.hpp"
#include "sync/receiver.hpp"
#include "commands/rollout_commands.hpp"
#include "store/roster.hpp"
#include "sync/admission.hpp"
#include "sync/audience.hpp"
#include "sync/feed.hpp"
#include "store/feed.hpp"
#include "web/account_routes.hpp"
#include "web/primary_route.hpp"
#include "web/report_route.hpp"
#include "web/routes.hpp"
#include "web/teams_app.hpp"
#include "web/tab_routes.hpp"

namespace msteams::app {
namespace {

constexpr std::size_t k_max_icon_bytes = 256 * 1024;

// A direct message from the bot to every system admin (waits for the server: not from inside a configuration hook).
void tell_admins(mm::Api& api, MmUserId const& bot, std::string const& text) {
    auto admins = api.get_active_user_ids_in_role("system_admin");
    if (!admins) {
        log::warn("could not list system admins to tell them something", {{"error", admins.error().message}});
        return;
    }
    for (auto const& admin : *admins) {
        auto channel = api.get_direct_channel(bot, admin);
        if (!channel) {
            log::warn("could not open a DM to a system admin",
                      {{"user_id", admin}, {"error", channel.error().message}});
            continue;
        }
        mm::Post post;
        post.user_id = bot;
        post.channel_id = channel->id;
        post.message = text;
        if (auto p = api.create_post(post); !p) {
            log::warn("could not send a system admin a message", {{"user_id", admin}, {"error", p.error().message}});
        }
    }
}

// The name this server goes by in the metrics and the admin status.
std::string node_name(Config const* config) {
    return config && !config->server.node_name.empty() ? config->server.node_name : std::string("unknown");
}

// Asks Entra for the app's token. A definite refusal (a wrong tenant, client id or secret, an expired secret) is an
// error naming the settings to check; Entra out of reach is not (the bridge keeps trying, and says so in its log).
Status app_credentials_accepted(graph::Entra& entra) {
    auto const token = entra.app_token();
    if (token) {
        return {};
    }
    auto const& e = token.error();
    if (e.code == ErrorCode::unauthenticated) {
        return fail(ErrorCode::invalid_argument,
                    "Microsoft Entra ID refused the app's credentials: check Client ID (clientId) and Client secret "
                    "(clientSecret), and that the secret has not expired. " +
                        e.message);
    }
    if (e.code == ErrorCode::invalid_argument) {
        return fail(ErrorCode::invalid_argument,
                    "Microsoft Entra ID refused the app's sign-in: check Tenant ID (tenantId) and Client ID "
                    "(clientId). " +
                        e.message);
    }
    log::warn("could not check the app's credentials with Microsoft Entra ID; starting anyway", {{"error", e.message}});
    return {};
}

std::string joined(std::vector<std::string> const& items) {
    std::string out;
    for (auto const& i : items) {
        out += out.empty() ? i : ", " + i;
    }
    return out;
}

std::string read_icon(std::string const& bundle_path) {
    if (bundle_path.empty()) {
        return {};
    }
    std::ifstream in(bundle_path + "/assets/icon.svg", std::ios::binary);
    if (!in) {
        log::warn("the command icon is missing from the bundle", {{"path", bundle_path + "/assets/icon.svg"}});
        return {};
    }
    std::string data(k_max_icon_bytes + 1, '\0');
    in.read(data.data(), static_cast<std::streamsize>(data.size()));
    data.resize(static_cast<std::size_t>(in.gcount()));
    if (data.size() > k_max_icon_bytes) {
        log::warn("the command icon is too large; registering without it");
        return {};
    }
    return data;
}

// Who holds a rich subscription of their own, read from the database at most every 5 s (the workers of every node
// ask, before waiting for a rich notification rather than reading a message).
class RichHolders {
public:
    explicit RichHolders(std::shared_ptr<store::Subscriptions> subscriptions)
        : subscriptions_(std::move(subscriptions)) {}

    bool any_of(std::vector<TeamsUserId> const& users) {
        std::lock_guard lock(mutex_);
        auto const now = now_ms();
        if (read_at_ < 0 || now - read_at_ >= 5000) {
            read_at_ = now;
            if (auto rows = subscriptions_->list()) {
                holders_.clear();
                for (auto const& row : *rows) {
                    if (row.kind == store::SubscriptionKind::user && row.state == store::SubscriptionState::active) {
                        holders_.insert(row.owner);
                    }
                }
            }
        }
        return std::any_of(users.begin(), users.end(), [&](auto const& u) { return holders_.contains(u.str()); });
    }

private:
    std::shared_ptr<store::Subscriptions> subscriptions_;
    std::mutex mutex_;
    std::set<std::string> holders_;
    std::int64_t read_at_ = -1;
};

// per-user and hybrid: the planner's settings from the configuration; nullopt for the global modes.
std::optional<subscriptions::PlannerSettings> planner_settings(Config const& config) {
    if (config.subscription_mode != SubscriptionMode::per_user &&
        config.subscription_mode != SubscriptionMode::hybrid) {
        return std::nullopt;
    }
    subscriptions::PlannerSettings p;
    p.mode = config.subscription_mode == SubscriptionMode::per_user ? subscriptions::PlanMode::per_user
                                                                    : subscriptions::PlanMode::hybrid;
    p.budget = static_cast<std::size_t>(config.per_user_subscription_budget);
    p.half_life_ms = static_cast<std::int64_t>(config.planner_half_life_seconds) * 1000;
    p.min_hold_ms = static_cast<std::int64_t>(config.planner_min_hold_seconds) * 1000;
    return p;
}

// `/msteams status @user`: the planner as the database sees it, asked about one user; empty in the global modes.
std::function<Result<std::string>(TeamsUserId const&)> explainer(
    std::optional<subscriptions::PlannerSettings> const& settings, store::Repositories const& repos) {
    if (!settings) {
        return {};
    }
    return [settings = *settings, repos](TeamsUserId const& user) -> Result<std::string> {
        std::vector<store::SubscriptionRow> rows;
        MSTEAMS_TRY_ASSIGN(rows, repos.subscriptions->list());
        subscriptions::Planner planner{settings};
        MSTEAMS_TRY_ASSIGN(planner, subscriptions::load_planner(settings, *repos.planning, rows));
        return planner.explain(user.str(), now_ms());
    };
}

// Where Mattermost fetches the suggestions of /msteams link's arguments (a dynamic list; the user's session).
void install_autocomplete_routes(web::Router& router,
                                 std::function<std::shared_ptr<commands::ChannelContext const>()> const& source) {
    auto const route = [source](bool teams) {
        return [source, teams](web::Request const& r) {
            auto const ctx = source();
            if (!ctx) {
                return web::json_response(200, "[]");
            }
            std::string typed;
            std::string parsed;
            if (auto const query = strings::parse_query(r.raw_query)) {
                for (auto const& [k, v] : *query) {
                    if (k == "user_input") {
                        typed = v;
                    } else if (k == "parsed") {
                        parsed = v;
                    }
                }
            }
            // Mattermost sends the whole input as user_input and what it has parsed of it ("msteams link …") as
            // parsed: what is being typed is the rest.
            if (typed.starts_with(parsed)) {
                typed = std::string(strings::trim(typed.substr(parsed.size())));
            }
            auto const found = teams ? commands::suggest_teams(*ctx, r.user_id, typed)
                                     : commands::suggest_channels(*ctx, r.user_id, parsed, typed);
            if (!found) {
                log::warn("could not list Teams teams or channels for autocomplete",
                          {{"error", found.error().message}});
                return web::json_response(200, "[]");
            }
            return web::json_response(200, commands::suggestions_json(*found));
        };
    };
    router.add(web::Route{"GET", commands::k_autocomplete_teams_path, web::Access::user, 0, route(true)});
    router.add(web::Route{"GET", commands::k_autocomplete_channels_path, web::Access::user, 0, route(false)});
}

// The tab's token checker, once the tenant (a GUID: tokens name it) and the app are configured.
std::shared_ptr<graph::SsoTokens> sso_tokens(Config const& config, std::shared_ptr<http::Client> const& http) {
    if (!strings::is_guid(config.tenant_id) || config.client_id.empty() || config.server.site_url.empty()) {
        return nullptr;
    }
    graph::SigningKeySettings keys;
    keys.login_base = config.login_base_url;
    keys.fetch_timeout = std::chrono::seconds(5);
    return std::make_shared<graph::SsoTokens>(
        std::make_shared<graph::SigningKeys>(http, std::move(keys)),
        graph::SsoTokenSettings{config.tenant_id, config.client_id,
                                web::app_id_uri(config.server.site_url, config.client_id), config.token_issuer_v1_host,
                                config.token_issuer_v2_host});
}

// What the tab's user reads about their token.
web::SsoResult sso_result(graph::SsoCheck const& check) {
    web::SsoResult r;
    r.reason = graph::to_string(check.refusal);
    switch (check.refusal) {
        case graph::SsoRefusal::none:
            r.ok = true;
            r.object_id = check.identity.object_id;
            r.email = check.identity.email;
            r.upn = check.identity.upn;
            return r;
        case graph::SsoRefusal::expired:
        case graph::SsoRefusal::not_yet_valid:
            r.message =
                "Your Microsoft Teams sign-in has expired (or your device's clock is wrong). Reload the tab "
                "to sign in again.";
            return r;
        case graph::SsoRefusal::tenant:
            r.status = 403;
            r.message =
                "You are signed in to Microsoft Teams in another organization than the one this Mattermost "
                "server works with. Sign in to Mattermost with your Mattermost account instead.";
            return r;
        case graph::SsoRefusal::audience:
        case graph::SsoRefusal::issuer:
        case graph::SsoRefusal::scope:
            r.message =
                "Microsoft Teams signed you in for another app, not this Mattermost server. Ask your "
                "Mattermost admin to check the Teams app's single sign-on settings, or sign in with your "
                "Mattermost account.";
            return r;
        case graph::SsoRefusal::keys_unavailable:
            r.status = 503;
            r.message = "Microsoft's sign-in service could not be reached. Try again in a moment.";
            return r;
        case graph::SsoRefusal::no_user:
            r.message = "Microsoft Teams did not say who you are. Sign in with your Mattermost account.";
            return r;
        case graph::SsoRefusal::malformed:
        case graph::SsoRefusal::signature: break;
    }
    r.message =
        "Microsoft Teams' sign-in could not be verified. Reload the tab, or sign in with your Mattermost "
        "account.";
    return r;
}

// The activity feed's Graph side, with the app's token: sendActivityNotification (to one user, or in bulk), and the
// Teams app (found in the organization's catalog by its manifest id) installed for a user.
class AppFeedGraph final : public sync::FeedGraph {
public:
    AppFeedGraph(std::shared_ptr<graph::Entra> entra, std::shared_ptr<graph::Client> graph, std::string teams_app_id)
        : entra_(std::move(entra)),
          graph_(std::move(graph)),
          teams_app_id_(std::move(teams_app_id)) {}

    Status send(TeamsUserId const& user, graph::ActivityNotification const& notification) override {
        graph::Token app;
        MSTEAMS_TRY_ASSIGN(app, entra_->app_token());
        return graph_->send_activity_notification(app.access_token, user, notification);
    }

    Status send_bulk(std::vector<TeamsUserId> const& users, graph::ActivityNotification const& notification) override {
        // Microsoft wants the token valid 45 more minutes for this request: a minute more covers the request's time.
        graph::Token app;
        MSTEAMS_TRY_ASSIGN(app,
                           entra_->app_token_valid_for(graph::k_recipients_token_validity + std::chrono::minutes(1)));
        return graph_->send_activity_notification_to_recipients(app.access_token, users, notification);
    }

    Status install(TeamsUserId const& user) override {
        graph::Token app;
        MSTEAMS_TRY_ASSIGN(app, entra_->app_token());
        std::string catalog_id;
        {
            std::lock_guard lock(mutex_);
            catalog_id = catalog_id_;
        }
        if (catalog_id.empty()) {
            std::optional<std::string> found;
            MSTEAMS_TRY_ASSIGN(found, graph_->find_catalog_app(app.access_token, teams_app_id_));
            if (!found) {
                return fail(ErrorCode::not_found, "the Teams app " + teams_app_id_ +
                                                      " is not in the organization's app catalog: publish it first");
            }
            catalog_id = *found;
            std::lock_guard lock(mutex_);
            catalog_id_ = catalog_id;
        }
        return graph_->install_app_for_user(app.access_token, user, catalog_id);
    }

private:
    std::shared_ptr<graph::Entra> entra_;
    std::shared_ptr<graph::Client> graph_;
    std::string teams_app_id_;
    std::mutex mutex_;
    std::string catalog_id_;
};

sync::FeedSettings feed_settings(Config const& config, MmUserId const& bot_user_id) {
    sync::FeedSettings f;
    f.enabled = config.activity_feed && !config.teams_app_id.empty();
    f.bot_user_id = bot_user_id;
    f.teams_app_id = config.teams_app_id;
    f.teams_web_url = config.teams_web_url;
    f.default_primary =
        config.default_primary == PrimaryPlatform::teams ? store::Platform::teams : store::Platform::mattermost;
    f.proactive_install = config.proactive_app_install;
    f.hold = std::chrono::seconds(config.feed_delay_seconds);
    return f;
}

// For system admins in /msteams status: the feed's queue and the users Microsoft refuses to notify.
std::string feed_status(sync::Feed* feed) {
    if (feed == nullptr || !feed->enabled()) {
        return {};
    }
    auto const blocked = feed->blocked_users();
    if (!blocked) {
        return "\n\nTeams activity feed: its state could not be read just now.";
    }
    if (*blocked == 0) {
        return "\n\nTeams activity feed: every Teams-primary user can be notified.";
    }
    return "\n\nTeams activity feed: **" + std::to_string(*blocked) + (*blocked == 1 ? " user" : " users") +
           "** with Teams as primary platform cannot be notified in Teams: the Mattermost app is not installed for "
           "them, or the app registration lacks the TeamsActivity.Send permission. They were told how to add the "
           "app and get Mattermost's email and push notifications meanwhile. Turn on **Install the Teams app for "
           "Teams-primary users** (with the TeamsAppInstallation.ReadWriteSelfForUser.All permission) to install it "
           "for them.";
}

}  // namespace

std::string teams_tab_problem(Config const& config) {
    std::string_view const teams = config.teams_web_url;
    auto const host = teams.substr(teams.find("://") == std::string_view::npos ? 0 : teams.find("://") + 3);
    for (auto const& source : strings::split_words(config.server.frame_ancestors)) {
        if (source == teams || source == host || source == "*" || source == "https:") {
            return {};
        }
    }
    return "Mattermost's own pages refuse to open inside Microsoft Teams, so the Teams tab signs users in but cannot "
           "show Mattermost. Set ServiceSettings.FrameAncestors (config.json, or the environment variable "
           "MM_SERVICESETTINGS_FRAMEANCESTORS) to \"" +
           config.teams_frame_ancestors + "\"";
}

struct Runtime {
    std::shared_ptr<Config const> config;
    std::shared_ptr<http::Client> http;
    std::shared_ptr<graph::Entra> entra;
    std::shared_ptr<graph::Client> graph;
    std::shared_ptr<crypto::Sealer const> sealer;
    std::shared_ptr<sync::Logins> logins;
    store::Repositories repos;
    std::shared_ptr<sync::People> people;
    std::shared_ptr<sync::ProfileSync> profiles;
    std::shared_ptr<sync::UserSync> user_sync;
    sync::SyntheticAuth auth;
    std::shared_ptr<sync::Inbound> inbound;
    std::shared_ptr<sync::Outbound> outbound;
    std::shared_ptr<sync::Receiver> receiver;
    std::shared_ptr<graph::SsoTokens> sso;  // the Teams tab's tokens; null until the tenant and app are configured
    std::shared_ptr<subscriptions::Monitor> monitor;
    std::shared_ptr<commands::AdminContext const> admin;
    std::shared_ptr<subscriptions::CredentialCheck> credentials;
    // Rollout controls and per-user choices (selective sync, notifications only, who may connect, the report).
    std::shared_ptr<store::Roster> roster;
    std::shared_ptr<sync::Audience> audience;
    std::shared_ptr<commands::RolloutContext const> rollout;
    // Linked channels: /msteams link, unlink, show and the link's autocomplete.
    std::shared_ptr<commands::ChannelContext const> channels;
    std::shared_ptr<sync::Feed> feed;

    void start() const {
        inbound->start();
        outbound->start();
        feed->start();
        monitor->start();
    }
    // `cleanly`: Mattermost deactivated the plugin or the configuration changed. Otherwise the process is going away
    // without either (its server was killed, or the shim is gone): this node's heartbeat stays and ages, and the
    // leader recovers the posts whose hooks this node may have lost.
    void stop(bool cleanly = true) const {
        graph->stop();     // workers waiting for a Graph turn or a retry stop waiting
        outbound->stop();  // first: a recovery of lost hooks on the monitor's thread stops at its next chat
        feed->stop();
        monitor->stop(cleanly);
        inbound->stop();
    }
};

namespace {

// The posts of a hook batch, for the Teams activity feed of Teams-primary users: durable before the batch is
// acknowledged, like the outbox. False when the feed could not take them (the shim sends the batch again, and the
// feed ignores the posts it was given already).
bool queue_for_feed(Runtime const& runtime, std::span<HookEvent const> events) {
    std::vector<mm::Post> posted;
    for (auto const& e : events) {
        if (e.kind == HookEvent::Kind::message_posted) {
            posted.push_back(e.post);
        }
    }
    if (posted.empty()) {
        return true;
    }
    if (auto s = runtime.feed->enqueue(posted); !s) {
        log::warn("could not queue Teams activity-feed notifications; they will be delivered again",
                  {{"posts", std::to_string(posted.size())}, {"error", s.error().message}});
        return false;
    }
    return true;
}

}  // namespace

DatabaseOpener default_database_opener() {
    return [](ServerSettings const& server) -> Result<std::shared_ptr<store::Database>> {
        store::Options options;
        options.data_source = server.sql_data_source;
        // Inbound workers hold a connection for a whole chat and take a second one for short statements.
        options.pool_size = 8;
        std::shared_ptr<store::Database> db;
        MSTEAMS_TRY_ASSIGN(db, store::Database::open(options));
        MSTEAMS_TRY(db->migrate());
        return db;
    };
}

char const* to_string(HookEvent::Kind kind) noexcept {
    switch (kind) {
        case HookEvent::Kind::message_posted: return "MessageHasBeenPosted";
        case HookEvent::Kind::message_updated: return "MessageHasBeenUpdated";
        case HookEvent::Kind::message_deleted: return "MessageHasBeenDeleted";
        case HookEvent::Kind::reaction_added: return "ReactionHasBeenAdded";
        case HookEvent::Kind::reaction_removed: return "ReactionHasBeenRemoved";
        case HookEvent::Kind::user_logged_in: return "UserHasLoggedIn";
        case HookEvent::Kind::user_created: return "UserHasBeenCreated";
        case HookEvent::Kind::cluster_event: return "OnPluginClusterEvent";
        case HookEvent::Kind::channel_created: return "ChannelHasBeenCreated";
    }
    return "unknown";
}

Core::Core(std::shared_ptr<mm::Api> api, DatabaseOpener open_database)
    : api_(std::move(api)),
      open_database_(std::move(open_database)),
      commands_(*api_),
      stats_(std::make_shared<metrics::Counters>()),
      node_id_(random::token(12)),
      started_at_ms_(now_ms()) {
    auto logins_source = [this] { return logins(); };
    commands::add_account_commands(commands_, logins_source);
    commands::add_admin_commands(commands_, *api_, [this]() -> std::shared_ptr<commands::AdminContext const> {
        auto const runtime = runtime_.load();
        return runtime && active_.load() ? runtime->admin : nullptr;
    });
    commands::add_rollout_commands(commands_, *api_, [this]() -> std::shared_ptr<commands::RolloutContext const> {
        auto const runtime = runtime_.load();
        return runtime && active_.load() ? runtime->rollout : nullptr;
    });
    auto const channels_source = [this]() -> std::shared_ptr<commands::ChannelContext const> {
        auto const runtime = runtime_.load();
        return runtime && active_.load() ? runtime->channels : nullptr;
    };
    commands::add_channel_commands(commands_, *api_, channels_source, k_plugin_id);
    install_autocomplete_routes(router_, channels_source);
    web::install_account_routes(router_, logins_source, api_, [this](sync::Connected const& c) { welcome(c); });
    web::install_report_route(router_, api_, [this]() -> std::shared_ptr<store::Roster> {
        auto const runtime = runtime_.load();
        return runtime && active_.load() ? runtime->roster : nullptr;
    });
    web::install_primary_route(router_, [this]() -> std::optional<web::PrimaryContext> {
        auto const runtime = runtime_.load();
        if (!runtime || !active_.load()) {
            return std::nullopt;
        }
        return web::PrimaryContext{runtime->roster, runtime->audience, runtime->feed,
                                   runtime->rollout->default_primary};
    });
    auto const repositories = [this]() -> std::optional<store::Repositories> {
        auto const runtime = runtime_.load();
        if (!runtime || !active_.load()) {
            return std::nullopt;
        }
        return runtime->repos;
    };
    web::install_notification_routes(router_, [this] { return receiver(); }, stats_, api_, repositories);
    web::install_channel_routes(router_, api_, repositories);
    web::install_metrics_route(
        router_,
        [this] {
            auto const c = config_.load();
            return c ? c->metrics_token : std::string();
        },
        [this] { return metrics_text(); });
    web::install_status_route(router_, api_, [this] { return to_json(diagnostics()); });
    install_embedded_routes();
    web::install_routes(router_, [this]() -> std::optional<web::WebappSettings> {
        auto const c = config_.load();
        if (!c || !active_.load()) {
            return std::nullopt;
        }
        // Nobody is asked to connect before the integration is set up.
        return web::WebappSettings{c->configured() && c->enforce_connected_accounts, c->allow_skip_connect_accounts,
                                   to_string(c->chat_sync)};
    });
    commands_.set_gate([this](std::function<bool()> const& is_admin) -> std::optional<std::string> {
        auto const c = config_.load();
        if (!c || c->configured() || !active_.load()) {
            return std::nullopt;
        }
        return not_set_up_text(*c, is_admin());
    });
}

// Mattermost in Teams: the Teams app package for system admins, and the tab with its single sign-on.
void Core::install_embedded_routes() {
    auto const teams_app = [this]() -> std::optional<web::TeamsAppSettings> {
        auto const c = config_.load();
        if (!c || !active_.load()) {
            return std::nullopt;
        }
        return web::TeamsAppSettings{
            c->teams_app_id,    c->teams_app_name,       c->teams_app_version,     c->client_id,
            c->server.site_url, c->teams_app_color_icon, c->teams_app_outline_icon};
    };
    web::install_teams_app_route(router_, api_, teams_app);
    web::install_tab_routes(
        router_,
        web::TabDeps{[this]() -> std::optional<web::TabSettings> {
                         auto const runtime = runtime_.load();
                         if (!runtime || !active_.load() || !runtime->sso) {
                             return std::nullopt;
                         }
                         return web::TabSettings{
                             [sso = runtime->sso](std::string_view token) { return sso_result(sso->check(token)); },
                             runtime->config->teams_frame_ancestors};
                     },
                     api_,
                     [stats = stats_](std::string_view outcome) { stats->tab_sign_ins.add({std::string(outcome)}); },
                     {}});
}

std::string not_set_up_text(Config const& config, bool admin) {
    if (!admin) {
        return "The MS Teams integration is not set up yet: a system admin has to connect it to your Microsoft Teams "
               "tenant first. Try again later.";
    }
    auto const missing = joined(config.missing);
    return "The MS Teams integration is not set up yet. Register an app in Microsoft Entra ID with the redirect URI `" +
           config.server.site_url + "/plugins/" + k_plugin_id +
           "/oauth-redirect`, then fill in System Console > Plugins > MS Teams: " + missing +
           ". The bridge starts as soon as the settings are saved; the plugin need not be enabled again.";
}

Result<std::shared_ptr<Config const>> Core::load(std::string const& settings_json, ServerSettings const& server,
                                                 SaveGenerated when, std::vector<std::string>* found) {
    // On activation, the official plugin's settings that this plugin names differently are carried over (once: only
    // while ours are absent) and saved with the generated secrets.
    std::string input(settings_json);
    std::vector<std::string> carried;
    if (when == SaveGenerated::now) {
        auto legacy = carry_over_legacy_settings(settings_json);
        if (!legacy.carried.empty()) {
            input = std::move(legacy.settings_json);
            carried = std::move(legacy.carried);
        }
    }
    auto parsed = parse_config(input, server, /*generate_missing_secrets=*/true, found);
    if (!parsed) {
        return std::unexpected(parsed.error());
    }
    if (!carried.empty()) {
        legacy_settings_note_ = joined(carried);
        log::info("carried over the official MS Teams plugin's settings", {{"settings", legacy_settings_note_}});
        if (parsed->settings_json.empty()) {
            parsed->settings_json = input;
        }
    }
    if (!parsed->generated_keys.empty() || !carried.empty()) {
        std::string keys;
        for (auto const& k : parsed->generated_keys) {
            keys += keys.empty() ? k : "," + k;
        }
        for (auto const& c : carried) {
            keys += (keys.empty() ? "" : ",") + c.substr(0, c.find(' '));
        }
        if (when == SaveGenerated::now) {
            if (auto saved = api_->save_plugin_config(parsed->settings_json); !saved) {
                return fail(ErrorCode::unavailable,
                            "Could not save the generated settings (" + keys + "): " + saved.error().message);
            }
            log::info("generated missing secrets and saved them", {{"settings", keys}});
        } else {
            std::thread([api = api_, json = parsed->settings_json, keys] {
                if (auto saved = api->save_plugin_config(json); !saved) {
                    log::error("could not save the generated settings",
                               {{"settings", keys}, {"error", saved.error().message}});
                    return;
                }
                log::info("generated missing secrets and saved them", {{"settings", keys}});
            }).detach();
        }
    }
    return std::make_shared<Config const>(std::move(parsed->config));
}

Core::~Core() {
    stop_legacy_import();
    if (auto const runtime = runtime_.load()) {
        runtime->stop(/*cleanly=*/!active_.load());  // still active: the plugin was never deactivated
    }
}

std::shared_ptr<sync::Receiver> Core::receiver() const {
    auto const runtime = runtime_.load();
    return runtime && active_.load() ? runtime->receiver : nullptr;
}

std::shared_ptr<sync::Logins> Core::logins() const {
    auto const runtime = runtime_.load();
    return runtime && active_.load() ? runtime->logins : nullptr;
}

// Long (over 80 lines) on purpose: the wiring of every part in dependency order, each from the configuration in
// force; one function keeps that order visible.
// NOLINTNEXTLINE(readability-function-size)
Result<std::shared_ptr<Runtime const>> Core::build_runtime(std::shared_ptr<Config const> const& config) {
    auto runtime = std::make_shared<Runtime>();
    runtime->config = config;
    try {
        runtime->http = std::make_shared<http::Client>(http::TlsOptions{config->extra_ca_pem, false});
    } catch (std::exception const& e) {
        return fail(ErrorCode::invalid_argument,
                    std::string("Additional trusted CA certificates (extraCaPem) cannot be used: ") + e.what());
    }
    auto const observer = graph_observer(stats_);
    runtime->entra = std::make_shared<graph::Entra>(
        runtime->http,
        graph::App{config->login_base_url, config->graph_base_url, config->graph_resource, config->tenant_id,
                   config->client_id, config->client_secret},
        observer);
    runtime->sealer = std::make_shared<crypto::Sealer const>(config->encryption_key);
    sync::LoginSettings settings{config->server.site_url, k_plugin_id, bot_user_id_, config->connected_users_allowed};
    runtime->repos = store::postgres_repositories(db_);
    runtime->logins = std::make_shared<sync::Logins>(settings, api_, runtime->repos.accounts,
                                                     runtime->repos.oauth_states, runtime->entra, runtime->sealer);
    // The buckets are Graph's own (the documented rates, a burst of one per chat), with a 2 % margin: Graph counts
    // arrivals, and requests that leave a second apart can arrive a few milliseconds less apart (make bench saw steady
    // 429s on a few chats at exactly 1/s). At 1 request/s that is 20 ms. A 429 that still comes holds the chat's
    // bucket for its Retry-After.
    constexpr double k_margin = 0.98;
    graph::Limits limits;
    limits.chat_reads_per_second = k_margin * static_cast<double>(config->chat_reads_per_minute) / 60.0;
    limits.chat_posts_per_second = k_margin * static_cast<double>(config->chat_posts_per_minute) / 60.0;
    limits.chat_writes_per_second = k_margin * static_cast<double>(config->chat_writes_per_minute) / 60.0;
    limits.tenant_reads_per_second = k_margin * limits.tenant_reads_per_second;
    limits.tenant_posts_per_second = k_margin * limits.tenant_posts_per_second;
    limits.team_requests_per_second = k_margin * static_cast<double>(config->team_requests_per_minute) / 60.0;
    limits.feed_per_second = k_margin * static_cast<double>(config->graph_feed_per_second);
    limits.feed_bulk_per_second = k_margin * static_cast<double>(config->graph_feed_bulk_per_second);
    limits.request_timeout = std::chrono::milliseconds(config->graph_request_timeout_ms);
    runtime->graph = std::make_shared<graph::Client>(runtime->http, config->graph_base_url, limits, observer);

    auto entra = runtime->entra;
    auto graph = runtime->graph;
    sync::ProfileReader read_profile = [entra, graph](std::string const& id_or_upn) -> Result<sync::TeamsProfile> {
        graph::Token app;
        MSTEAMS_TRY_ASSIGN(app, entra->app_token());
        graph::GraphUser user;
        MSTEAMS_TRY_ASSIGN(user, graph->get_user(app.access_token, id_or_upn));
        return sync::profile_of(user);
    };
    runtime->auth.service = config->synthetic_auth_service == SyntheticAuthService::ldap ? "ldap" : "saml";
    runtime->auth.data = config->synthetic_auth_data == SyntheticAuthData::mail ? sync::SyntheticAuth::Data::mail
                         : config->synthetic_auth_data == SyntheticAuthData::user_principal_name
                             ? sync::SyntheticAuth::Data::upn
                             : sync::SyntheticAuth::Data::id;
    runtime->auth.automatic = config->auto_promote_synthetic_users;
    sync::PeopleSettings people_settings{config->sync_guest_users, {}};
    people_settings.auth = runtime->auth;
    // A Mattermost user's email may be the Teams user's mail or their UPN.
    people_settings.find_by_address = [entra,
                                       graph](std::string const& address) -> Result<std::vector<sync::TeamsProfile>> {
        graph::Token app;
        MSTEAMS_TRY_ASSIGN(app, entra->app_token());
        std::vector<graph::GraphUser> users;
        MSTEAMS_TRY_ASSIGN(users, graph->find_users_by_address(app.access_token, address));
        std::vector<sync::TeamsProfile> out;
        for (auto const& u : users) {
            out.push_back(sync::profile_of(u));
        }
        return out;
    };
    runtime->people = std::make_shared<sync::People>(api_, runtime->repos, people_settings, read_profile, stats_);
    sync::ProfileSyncSettings profile_sync;
    profile_sync.presence = config->sync_presence;
    sync::PhotoReader read_photo = [entra, graph](TeamsUserId const& id) -> Result<std::optional<std::string>> {
        graph::Token app;
        MSTEAMS_TRY_ASSIGN(app, entra->app_token());
        return graph->get_user_photo(app.access_token, id);
    };
    sync::PresenceReader read_presence =
        [entra, graph](std::vector<TeamsUserId> const& ids) -> Result<std::vector<graph::Presence>> {
        graph::Token app;
        MSTEAMS_TRY_ASSIGN(app, entra->app_token());
        return graph->get_presences(app.access_token, ids);
    };
    runtime->profiles = std::make_shared<sync::ProfileSync>(profile_sync, api_, std::make_shared<store::Profiles>(db_),
                                                            read_photo, read_presence, stats_);
    runtime->roster = store::postgres_roster(db_);
    {
        sync::AudienceSettings audience;
        audience.selective_sync = config->selective_sync;
        audience.presence_ttl_ms = config->presence_cache_seconds * 1000;
        audience.default_primary =
            config->default_primary == PrimaryPlatform::teams ? store::Platform::teams : store::Platform::mattermost;
        runtime->audience =
            std::make_shared<sync::Audience>(audience, runtime->repos, runtime->roster, runtime->people, read_presence);
        auto admission = std::make_shared<sync::Admission>(
            sync::AdmissionSettings{sync::parse_allow_list(config->connect_allow_list), config->invite_pool_size}, api_,
            runtime->roster);
        runtime->feed = std::make_shared<sync::Feed>(
            feed_settings(*config, bot_user_id_), api_, std::make_shared<store::FeedStore>(db_), runtime->roster,
            runtime->repos.accounts,
            std::make_shared<AppFeedGraph>(runtime->entra, runtime->graph, config->teams_app_id), stats_);
        std::weak_ptr<sync::Audience> weak_audience = runtime->audience;
        std::weak_ptr<sync::Feed> weak_feed = runtime->feed;
        auto accounts = runtime->repos.accounts;
        runtime->logins->set_rollout(
            admission, runtime->roster, [weak_audience, weak_feed, accounts](MmUserId const& user) {
                if (auto a = weak_audience.lock()) {
                    a->forget(user);
                }
                // Disconnected: Teams cannot notify them, so Mattermost's own notifications come back.
                auto const account = accounts->by_mm_user(user);
                if (auto f = weak_feed.lock(); f && account && !(*account && (*account)->connected())) {
                    if (auto s = f->primary_changed(user, store::Platform::mattermost); !s) {
                        log::warn("could not restore a disconnected user's Mattermost notifications",
                                  {{"user_id", user}, {"error", s.error().message}});
                    }
                }
            });
        runtime->rollout = std::make_shared<commands::RolloutContext const>(commands::RolloutContext{
            runtime->repos, runtime->roster, runtime->audience, admission, bot_user_id_,
            config->server.site_url + "/plugins/" + k_plugin_id + web::k_report_path, config->connected_users_allowed,
            feed_settings(*config, bot_user_id_).default_primary, runtime->feed});
    }
    // A new Teams person has their photo as avatar from their first message on (best effort: the periodic job
    // retries what fails).
    std::weak_ptr<sync::ProfileSync> weak_profiles = runtime->profiles;
    runtime->people->on_synthetic_created(
        [weak_profiles](TeamsUserId const& teams_user_id, MmUserId const& mm_user_id) {
            if (auto p = weak_profiles.lock()) {
                if (auto s = p->sync_photo(store::SyntheticProfile{teams_user_id, mm_user_id, 0, ""}); !s) {
                    log::debug("the photo of a new Teams user waits for the next pass", {{"error", s.error().message}});
                }
            }
        });
    sync::InboundSettings inbound;
    inbound.mode = config->chat_sync == ChatSync::mirror          ? sync::InboundMode::mirror
                   : config->chat_sync == ChatSync::notifications ? sync::InboundMode::notifications
                                                                  : sync::InboundMode::off;
    inbound.bot_user_id = bot_user_id_;
    inbound.max_file_size = config->max_file_size_to_mattermost;
    inbound.teams_web_url = config->teams_web_url;
    // Rich notifications are opened whatever the mode: after a switch back to global, those still on their way are
    // applied too.
    auto certificates = std::make_shared<sync::Certificates>(runtime->repos.certificates, runtime->sealer);
    inbound.certificates = certificates;
    if (auto planner = planner_settings(*config)) {
        auto holders = std::make_shared<RichHolders>(runtime->repos.subscriptions);
        inbound.rich_covered = [holders](std::vector<TeamsUserId> const& users) { return holders->any_of(users); };
        inbound.activity_half_life_ms = planner->half_life_ms;
    }
    inbound.audience = runtime->audience;
    runtime->inbound = std::make_shared<sync::Inbound>(inbound, api_, runtime->repos, runtime->logins, runtime->graph,
                                                       runtime->entra, runtime->people, stats_);

    sync::OutboundSettings outbound;
    outbound.enabled = config->chat_sync == ChatSync::mirror;
    outbound.bot_user_id = bot_user_id_;
    outbound.max_file_size = config->max_file_size_to_teams;
    outbound.audience = runtime->audience;
    outbound.channel_daily_limit = config->channel_daily_message_limit;
    runtime->outbound = std::make_shared<sync::Outbound>(outbound, api_, runtime->repos, runtime->logins,
                                                         runtime->graph, stats_, runtime->people);

    std::string site = config->server.site_url;
    while (!site.empty() && site.back() == '/') {
        site.pop_back();
    }
    subscriptions::MonitorSettings monitor;
    monitor.enabled = config->chat_sync != ChatSync::off;
    monitor.resource = std::string("chats/getAllMessages") + (config->evaluation_api ? "" : "?model=B");
    monitor.notification_url = site + "/plugins/" + k_plugin_id + "/changes";
    monitor.lifecycle_url = site + "/plugins/" + k_plugin_id + "/lifecycle";
    monitor.client_state = config->webhook_secret;
    monitor.node_id = node_id_;
    monitor.certificates = certificates;
    monitor.global_rich = config->subscription_mode == SubscriptionMode::global_rich;
    monitor.user_resource_suffix = config->evaluation_api ? "" : "?model=B";
    if (auto planner = planner_settings(*config)) {
        monitor.planner = *planner;
    }
    // A node killed with its server may have had posts saved whose hooks never ran: the posts since a minute before
    // its last heartbeat (clocks differ a little) are looked at again.
    std::weak_ptr<sync::Outbound> weak_outbound = runtime->outbound;
    monitor.node_lost = [weak_outbound](std::int64_t last_seen_ms) -> Status {
        if (auto out = weak_outbound.lock()) {
            return out->recover_since(last_seen_ms - 60'000);
        }
        return {};
    };
    std::weak_ptr<sync::Inbound> weak_inbound = runtime->inbound;
    runtime->monitor =
        std::make_shared<subscriptions::Monitor>(monitor, runtime->repos, runtime->graph, runtime->entra, stats_,
                                                 [weak_inbound](std::string const& why) -> Status {
                                                     if (auto in = weak_inbound.lock()) {
                                                         return in->schedule_catch_up(why);
                                                     }
                                                     return {};
                                                 });
    // Graph may lose a notification without any lifecycle event: recently active chats are read forward from their
    // cursors on a schedule.
    runtime->monitor->add_job("reconcile", std::chrono::seconds(config->reconcile_interval_seconds),
                              [weak_inbound]() -> Status {
                                  if (auto in = weak_inbound.lock()) {
                                      return in->schedule_reconcile();
                                  }
                                  return {};
                              });
    // The outbox remembers the events it was given for an hour (a late or repeated hook is not sent twice).
    runtime->monitor->add_job("outbox-seen", std::chrono::minutes(10), [weak_outbound]() -> Status {
        if (auto out = weak_outbound.lock()) {
            return out->forget_seen_events();
        }
        return {};
    });
    // Handled feed notifications are remembered for a day (a late or repeated hook notifies no one twice).
    std::weak_ptr<sync::Feed> weak_feed = runtime->feed;
    runtime->monitor->add_job("feed-purge", std::chrono::minutes(10), [weak_feed]() -> Status {
        if (auto f = weak_feed.lock()) {
            return f->purge(std::chrono::hours(24));
        }
        return {};
    });
    runtime->monitor->add_job("profiles", std::chrono::seconds(config->profile_sync_interval_seconds),
                              [weak_profiles]() -> Status {
                                  if (auto p = weak_profiles.lock()) {
                                      return p->run_once();
                                  }
                                  return {};
                              });
    // The user sync job: the tenant's Teams people as synthetic users, run by the leader; a pass every minute (or the
    // interval, when shorter) goes on with a run in progress, and a run starts every interval.
    sync::UserSyncSettings user_sync;
    user_sync.interval = std::chrono::seconds(config->sync_users_interval_seconds);
    user_sync.sync_guests = config->sync_guest_users;
    user_sync.domains = config->sync_users_domains;
    user_sync.max_changes_per_run = config->sync_users_max_per_run;
    user_sync.auth = runtime->auth;
    runtime->user_sync = std::make_shared<sync::UserSync>(
        user_sync, api_, runtime->repos, std::make_shared<store::UserSyncStore>(db_), runtime->people,
        [entra, graph](std::string const& next_link) -> Result<graph::UserPage> {
            graph::Token app;
            MSTEAMS_TRY_ASSIGN(app, entra->app_token());
            return graph->list_users(app.access_token, next_link, 100);
        },
        [entra, graph](TeamsUserId const& id) -> Result<std::optional<graph::GraphUser>> {
            graph::Token app;
            MSTEAMS_TRY_ASSIGN(app, entra->app_token());
            auto user = graph->get_user(app.access_token, id.str());
            if (!user) {
                if (user.error().code == ErrorCode::not_found) {
                    return std::optional<graph::GraphUser>();
                }
                return std::unexpected(user.error());
            }
            return std::optional<graph::GraphUser>(*std::move(user));
        },
        stats_);
    if (config->sync_users_interval_seconds > 0) {
        std::weak_ptr<sync::UserSync> weak_user_sync = runtime->user_sync;
        runtime->monitor->add_job("users",
                                  std::chrono::seconds(std::min<long long>(60, config->sync_users_interval_seconds)),
                                  [weak_user_sync]() -> Status {
                                      if (auto u = weak_user_sync.lock()) {
                                          return u->run_once();
                                      }
                                      return {};
                                  });
    }
    // The client secret's expiry, read at leadership and daily; admins are told 30, 7 and 1 days before.
    std::string const client_id = config->client_id;
    std::vector<std::string> required{"User.Read.All|User.ReadWrite.All|Directory.Read.All"};
    if (config->chat_sync != ChatSync::off) {
        required.emplace_back("Chat.Read.All|Chat.ReadWrite.All");
    }
    if (config->sync_presence) {
        required.emplace_back("Presence.Read.All|Presence.ReadWrite.All");
    }
    if (config->activity_feed) {
        required.emplace_back("TeamsActivity.Send");
    }
    runtime->credentials = std::make_shared<subscriptions::CredentialCheck>(
        subscriptions::CredentialCheckSettings{config->client_secret, {}, std::move(required)},
        [entra, graph, client_id]() -> Result<std::vector<graph::AppSecret>> {
            graph::Token app;
            MSTEAMS_TRY_ASSIGN(app, entra->app_token());
            return graph->list_app_secrets(app.access_token, client_id);
        },
        [entra]() -> Result<std::vector<std::string>> {
            graph::Token app;
            MSTEAMS_TRY_ASSIGN(app, entra->app_token());
            return graph::token_roles(app.access_token);
        },
        runtime->repos.notices,
        [api = api_, bot = bot_user_id_](std::string const& text) { tell_admins(*api, bot, text); });
    std::weak_ptr<subscriptions::CredentialCheck> weak_credentials = runtime->credentials;
    runtime->monitor->add_job(
        "credentials", std::chrono::seconds(config->credential_check_interval_seconds),
        [weak_credentials]() -> Status {
            if (auto c = weak_credentials.lock()) {
                return c->run_once();
            }
            return {};
        },
        /*at_once=*/true);
    {
        auto logins = runtime->logins;
        commands::TeamsDirectory directory{
            [graph](std::string const& token) { return graph->list_joined_teams(token); },
            [graph](std::string const& token, std::string const& team) { return graph->list_channels(token, team); }};
        std::weak_ptr<subscriptions::Monitor> monitor_for_links = runtime->monitor;
        runtime->channels = std::make_shared<commands::ChannelContext const>(commands::ChannelContext{
            runtime->repos, [logins](MmUserId const& user) { return logins->access_token(user); }, directory,
            [monitor_for_links] {
                if (auto m = monitor_for_links.lock()) {
                    m->wake();  // the leader makes or deletes the channel's subscription now (another node's within
                                // its next pass)
                }
            }});
    }
    runtime->admin = std::make_shared<commands::AdminContext const>(
        commands::AdminContext{runtime->repos, runtime->auth,
                               [this, feed = std::weak_ptr<sync::Feed>(runtime->feed)] {
                                   return to_markdown(diagnostics()) + feed_status(feed.lock().get());
                               },
                               explainer(planner_settings(*config), runtime->repos)});
    std::weak_ptr<subscriptions::Monitor> weak_monitor = runtime->monitor;
    graph::NotificationTokenSettings token_settings;
    token_settings.login_base = config->login_base_url;
    token_settings.client_id = config->client_id;
    token_settings.tenant_id = config->tenant_id;
    runtime->sso = sso_tokens(*config, runtime->http);
    runtime->receiver = std::make_shared<sync::Receiver>(
        runtime->repos, config->webhook_secret, stats_,
        [weak_inbound] {
            if (auto in = weak_inbound.lock()) {
                in->wake();
            }
        },
        [weak_monitor] {
            if (auto m = weak_monitor.lock()) {
                m->wake();
            }
        },
        config->tenant_id,
        [tokens = std::make_shared<graph::NotificationTokens>(runtime->http, token_settings)](
            std::vector<std::string> const& batch) { return tokens->check(batch); },
        inbound.rich_hold_ms);
    return runtime;
}

Status Core::activate(std::string const& settings_json, ServerSettings const& server) {
    log::set_min_level(log::level_from_name(server.log_level));
    std::shared_ptr<Config const> config;
    MSTEAMS_TRY_ASSIGN(config, load(settings_json, server, SaveGenerated::now));

    auto db = open_database_(server);
    if (!db) {
        return fail(ErrorCode::unavailable,
                    "The MS Teams plugin cannot use the Mattermost database: " + db.error().message);
    }
    db_ = store::observed(*db, query_observer(stats_));

    mm::Bot const bot{"msteams", "MS Teams",
                      "Posts for Microsoft Teams users and tells you about your Teams connection.", ""};
    auto bot_id = api_->ensure_bot(bot);
    if (!bot_id) {
        return fail(ErrorCode::unavailable, "Could not create or update the msteams bot: " + bot_id.error().message);
    }
    bot_user_id_ = *bot_id;

    if (auto registered = api_->register_command(commands_.registration(read_icon(server.bundle_path))); !registered) {
        return fail(ErrorCode::unavailable, "Could not register /msteams: " + registered.error().message);
    }
    start_legacy_import(*config);
    if (!config->configured()) {
        // Enabled before it was configured (the admin guide's order): run, wait for the settings, call no one.
        config_.store(config);
        active_.store(true);
        log::info("MS Teams plugin activated; waiting to be set up",
                  {{"version", k_version}, {"missing", joined(config->missing)}});
        return {};
    }
    std::shared_ptr<Runtime const> runtime;
    MSTEAMS_TRY_ASSIGN(runtime, build_runtime(config));
    if (db_) {  // tests may run without one, and without Entra
        MSTEAMS_TRY(app_credentials_accepted(*runtime->entra));
    }
    runtime_.store(runtime);
    config_.store(config);
    active_.store(true);
    if (db_) {  // tests may run without one
        runtime->start();
    }
    log::info("MS Teams plugin activated", {{"version", k_version}, {"config", describe(*config)}});
    return {};
}

Status Core::configuration_change(std::string const& settings_json, ServerSettings const& server) {
    log::set_min_level(log::level_from_name(server.log_level));  // the server's log settings may have changed
    std::shared_ptr<Config const> config;
    std::vector<std::string> found;
    auto loaded = load(settings_json, server, SaveGenerated::after_hook, &found);
    // Saved without the validation hook's check (an older server, config.json edited, a restarting core): the old
    // configuration stays in force, and system admins are told every problem.
    report_problems(found);
    if (!loaded) {
        return std::unexpected(loaded.error());
    }
    config = std::move(*loaded);
    if (db_) {
        // Not set up (again): the bridge stops and waits; set up: it starts, without enabling the plugin again.
        std::shared_ptr<Runtime const> runtime;
        if (config->configured()) {
            MSTEAMS_TRY_ASSIGN(runtime, build_runtime(config));
            if (auto accepted = app_credentials_accepted(*runtime->entra); !accepted) {
                found.push_back(accepted.error().message);
                report_problems(found);
                return accepted;
            }
        }
        auto const previous = runtime_.exchange(runtime);
        if (previous) {
            previous->stop();
        }
        if (runtime && active_.load()) {
            runtime->start();
        }
    }
    config_.store(config);
    if (config->configured()) {
        log::info("configuration applied", {{"config", describe(*config)}});
    } else {
        log::info("configuration applied; waiting to be set up", {{"missing", joined(config->missing)}});
    }
    // Webapps re-read what they show (the connect prompt depends on the configuration).
    if (auto s = api_->publish_websocket_event("config_changed", "{}", mm::Broadcast{{}, {}, "", true}); !s) {
        log::warn("could not tell webapps about the configuration change", {{"error", s.error().message}});
    }
    return {};
}

std::string welcome_text(sync::Connected const& c, ChatSync chats) {
    auto const who = c.teams_display_name.empty() ? c.teams_email : c.teams_display_name;
    std::string text = "You are now connected to Microsoft Teams as **" + who + "**";
    switch (chats) {
        case ChatSync::mirror:
            text +=
                ". From now on your Teams chats appear here as direct and group messages, and what you write in a "
                "direct or group message whose members are all on Microsoft Teams reaches them in Teams, as you.";
            break;
        case ChatSync::notifications:
            text += ". From now on I tell you here when someone writes to you in a Teams chat.";
            break;
        case ChatSync::off:
            text += ". Teams chats are not bridged on this server right now; your system admin can turn that on.";
            break;
    }
    return text + " Run `/msteams status` to check the connection and `/msteams disconnect` to end it.";
}

void Core::welcome(sync::Connected const& connected) const {
    auto const config = config_.load();
    if (connected.purpose != sync::Purpose::user || bot_user_id_.empty() || !config) {
        return;
    }
    // per-user and hybrid: the planner looks at the newcomer now (on the leader; the others within its interval).
    if (auto const runtime = runtime_.load(); runtime && runtime->monitor && planner_settings(*config)) {
        runtime->monitor->wake();
    }
    auto channel = api_->get_direct_channel(bot_user_id_, connected.mm_user_id);
    if (!channel) {
        log::warn("could not open a DM to welcome a connected user",
                  {{"user_id", connected.mm_user_id}, {"error", channel.error().message}});
        return;
    }
    mm::Post post;
    post.user_id = bot_user_id_;
    post.channel_id = channel->id;
    post.message = welcome_text(connected, config->chat_sync);
    if (auto p = api_->create_post(post); !p) {
        log::warn("could not welcome a connected user",
                  {{"user_id", connected.mm_user_id}, {"error", p.error().message}});
    }
}

std::string problems_text(std::vector<std::string> const& list) {
    std::string text =
        "The MS Teams settings saved last were not applied because some are invalid; the previous "
        "settings stay in force. Fix them in System Console > Plugins > MS Teams:";
    for (auto const& p : list) {
        text += "\n- " + p;
    }
    return text;
}

void Core::report_problems(std::vector<std::string> const& list) {
    std::string text = list.empty() ? std::string() : problems_text(list);
    {
        std::lock_guard lock(problems_mutex_);
        if (text == problems_) {
            return;  // told already (or nothing to tell)
        }
        problems_ = text;
    }
    if (text.empty() || bot_user_id_.empty()) {
        return;
    }
    log::warn("invalid settings were saved; telling system admins", {{"problems", std::to_string(list.size())}});
    // Not from inside the configuration hook: posting there would wait on the server's configuration lock.
    std::thread([api = api_, bot = bot_user_id_, text] { tell_admins(*api, bot, text); }).detach();
}

std::string Core::problems() const {
    std::lock_guard lock(problems_mutex_);
    return problems_;
}

Status Core::validate_configuration(std::string const& settings_json, ServerSettings const& server) const {
    // Empty generated secrets are generated on activation; the check does not save anything.
    if (auto parsed = parse_config(settings_json, server, /*generate_missing_secrets=*/true); !parsed) {
        return std::unexpected(parsed.error());
    }
    return {};
}

void Core::start_legacy_import(Config const& config) {
    if (!db_) {
        return;  // tests may run without a database
    }
    stop_legacy_import();  // an earlier activation's
    sync::LegacyImportSettings settings;
    settings.legacy_key = config.encryption_key;
    settings.node_id = node_id_;
    settings.settings_note = legacy_settings_note_;
    // The admins' message waits until the plugin is active (posting from inside the activation would run the
    // plugin's own hooks before it is ready for them).
    auto const signal = std::make_shared<LegacyImportSignal>();
    legacy_signal_ = signal;
    auto tell = [this, signal](std::string const& text) {
        for (int i = 0; i < 300 && !active_.load() && !signal->stopping(); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        if (!bot_user_id_.empty() && !signal->stopping()) {
            tell_admins(*api_, bot_user_id_, text);
        }
    };
    auto importer = std::make_shared<sync::LegacyImport>(
        settings, std::make_shared<store::LegacyImportStore>(db_), store::postgres_leases(db_),
        store::postgres_notices(db_), std::make_shared<crypto::Sealer const>(config.encryption_key), tell);
    auto const quick_done = [signal] {
        std::lock_guard lock(signal->mutex);
        signal->quick_done = true;
        signal->cv.notify_all();
    };
    legacy_thread_ = std::thread([importer, signal, quick_done] {
        auto const stopping = [&signal] { return signal->stopping(); };
        for (;;) {
            auto outcome = importer->run(stopping, quick_done);
            quick_done();  // whatever happened, activation waits no longer
            std::chrono::seconds pause{30};
            if (outcome) {
                if (*outcome != sync::LegacyOutcome::elsewhere) {
                    return;  // done, nothing to do, or stopping
                }
                pause = std::chrono::seconds(15);  // another node imports: take over if it stops or dies
            } else {
                log::warn("could not import the official MS Teams plugin's data; trying again",
                          {{"error", outcome.error().message}, {"retry_in_s", std::to_string(pause.count())}});
            }
            std::unique_lock lock(signal->mutex);
            if (signal->cv.wait_for(lock, pause, [&] { return signal->stop; })) {
                return;
            }
        }
    });
    std::unique_lock lock(signal->mutex);
    if (!signal->cv.wait_for(lock, std::chrono::seconds(15), [&] { return signal->quick_done; })) {
        log::info("the import of the official MS Teams plugin's data goes on in the background");
    }
}

void Core::stop_legacy_import() {
    if (legacy_signal_) {
        std::lock_guard lock(legacy_signal_->mutex);
        legacy_signal_->stop = true;
        legacy_signal_->cv.notify_all();
    }
    if (legacy_thread_.joinable()) {
        legacy_thread_.join();
    }
}

void Core::deactivate() {
    stop_legacy_import();
    active_.store(false);
    if (auto const runtime = runtime_.load()) {
        runtime->stop();
    }
    log::info("MS Teams plugin deactivated");
}

mm::CommandResponse Core::execute_command(mm::CommandArgs const& args) const {
    auto response = commands_.execute(args);
    // `/msteams status` (and the help) tell system admins about settings that were saved but not applied.
    if (auto const words = strings::split_words(args.command);
        words.size() == 1 ||
        (words.size() == 2 && (strings::to_lower(words[1]) == "status" || strings::to_lower(words[1]) == "help"))) {
        if (auto const notice = problems(); !notice.empty()) {
            if (auto admin = api_->has_permission_to(args.user_id, "manage_system"); admin && *admin) {
                response.text += (response.text.empty() ? "" : "\n\n") + notice;
            }
        }
    }
    if (response.response_type != "ephemeral" || response.text.empty() || bot_user_id_.empty()) {
        return response;
    }
    // Mattermost shows an ephemeral command response as "System"; the reply is the bot's, with its name and icon.
    mm::Post reply;
    reply.user_id = bot_user_id_;
    reply.channel_id = args.channel_id;
    reply.root_id = args.root_id;
    reply.message = response.text;
    if (auto sent = api_->send_ephemeral_post(args.user_id, reply); !sent) {
        log::warn("could not answer a command as the bot; answering inline", {{"error", sent.error().message}});
        return response;
    }
    response.text.clear();
    return response;
}

std::size_t Core::http_body_limit(std::string const& method, std::string const& path) const {
    return router_.body_limit(method, path);
}

web::Response Core::serve_http(web::Request const& request) const { return router_.handle(request); }

Diagnostics Core::diagnostics() const {
    Diagnostics d;
    d.now = now_ms();
    d.version = k_version;
    d.started_at = started_at_ms_;
    d.last_notification_at = stats_->last_notification_at_ms.load();
    auto const config = config_.load();
    auto const runtime = runtime_.load();
    d.active = active_.load();
    d.node = node_name(config.get());
    if (config) {
        d.configured = config->configured();
        d.chat_sync = to_string(config->chat_sync);
        d.restarts = config->server.core_restarts;
        d.teams_tab_problem = teams_tab_problem(*config);
    }
    for (auto const& s : stats_->graph_requests.snapshot()) {
        d.graph_requests += s.value;
        if (s.values.size() == 2 && s.values[1] == "429") {
            d.graph_throttled += s.value;
        }
    }
    d.graph_retries = stats_->graph_retries.load();
    d.graph_waited_ms = stats_->graph_limiter_wait_ms.load();
    if (db_) {
        store::LegacyImportStore legacy(db_);
        auto progress = legacy.progress();
        auto problems = legacy.problems(store::LegacyStep::accounts, 21);
        if (progress && problems) {
            d.legacy_import = sync::legacy_status(*progress, *problems);
        }
    }
    if (!runtime || !d.active) {
        d.database_problem = "the bridge is not running";
        return d;
    }
    d.leader = runtime->monitor->leader();
    if (auto const token = runtime->entra->app_token(); token) {
        d.credentials_problem = std::string();
    } else {
        d.credentials_problem = token.error().message;
    }
    d.secret_expires_at = runtime->credentials->expiry();
    d.missing_permissions = runtime->credentials->missing();
    auto overview = store::read_overview(*runtime->repos.db);
    auto subscriptions = runtime->repos.subscriptions->list();
    if (!overview || !subscriptions) {
        d.database_problem = !overview ? overview.error().message : subscriptions.error().message;
        return d;
    }
    d.overview = std::move(*overview);
    d.subscriptions = std::move(*subscriptions);
    if (config) {
        d.subscription_mode = to_string(config->subscription_mode);
        if (auto const settings = planner_settings(*config)) {
            d.configured_budget = settings->budget;
            if (auto planner = subscriptions::load_planner(*settings, *runtime->repos.planning, d.subscriptions)) {
                d.planner_budget = planner->budget(d.now);
            }
        }
    }
    return d;
}

std::string Core::metrics_text() const {
    metrics::Gauges g;
    auto const config = config_.load();
    auto const runtime = runtime_.load();
    g.active = active_.load() && config && config->configured();
    g.start_time = static_cast<double>(started_at_ms_) / 1000.0;
    if (config) {
        g.restarts = config->server.core_restarts;
    }
    if (runtime && active_.load()) {
        g.leader = runtime->monitor->leader();
        if (auto const expiry = runtime->credentials->expiry(); expiry && g.leader) {
            g.secret_seconds_to_expiry = static_cast<double>(*expiry - now_ms()) / 1000.0;
        }
        if (runtime->repos.db) {
            if (auto const overview = store::read_overview(*runtime->repos.db)) {
                g.database = database_gauges(*overview, now_ms());
            } else {
                log::debug("metrics: the bridge's tables could not be read", {{"error", overview.error().message}});
            }
        }
    }
    return metrics::render(*stats_, g, node_name(config.get()));
}

std::uint64_t Core::deliver_events(std::span<HookEvent const> events) {
    std::vector<sync::OutboundEvent> outbound;
    for (auto const& e : events) {
        log::Fields fields{{"seq", std::to_string(e.seq)}, {"hook", to_string(e.kind)}};
        switch (e.kind) {
            case HookEvent::Kind::message_posted:
            case HookEvent::Kind::message_updated:
            case HookEvent::Kind::message_deleted: {
                fields.emplace_back("post_id", e.post.id);
                fields.emplace_back("channel_id", e.post.channel_id);
                auto const kind = e.kind == HookEvent::Kind::message_posted    ? sync::OutboundEvent::Kind::posted
                                  : e.kind == HookEvent::Kind::message_updated ? sync::OutboundEvent::Kind::edited
                                                                               : sync::OutboundEvent::Kind::deleted;
                outbound.push_back(sync::OutboundEvent{kind, e.post, e.old_post, {}});
                break;
            }
            case HookEvent::Kind::reaction_added:
            case HookEvent::Kind::reaction_removed:
                fields.emplace_back("post_id", e.reaction.post_id);
                fields.emplace_back("emoji", e.reaction.emoji_name);
                outbound.push_back(sync::OutboundEvent{e.kind == HookEvent::Kind::reaction_added
                                                           ? sync::OutboundEvent::Kind::reacted
                                                           : sync::OutboundEvent::Kind::unreacted,
                                                       {},
                                                       {},
                                                       e.reaction});
                break;
            case HookEvent::Kind::user_logged_in:
            case HookEvent::Kind::user_created: fields.emplace_back("user_id", e.user.id); break;
            case HookEvent::Kind::cluster_event: fields.emplace_back("event_id", e.cluster_event_id); break;
            case HookEvent::Kind::channel_created: fields.emplace_back("channel_id", e.channel.id); break;
        }
        log::debug("hook event", std::move(fields));
    }
    if (events.empty()) {
        return 0;
    }
    auto const runtime = runtime_.load();
    if (runtime && active_.load() && runtime->auth.automatic) {
        for (auto const& e : events) {
            if (e.kind != HookEvent::Kind::user_logged_in) {
                continue;
            }
            // A synthetic user's person signed in with their single sign-on: the account becomes theirs. A failure is
            // logged; their next sign-in tries again.
            auto promoted = sync::promote_on_sign_in(*api_, *runtime->repos.users, runtime->auth, e.user);
            if (!promoted) {
                log::warn("could not promote a synthetic user at their sign-in; their next sign-in tries again",
                          {{"user_id", e.user.id}, {"error", promoted.error().message}});
            } else if (*promoted) {
                ++stats_->synthetic_users_promoted;
            }
        }
    }
    if (!outbound.empty() && runtime && active_.load()) {
        // Durable before acknowledged: if the outbox cannot take them, the shim sends the batch again.
        if (auto s = runtime->outbound->enqueue(outbound); !s) {
            log::warn("could not queue Mattermost changes for Teams; they will be delivered again",
                      {{"events", std::to_string(outbound.size())}, {"error", s.error().message}});
            return events.front().seq - 1;
        }
    }
    if (runtime && active_.load() && !queue_for_feed(*runtime, events)) {
        return events.front().seq - 1;
    }
    // When the server logs debug lines (diagnosis), a batch is acknowledged only once its lines are out: a crash then
    // loses no line about an event the shim will not send again.
    if (log::enabled(log::Level::debug)) {
        (void)log::flush(std::chrono::seconds(1));
    }
    return events.back().seq;
}

}  // namespace msteams::app
