#include "app/core.hpp"

#include <fstream>
#include <sstream>
#include <thread>

#include "commands/account_commands.hpp"
#include "commands/admin_commands.hpp"
#include "common/log.hpp"
#include "common/random.hpp"
#include "common/strings.hpp"
#include "common/version.hpp"
#include "crypto/crypto.hpp"
#include "graph/client.hpp"
#include "graph/entra.hpp"
#include "http/client.hpp"
#include "store/bridge.hpp"
#include "store/database.hpp"
#include "subscriptions/monitor.hpp"
#include "sync/inbound.hpp"
#include "sync/logins.hpp"
#include "sync/outbound.hpp"
#include "sync/people.hpp"
#include "sync/receiver.hpp"
#include "web/account_routes.hpp"
#include "web/routes.hpp"

namespace msteams::app {
namespace {

constexpr std::size_t k_max_icon_bytes = 256 * 1024;

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

}  // namespace

struct Runtime {
    std::shared_ptr<Config const> config;
    std::shared_ptr<http::Client> http;
    std::shared_ptr<graph::Entra> entra;
    std::shared_ptr<graph::Client> graph;
    std::shared_ptr<crypto::Sealer const> sealer;
    std::shared_ptr<sync::Logins> logins;
    std::shared_ptr<store::Bridge> bridge;
    std::shared_ptr<sync::People> people;
    std::shared_ptr<sync::Inbound> inbound;
    std::shared_ptr<sync::Outbound> outbound;
    std::shared_ptr<sync::Receiver> receiver;
    std::shared_ptr<subscriptions::Monitor> monitor;
    std::shared_ptr<commands::AdminContext const> admin;

