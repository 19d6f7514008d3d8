#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/result.hpp"
#include "graph/client.hpp"
#include "graph/entra.hpp"
#include "metrics/counters.hpp"
#include "store/repositories.hpp"
#include "subscriptions/planner.hpp"
#include "sync/certificates.hpp"

// Keeps the Graph change-notification subscriptions the configuration asks for: on exactly one node of a cluster
// (a lease in PostgreSQL), it creates the global chats subscription and one per linked channel, renews them before
// they expire, reauthorizes it
// when Graph asks, recreates it when Graph lost or removed it (and then has the chats caught up), and deletes
// subscriptions of ours that are no longer wanted. Every node beats (msteams_nodes) while it runs; the leader finds
// the nodes that died without stopping and has what their hooks may have lost recovered.
namespace msteams::subscriptions {

struct MonitorSettings {
    bool enabled = true;           // chat sync on
    std::string resource;          // "chats/getAllMessages" plus the payment model
    std::string notification_url;  // <SiteURL>/plugins/<id>/changes
    std::string lifecycle_url;     // <SiteURL>/plugins/<id>/lifecycle
    std::string client_state;      // the webhook secret; never logged
    std::string node_id;           // who holds the lease; this node's heartbeat
    std::chrono::seconds lifetime{3 * 60 * 60};
    std::chrono::seconds renew_before{60 * 60};
    std::chrono::seconds interval{30};    // the subscription upkeep
    std::chrono::seconds lease_every{5};  // the lease's try or renewal and this node's heartbeat
    std::chrono::seconds lease_ttl{30};   // a lease not renewed for this long is free; a node silent this long, lost
    // Wall-clock milliseconds since the epoch: expiries and the jobs' schedule (tests move it by hand).
    std::function<std::int64_t()> clock_ms;
    // Called by the leader for a node that stopped beating without stopping (its server killed), with its last beat
    // (Unix ms, the database's clock): recovers what its hooks may have lost. Its row is removed once this succeeds;
    // on failure it is called again at the next tick.
    std::function<Status(std::int64_t last_seen_ms)> node_lost;
    // Rich notifications (includeResourceData): the certificates rich subscriptions are created and renewed with.
    std::shared_ptr<sync::Certificates> certificates;
    // The global subscription is rich (global-rich; needs certificates). A change either way replaces it.
    bool global_rich = false;
    // per-user and hybrid: rich /users/{id}/chats/getAllMessages subscriptions for the users the planner picks, beside
    // the basic global one. nullopt: none (any left over are deleted).
    std::optional<PlannerSettings> planner;
    // Appended to a per-user resource: the payment model ("?model=B"), or nothing (the evaluation API).
    std::string user_resource_suffix;
};

// The planner as the database sees it: the connected users, their activity, the quota refusal in force and
// who holds a per-user subscription (the rows of kind `user` among `rows`). Any node may ask (/msteams status).
[[nodiscard]] Result<Planner> load_planner(PlannerSettings const& settings, store::Planning& planning,
                                           std::vector<store::SubscriptionRow> const& rows);

class Monitor {
public:
    using CatchUp = std::function<Status(std::string const& reason)>;
    using Job = std::function<Status()>;

    Monitor(MonitorSettings settings, store::Repositories repos, std::shared_ptr<graph::SubscriptionApi> graph,
            std::shared_ptr<graph::AppTokens> entra, std::shared_ptr<metrics::Counters> stats, CatchUp catch_up);
    ~Monitor();

