#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "app/config.hpp"
#include "commands/commands.hpp"
#include "common/result.hpp"
#include "mm/api.hpp"
#include "web/router.hpp"

namespace msteams::store {
class Database;
}
namespace msteams::sync {
struct Connected;
class Logins;
class Receiver;
}  // namespace msteams::sync
namespace msteams::metrics {
struct Counters;
}

namespace msteams::app {

struct Diagnostics;

// A Mattermost hook event that needs no answer, in the order the server raised it.
struct HookEvent {
    enum class Kind {
        message_posted,
        message_updated,
        message_deleted,
        reaction_added,
        reaction_removed,
        user_logged_in,
        user_created,
        cluster_event,
        channel_created,
    };
    std::uint64_t seq = 0;
    Kind kind = Kind::message_posted;
    mm::Post post;      // posted, updated (new), deleted
    mm::Post old_post;  // updated
    mm::Reaction reaction;
    mm::User user;
    mm::Channel channel;
    std::string cluster_event_id;
    std::string cluster_event_data;
};

char const* to_string(HookEvent::Kind kind) noexcept;

// Everything built from one configuration snapshot; replaced as a whole when the configuration changes.
struct Runtime;

// Opens the Mattermost database and brings the msteams_ tables up to date.
using DatabaseOpener = std::function<Result<std::shared_ptr<store::Database>>(ServerSettings const&)>;
DatabaseOpener default_database_opener();

// The welcome a user who connected gets from the bot.
[[nodiscard]] std::string welcome_text(sync::Connected const& connected, ChatSync chats);

// What system admins are told about saved settings that were not applied.
[[nodiscard]] std::string problems_text(std::vector<std::string> const& list);

// "" when Teams may frame Mattermost's pages (ServiceSettings.FrameAncestors names the cloud's Teams client), else
// what the admin should set: the Teams tab opens Mattermost inside Teams.
[[nodiscard]] std::string teams_tab_problem(Config const& config);

// What /msteams answers while required settings are missing: users are told to wait, admins what to fill in.
[[nodiscard]] std::string not_set_up_text(Config const& config, bool admin);

// The plugin's state and its answers to every hook. Thread-safe: hooks arrive concurrently.
class Core {
public:
    explicit Core(std::shared_ptr<mm::Api> api, DatabaseOpener open_database = default_database_opener());
    ~Core();

    // Validates the configuration, generates missing secrets (and saves them), ensures the bot and registers
    // /msteams. An error refuses activation; its message is what System Console shows.
    [[nodiscard]] Status activate(std::string const& settings_json, ServerSettings const& server);
    // Applies a new configuration; on error the previous one stays in force.
    [[nodiscard]] Status configuration_change(std::string const& settings_json, ServerSettings const& server);
    // Checks a configuration about to be saved without applying it: the error names every problem.
    [[nodiscard]] Status validate_configuration(std::string const& settings_json, ServerSettings const& server) const;
    void deactivate();

    [[nodiscard]] mm::CommandResponse execute_command(mm::CommandArgs const& args) const;

    [[nodiscard]] std::size_t http_body_limit(std::string const& method, std::string const& path) const;
    [[nodiscard]] web::Response serve_http(web::Request const& request) const;
    // The Prometheus exposition of this node (GET /metrics).
    [[nodiscard]] std::string metrics_text() const;
    // What system admins are shown by /msteams status and GET /api/v1/status.
    [[nodiscard]] Diagnostics diagnostics() const;

    // Handles events in order and returns the sequence number of the last one finished (0 if none).
    std::uint64_t deliver_events(std::span<HookEvent const> events);

    [[nodiscard]] bool active() const noexcept { return active_.load(); }
    // The configuration in force, or nullptr before the first successful activation.
    [[nodiscard]] std::shared_ptr<Config const> config() const noexcept { return config_.load(); }
    [[nodiscard]] MmUserId const& bot_user_id() const noexcept { return bot_user_id_; }
    // The logins of the configuration in force, or nullptr while not active.
    [[nodiscard]] std::shared_ptr<sync::Logins> logins() const;
    // The change-notification receiver of the configuration in force, or nullptr while not active.
    [[nodiscard]] std::shared_ptr<sync::Receiver> receiver() const;
    [[nodiscard]] std::shared_ptr<metrics::Counters> stats() const noexcept { return stats_; }
    // What system admins are told about saved settings that were not applied, or empty.
    [[nodiscard]] std::string problems() const;

private:
    // Saving the plugin's settings from inside OnConfigurationChange re-enters Mattermost's configuration listeners
    // and stalls the server for a minute, so generated secrets are saved after the hook has returned.
    enum class SaveGenerated { now, after_hook };

    [[nodiscard]] Result<std::shared_ptr<Config const>> load(std::string const& settings_json,
                                                             ServerSettings const& server, SaveGenerated when,
                                                             std::vector<std::string>* found = nullptr);

    // Remembers the problems of the settings saved last (empty: none) and sends system admins a DM from the bot
    // when they differ from the ones told before.
    void report_problems(std::vector<std::string> const& list);

    [[nodiscard]] Result<std::shared_ptr<Runtime const>> build_runtime(std::shared_ptr<Config const> const& config);

    // The bot's direct message to a user who just connected: what now happens to their chats.
    void welcome(sync::Connected const& connected) const;
    // The Teams app package and the Teams tab's routes (constructor).
    void install_embedded_routes();

    // Imports the official plugin's data (sync::LegacyImport) on a thread of its own, in batches, until done here or
    // on another node; waits a little for the users and links (the bridge then starts knowing them), not for the
    // message map.
    void start_legacy_import(Config const& config);

    std::shared_ptr<mm::Api> api_;
    DatabaseOpener open_database_;
    std::shared_ptr<store::Database> db_;
    std::atomic<std::shared_ptr<Runtime const>> runtime_;
    commands::Dispatcher commands_;
    web::Router router_;
    std::atomic<std::shared_ptr<Config const>> config_;
    std::atomic<bool> active_{false};
    MmUserId bot_user_id_;
    std::shared_ptr<metrics::Counters> stats_;
    std::string node_id_;
    std::int64_t started_at_ms_ = 0;
    mutable std::mutex problems_mutex_;
    std::string problems_;
    // The official plugin's settings carried over at activation ("" none), recorded with the import.
    std::string legacy_settings_note_;
    struct LegacyImportSignal {
        std::mutex mutex;
        std::condition_variable cv;
        bool quick_done = false;  // the users and links are in: activation goes on
        bool stop = false;        // deactivating: the import stops between two batches
        [[nodiscard]] bool stopping() {
            std::lock_guard lock(mutex);
            return stop;
        }
    };
    std::shared_ptr<LegacyImportSignal> legacy_signal_;
    std::thread legacy_thread_;
    void stop_legacy_import();
};

}  // namespace msteams::app