    void start() const {
        inbound->start();
        outbound->start();
        monitor->start();
    }
    void stop() const {
        monitor->stop();
        outbound->stop();
        inbound->stop();
    }
};

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
      stats_(std::make_shared<sync::Stats>()),
      node_id_(random::token(12)) {
    auto logins_source = [this] { return logins(); };
    commands::add_account_commands(commands_, logins_source);
    commands::add_admin_commands(commands_, *api_, [this]() -> std::shared_ptr<commands::AdminContext const> {
        auto const runtime = runtime_.load();
        return runtime && active_.load() ? runtime->admin : nullptr;
    });
    web::install_account_routes(router_, logins_source, api_);
    web::install_notification_routes(router_, [this] { return receiver(); }, stats_, api_,
                                     [this]() -> std::shared_ptr<store::Bridge> {
                                         auto const runtime = runtime_.load();
                                         return runtime && active_.load() && runtime->admin ? runtime->admin->bridge
                                                                                             : nullptr;
                                     });
    web::install_routes(router_, [this]() -> std::optional<web::WebappSettings> {
        auto const c = config_.load();
        if (!c || !active_.load()) {
            return std::nullopt;
        }
        return web::WebappSettings{c->enforce_connected_accounts, c->allow_skip_connect_accounts,
                                   to_string(c->chat_sync), c->sync_linked_channels};
    });
}

Result<std::shared_ptr<Config const>> Core::load(std::string const& settings_json, ServerSettings const& server,
                                                 SaveGenerated when) {
    auto parsed = parse_config(settings_json, server, /*generate_missing_secrets=*/true);
    if (!parsed) {
        return std::unexpected(parsed.error());
    }
    if (!parsed->generated_keys.empty()) {
        std::string keys;
        for (auto const& k : parsed->generated_keys) {
            keys += keys.empty() ? k : "," + k;
        }
        if (when == SaveGenerated::now) {
            if (auto saved = api_->save_plugin_config(parsed->settings_json); !saved) {
                return fail(ErrorCode::unavailable, "Could not save the generated settings (" + keys +
                                                        "): " + saved.error().message);
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
    if (auto const runtime = runtime_.load()) {
        runtime->stop();
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

Result<std::shared_ptr<Runtime const>> Core::build_runtime(std::shared_ptr<Config const> config) {
    auto runtime = std::make_shared<Runtime>();
    runtime->config = config;
    try {
        runtime->http = std::make_shared<http::Client>(http::TlsOptions{config->extra_ca_pem, false});
    } catch (std::exception const& e) {
        return fail(ErrorCode::invalid_argument,
                    std::string("Additional trusted CA certificates (extraCaPem) cannot be used: ") + e.what());
    }
    runtime->entra = std::make_shared<graph::Entra>(
        runtime->http, graph::App{config->login_base_url, config->graph_base_url, config->graph_resource,
                                  config->tenant_id, config->client_id, config->client_secret});
    runtime->sealer = std::make_shared<crypto::Sealer const>(config->encryption_key);
    sync::LoginSettings settings{config->server.site_url, k_plugin_id, bot_user_id_, config->connected_users_allowed};
    runtime->logins = std::make_shared<sync::Logins>(settings, api_, db_, runtime->entra, runtime->sealer);
    // A margin under Graph's budgets: requests that leave a second apart can arrive 999 ms apart, and Graph counts
    // arrivals (make bench saw steady 429s on a few chats at exactly 1/s).
    constexpr double k_margin = 0.9;
    graph::Limits limits;
    limits.chat_reads_per_second = k_margin * static_cast<double>(config->chat_reads_per_minute) / 60.0;
    limits.chat_posts_per_second = k_margin * static_cast<double>(config->chat_posts_per_minute) / 60.0;
    limits.chat_writes_per_second = k_margin * static_cast<double>(config->chat_writes_per_minute) / 60.0;
    limits.tenant_reads_per_second = k_margin * limits.tenant_reads_per_second;
    limits.tenant_posts_per_second = k_margin * limits.tenant_posts_per_second;
    limits.request_timeout = std::chrono::milliseconds(config->graph_request_timeout_ms);
    runtime->graph = std::make_shared<graph::Client>(runtime->http, config->graph_base_url, limits);
    runtime->bridge = std::make_shared<store::Bridge>(db_);

    auto entra = runtime->entra;
    auto graph = runtime->graph;
    sync::ProfileReader read_profile = [entra, graph](std::string const& id) -> Result<sync::TeamsProfile> {
        graph::Token app;
        MSTEAMS_TRY_ASSIGN(app, entra->app_token());
        graph::GraphUser user;
        MSTEAMS_TRY_ASSIGN(user, graph->get_user(app.access_token, id));
        return sync::TeamsProfile{user.id, user.display_name,
                                  user.mail.empty() ? user.user_principal_name : user.mail, user.user_type == "Guest"};
    };
    runtime->people = std::make_shared<sync::People>(api_, runtime->bridge, sync::PeopleSettings{config->sync_guest_users},
                                                     read_profile, stats_);
    sync::InboundSettings inbound;
    inbound.mode = config->chat_sync == ChatSync::mirror          ? sync::InboundMode::mirror
                   : config->chat_sync == ChatSync::notifications ? sync::InboundMode::notifications
                                                                  : sync::InboundMode::off;
    inbound.bot_user_id = bot_user_id_;
    inbound.max_file_size = config->max_file_size_to_mattermost;
    runtime->inbound = std::make_shared<sync::Inbound>(inbound, api_, runtime->bridge, runtime->logins, runtime->graph,
                                                       runtime->entra, runtime->people, stats_);

    sync::OutboundSettings outbound;
    outbound.enabled = config->chat_sync == ChatSync::mirror;
    outbound.bot_user_id = bot_user_id_;
    outbound.max_file_size = config->max_file_size_to_teams;
    sync::TeamsLookup lookup = [read_profile](std::string const& email) -> Result<std::optional<sync::TeamsProfile>> {
        auto profile = read_profile(email);  // by user principal name, which is the email for most tenants
        if (!profile) {
            if (profile.error().code == ErrorCode::not_found) {
                return std::optional<sync::TeamsProfile>();
            }
            return std::unexpected(profile.error());
        }
        if (!strings::iequals(profile->email, email)) {
            return std::optional<sync::TeamsProfile>();  // same-email rule, as for connecting
        }
        return std::optional<sync::TeamsProfile>(*profile);
    };
    runtime->outbound = std::make_shared<sync::Outbound>(outbound, api_, runtime->bridge, runtime->logins,
                                                         runtime->graph, stats_, lookup);

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
    monitor.reconcile_interval = std::chrono::seconds(config->reconcile_interval_seconds);
    std::weak_ptr<sync::Inbound> weak_inbound = runtime->inbound;
    runtime->monitor = std::make_shared<subscriptions::Monitor>(
        monitor, runtime->bridge, runtime->graph, runtime->entra, stats_, [weak_inbound](std::string const& why) -> Status {
            if (auto in = weak_inbound.lock()) {
                return in->schedule_catch_up(why);
            }
            return {};
        });
    runtime->monitor->set_reconcile([weak_inbound]() -> Status {
        if (auto in = weak_inbound.lock()) {
            return in->schedule_reconcile();
        }
        return {};
    });
    runtime->admin = std::make_shared<commands::AdminContext const>(commands::AdminContext{
        runtime->bridge, config->synthetic_auth_service == SyntheticAuthService::ldap ? "ldap" : "saml",
        config->synthetic_auth_data == SyntheticAuthData::mail                  ? "mail"
        : config->synthetic_auth_data == SyntheticAuthData::user_principal_name ? "upn"
                                                                                : "id"});
    std::weak_ptr<subscriptions::Monitor> weak_monitor = runtime->monitor;
    runtime->receiver = std::make_shared<sync::Receiver>(
        runtime->bridge, config->webhook_secret, stats_,
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
        config->tenant_id);
    return runtime;
}

Status Core::activate(std::string const& settings_json, ServerSettings const& server) {
    std::shared_ptr<Config const> config;
    MSTEAMS_TRY_ASSIGN(config, load(settings_json, server, SaveGenerated::now));

    auto db = open_database_(server);
    if (!db) {
        return fail(ErrorCode::unavailable, "The MS Teams plugin cannot use the Mattermost database: " +
                                                db.error().message);
    }
    db_ = *db;

    mm::Bot const bot{"msteams", "MS Teams",
                      "Posts for Microsoft Teams users and tells you about your Teams connection.", ""};
    auto bot_id = api_->ensure_bot(bot);
    if (!bot_id) {
        return fail(ErrorCode::unavailable, "Could not create or update the msteams bot: " + bot_id.error().message);
    }
    bot_user_id_ = *bot_id;

    if (auto registered = api_->register_command(commands_.registration(read_icon(server.bundle_path)));
        !registered) {
        return fail(ErrorCode::unavailable, "Could not register /msteams: " + registered.error().message);
    }
    std::shared_ptr<Runtime const> runtime;
    MSTEAMS_TRY_ASSIGN(runtime, build_runtime(config));
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
    std::shared_ptr<Config const> config;
    MSTEAMS_TRY_ASSIGN(config, load(settings_json, server, SaveGenerated::after_hook));
    if (db_) {
        std::shared_ptr<Runtime const> runtime;
        MSTEAMS_TRY_ASSIGN(runtime, build_runtime(config));
        auto const previous = runtime_.exchange(runtime);
        if (previous) {
            previous->stop();
        }
        if (active_.load()) {
            runtime->start();
        }
    }
    config_.store(config);
    log::info("configuration applied", {{"config", describe(*config)}});
    // Webapps re-read what they show (the connect prompt depends on the configuration).
    if (auto s = api_->publish_websocket_event("config_changed", "{}", mm::Broadcast{"", "", "", true}); !s) {
        log::warn("could not tell webapps about the configuration change", {{"error", s.error().message}});
    }
    return {};
}

void Core::deactivate() {
    active_.store(false);
    if (auto const runtime = runtime_.load()) {
        runtime->stop();
    }
    log::info("MS Teams plugin deactivated");
}

mm::CommandResponse Core::execute_command(mm::CommandArgs const& args) const { return commands_.execute(args); }

std::size_t Core::http_body_limit(std::string const& method, std::string const& path) const {
    return router_.body_limit(method, path);
}

web::Response Core::serve_http(web::Request const& request) const { return router_.handle(request); }

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
                                                       {}, {}, e.reaction});
                break;
            case HookEvent::Kind::user_logged_in:
            case HookEvent::Kind::user_created:
                fields.emplace_back("user_id", e.user.id);
                break;
            case HookEvent::Kind::cluster_event:
                fields.emplace_back("event_id", e.cluster_event_id);
                break;
            case HookEvent::Kind::channel_created:
                fields.emplace_back("channel_id", e.channel.id);
                break;
        }
        log::debug("hook event", std::move(fields));
    }
    if (events.empty()) {
        return 0;
    }
    auto const runtime = runtime_.load();
    if (!outbound.empty() && runtime && active_.load()) {
        // Durable before acknowledged: if the outbox cannot take them, the shim sends the batch again.
        if (auto s = runtime->outbound->enqueue(outbound); !s) {
            log::warn("could not queue Mattermost changes for Teams; they will be delivered again",
                      {{"events", std::to_string(outbound.size())}, {"error", s.error().message}});
            return events.front().seq - 1;
        }
    }
    return events.back().seq;
}

}  // namespace msteams::app