    void start();
    // Stops the thread and gives up leadership. `cleanly` (Mattermost deactivated the plugin): this node's heartbeat
    // row goes too. Otherwise (the process is going away with its server) the row stays and ages, and the leader
    // recovers what this node's hooks may have lost.
    void stop(bool cleanly = true);
    // Something changed (a lifecycle event): run a pass now.
    void wake();
    // Work the leader runs every `every` while chat sync is on (e.g. reading recently active chats forward, for lost
    // notifications); the first interval starts with leadership. Added before start(); `every` of 0 adds nothing.
    // `at_once`: the job also runs as leadership starts, and whether or not chat sync is on (checks of the app's own
    // health).
    void add_job(std::string name, std::chrono::seconds every, Job job, bool at_once = false);
    // What the thread does every `lease_every`: this node's heartbeat and the lease; then, on the leader, the nodes
    // lost, the subscription upkeep when `interval` has passed since the last, and the jobs that are due.
    [[nodiscard]] Status tick();
    // A tick with the subscription upkeep now, whatever its interval (what wake() asks for).
    [[nodiscard]] Status run_once();
    [[nodiscard]] bool leader() const noexcept { return leader_.load(); }
    // How long the thread waits between ticks.
    [[nodiscard]] std::chrono::milliseconds tick_every() const;

private:
    void loop();
    [[nodiscard]] Status pass(bool upkeep_now);
    // The heartbeat and the lease; true when this node holds it.
    [[nodiscard]] Result<bool> keep_lease();
    // The nodes silent for longer than the lease's ttl: recovered (node_lost), then forgotten.
    void recover_lost_nodes();
    [[nodiscard]] Status upkeep();
    [[nodiscard]] Status maintain(std::string const& token);
    // Renews `current` when it nears its end or Graph asked (a rich one with the newest certificate); made again when
    // Graph no longer has it (the reason is added).
    [[nodiscard]] Status renew_if_due(std::string const& token, store::SubscriptionRow& current,
                                      std::vector<std::string>& reasons);
    // A subscription no longer wanted: deleted at Graph when `live` (a failure is logged; Graph ends it at its
    // expiry), and its row removed.
    [[nodiscard]] Status forget(std::string const& token, SubscriptionId const& id, bool live);
    // Deletes the subscriptions to our endpoints that no row records (an earlier installation, a lost row).
    void delete_unrecorded(std::string const& token, std::vector<store::SubscriptionRow> const& rows,
                           std::vector<graph::Subscription> const& live);
    // Creates the global subscription (`owner` empty) or a Teams user's rich one.
    [[nodiscard]] Result<store::SubscriptionRow> create(std::string const& token, TeamsUserId const& owner = {});
    [[nodiscard]] std::string user_resource(TeamsUserId const& user) const;
    // The per-user subscriptions: those gone or unwanted deleted, the rest renewed, then the planner's changes made.
    [[nodiscard]] Status maintain_users(std::string const& token, std::vector<store::SubscriptionRow> const& rows,
                                        std::vector<graph::Subscription> const& live);
    // One subscription per linked channel (teams/{t}/channels/{c}/messages, replies included): made for each
    // linked channel, renewed, made again when lost (then the channel is caught up from its cursor), deleted when the
    // channel was unlinked. They count in the budget before the per-user ones.
    [[nodiscard]] Status maintain_channels(std::string const& token, std::vector<store::SubscriptionRow> const& rows,
                                           std::vector<graph::Subscription> const& live);
    [[nodiscard]] Result<store::SubscriptionRow> create_channel(std::string const& token, store::Portal const& portal);
    // Queues a read of the channel forward from its cursor.
    [[nodiscard]] Status catch_up_channel(TeamsThreadId const& channel_id, std::string const& reason);
    // Carries out a plan; a 403 for the quota shrinks the budget (remembered) and ends it.
    [[nodiscard]] Status carry_out(std::string const& token, Plan const& plan, Planner& planner,
                                   std::vector<store::SubscriptionRow>& held);

    MonitorSettings settings_;
    std::string client_state_hash_;
    store::Repositories repos_;
    std::shared_ptr<graph::SubscriptionApi> graph_;
    std::shared_ptr<graph::AppTokens> entra_;
    std::shared_ptr<metrics::Counters> stats_;
    CatchUp catch_up_;
    [[nodiscard]] std::int64_t now_ms() const;
    void run_jobs(bool took_over);

    struct ScheduledJob {
        std::string name;
        std::chrono::seconds every;
        Job run;
        std::int64_t last_at = -1;  // only touched by run_once's caller; -1: never
        bool at_once = false;
    };
    std::vector<ScheduledJob> jobs_;
    std::atomic<bool> leader_{false};
    std::atomic<bool> beating_{false};  // this node's heartbeat row exists (until stop)
    std::string pending_catch_up_;      // only touched by run_once's caller
    std::int64_t upkept_at_ = -1;       // only touched by run_once's caller; -1: never
    std::size_t channel_subscriptions_ =
        0;  // the linked channels' subscriptions held (only touched by run_once's caller)

    std::mutex mutex_;
    std::condition_variable cv_;
    bool stopping_ = false;
    bool woken_ = false;
    std::thread thread_;
};

}  // namespace msteams::subscriptions
