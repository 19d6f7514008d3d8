#include "subscriptions/monitor.hpp"

#include <algorithm>
#include <exception>
#include <map>
#include <set>

#include "common/clock.hpp"
#include "common/log.hpp"
#include "crypto/crypto.hpp"
#include "sync/lease_keeper.hpp"

namespace msteams::subscriptions {
namespace {

constexpr char const* k_lease = "subscriptions";

std::string hex(std::string const& bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

}  // namespace

Monitor::Monitor(MonitorSettings settings, store::Repositories repos, std::shared_ptr<graph::SubscriptionApi> graph,
                 std::shared_ptr<graph::AppTokens> entra, std::shared_ptr<metrics::Counters> stats, CatchUp catch_up)
    : settings_(std::move(settings)),
      client_state_hash_(hex(crypto::sha256(settings_.client_state))),
      repos_(std::move(repos)),
      graph_(std::move(graph)),
      entra_(std::move(entra)),
      stats_(std::move(stats)),
      catch_up_(std::move(catch_up)) {}

Monitor::~Monitor() { stop(); }

void Monitor::start() {
    std::lock_guard lock(mutex_);
    if (thread_.joinable()) {
        return;
    }
    stopping_ = false;
    thread_ = std::thread([this] { loop(); });
}

void Monitor::stop(bool cleanly) {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
    if (leader_.exchange(false)) {
        (void)repos_.leases->release(k_lease, settings_.node_id);  // another node takes over at its next tick
    }
    if (beating_.exchange(false) && cleanly) {
        if (auto s = repos_.nodes->remove(settings_.node_id); !s) {
            log::warn("could not remove this node's heartbeat; the leader will take it for a lost node",
                      {{"node", settings_.node_id}, {"error", s.error().message}});
        }
    }
}

void Monitor::wake() {
    {
        std::lock_guard lock(mutex_);
        woken_ = true;
    }
    cv_.notify_all();
}

void Monitor::loop() {
    bool upkeep_now = false;
    while (true) {
        // Each part logs and counts its own failure (a bug too), and is tried again at the next tick.
        (void)guarded(stats_->worker_exceptions, [&] { return pass(upkeep_now); });
        std::unique_lock lock(mutex_);
        cv_.wait_for(lock, tick_every(), [&] { return stopping_ || woken_; });
        upkeep_now = woken_;
        woken_ = false;
        if (stopping_) {
            return;
        }
    }
}

std::int64_t Monitor::now_ms() const { return settings_.clock_ms ? settings_.clock_ms() : msteams::now_ms(); }

std::chrono::milliseconds Monitor::tick_every() const {
    std::chrono::milliseconds every =
        settings_.lease_every.count() > 0 ? settings_.lease_every : std::chrono::seconds(5);
    for (auto const& job : jobs_) {
        every = std::min<std::chrono::milliseconds>(every, job.every);
    }
    return every;
}

Status Monitor::tick() { return pass(false); }

Status Monitor::run_once() { return pass(true); }

Result<bool> Monitor::keep_lease() {
    MSTEAMS_TRY(repos_.nodes->beat(settings_.node_id));
    beating_ = true;
    return repos_.leases->hold(k_lease, settings_.node_id, settings_.lease_ttl);
}

Status Monitor::pass(bool upkeep_now) {
    auto const kept = guarded(stats_->worker_exceptions, [this] { return keep_lease(); });
    if (!kept) {
        log::warn("could not renew this node's heartbeat and the leadership lease", {{"error", kept.error().message}});
        return std::unexpected(kept.error());
    }
    bool const held = *kept;
    bool const took_over = held && !leader_.exchange(held);
    if (took_over || (!held && leader_.exchange(false))) {
        log::info(
            held ? "this node now maintains the Teams subscriptions" : "another node maintains the Teams subscriptions",
            {{"node", settings_.node_id}});
    }
    if (!held) {
        return {};
    }
    if (took_over) {
        // Whatever happened while no node was watching (downtime, a restart) is read from the chats' cursors.
        pending_catch_up_ = "the bridge started";
    }
    // The leader's work (a recovery, a job) may outlast the lease: it is kept meanwhile.
    sync::LeaseKeeper const keeper(settings_.lease_every.count() > 0 ? settings_.lease_every : std::chrono::seconds(5),
                                   [this] {
                                       if (auto k = keep_lease(); !k) {
                                           log::warn("could not renew this node's heartbeat and the leadership lease",
                                                     {{"error", k.error().message}});
                                       }
                                   });
    (void)guarded(stats_->worker_exceptions, [this] {
        recover_lost_nodes();
        return Status{};
    });
    auto const now = now_ms();
    Status upkept;
    if (upkeep_now || took_over || upkept_at_ < 0 ||
        now - upkept_at_ >= std::chrono::duration_cast<std::chrono::milliseconds>(settings_.interval).count()) {
        upkept_at_ = now;
        upkept = guarded(stats_->worker_exceptions, [this] { return upkeep(); });
        if (!upkept) {
            ++stats_->subscription_failures;
            log::warn("could not maintain the Teams change-notification subscriptions",
                      {{"error", upkept.error().message}});
        }
    }
    run_jobs(took_over);
    return upkept;
}

Status Monitor::upkeep() {
    graph::Token app;
    MSTEAMS_TRY_ASSIGN(app, entra_->app_token());
    return maintain(app.access_token);
}

void Monitor::recover_lost_nodes() {
    auto const silent = repos_.nodes->silent(settings_.lease_ttl);
    if (!silent) {
        log::warn("could not read the nodes' heartbeats", {{"error", silent.error().message}});
        return;
    }
    for (auto const& node : *silent) {
        if (node.node_id == settings_.node_id) {
            continue;  // beat a moment ago
        }
        log::info("a node stopped without shutting down; recovering the posts whose hooks it may have lost",
                  {{"node", node.node_id}, {"last_seen_ms", std::to_string(node.seen_at)}});
        if (settings_.node_lost) {
            auto const recovered =
                guarded(stats_->worker_exceptions, [&] { return settings_.node_lost(node.seen_at); });
            if (!recovered) {
                log::warn("could not recover the posts of a node that stopped without shutting down; trying again",
                          {{"node", node.node_id}, {"error", recovered.error().message}});
                continue;
            }
        }
        if (auto s = repos_.nodes->forget(node); !s) {
            log::warn("could not forget a node that stopped", {{"node", node.node_id}, {"error", s.error().message}});
            continue;
        }
        ++stats_->nodes_lost;
    }
}

void Monitor::add_job(std::string name, std::chrono::seconds every, Job job, bool at_once) {
    if (every.count() > 0 && job) {
        jobs_.push_back(ScheduledJob{std::move(name), every, std::move(job), -1, at_once});
    }
}

void Monitor::run_jobs(bool took_over) {
    auto const now = now_ms();
    for (auto& job : jobs_) {
        // The first interval starts with leadership (taking over already caught every chat up), unless the job runs
        // at once.
        bool const starting = took_over || job.last_at < 0;
        if (starting && !job.at_once) {
            job.last_at = now;
            continue;
        }
        auto const every = std::chrono::duration_cast<std::chrono::milliseconds>(job.every).count();
        if (!starting && ((!settings_.enabled && !job.at_once) || now - job.last_at < every)) {
            continue;
        }
        job.last_at = now;
        // A job's failure or bug is its own: logged and counted, the next interval tries again.
        if (auto r = guarded(stats_->worker_exceptions, job.run); !r) {
            log::warn("a periodic job of the bridge failed", {{"job", job.name}, {"error", r.error().message}});
        }
    }
}

std::string Monitor::user_resource(TeamsUserId const& user) const {
    return "users/" + user.str() + "/chats/getAllMessages" + settings_.user_resource_suffix;
}

Result<store::SubscriptionRow> Monitor::create(std::string const& token, TeamsUserId const& owner) {
    bool const per_user = !owner.empty();
    graph::Subscription wanted;
    wanted.resource = per_user ? user_resource(owner) : settings_.resource;
    wanted.change_type = "created,updated,deleted";
    wanted.notification_url = settings_.notification_url;
    wanted.lifecycle_notification_url = settings_.lifecycle_url;
    wanted.client_state = settings_.client_state;
    wanted.expires_at = now_ms() + std::chrono::duration_cast<std::chrono::milliseconds>(settings_.lifetime).count();
    if (per_user || settings_.global_rich) {
        if (!settings_.certificates) {
            return fail(ErrorCode::internal, "rich subscriptions need the bridge's certificates");
        }
        sync::Certificates::Current certificate;
        MSTEAMS_TRY_ASSIGN(certificate, settings_.certificates->current());
        wanted.include_resource_data = true;
        wanted.encryption_certificate = certificate.certificate;
        wanted.encryption_certificate_id = certificate.id;
    }
    graph::Subscription made;
    MSTEAMS_TRY_ASSIGN(made, graph_->create_subscription(token, wanted));
    store::SubscriptionRow row{made.id,
                               per_user ? store::SubscriptionKind::user : store::SubscriptionKind::chats,
                               wanted.resource,
                               owner.str(),
                               made.expires_at,
                               now_ms(),
                               store::SubscriptionState::active,
                               client_state_hash_,
                               wanted.encryption_certificate_id};
    MSTEAMS_TRY(repos_.subscriptions->put(row));
    ++stats_->subscriptions_created;
    if (per_user) {
        log::info("created a Teams user's rich chats subscription",
                  {{"subscription_id", made.id}, {"teams_user_id", owner.str()}});
    } else {
        log::info("created the Teams chats subscription", {{"subscription_id", made.id}, {"resource", made.resource}});
    }
    return row;
}

Status Monitor::forget(std::string const& token, SubscriptionId const& id, bool live) {
    if (live) {
        if (auto s = graph_->delete_subscription(token, id); !s) {
            log::warn("could not delete a subscription", {{"subscription_id", id}, {"error", s.error().message}});
        } else {
            ++stats_->subscriptions_deleted;
        }
    }
    return repos_.subscriptions->remove(id);
}

void Monitor::delete_unrecorded(std::string const& token, std::vector<store::SubscriptionRow> const& rows,
                                std::vector<graph::Subscription> const& live) {
    // Subscriptions to our endpoints that we have no record of (an earlier installation, a lost row).
    for (auto const& s : live) {
        bool const recorded = std::any_of(rows.begin(), rows.end(), [&](auto const& r) { return r.id == s.id; });
        if (!recorded && s.notification_url == settings_.notification_url) {
            if (graph_->delete_subscription(token, s.id)) {
                ++stats_->subscriptions_deleted;
                log::info("deleted a stale subscription", {{"subscription_id", s.id}});
            }
        }
    }
}

Status Monitor::renew_if_due(std::string const& token, store::SubscriptionRow& current,
                             std::vector<std::string>& reasons) {
    auto const now = now_ms();
    auto const renew_at =
        current.expires_at - std::chrono::duration_cast<std::chrono::milliseconds>(settings_.renew_before).count();
    if (current.state != store::SubscriptionState::reauthorize && current.state != store::SubscriptionState::missed &&
        now < renew_at) {
        return {};
    }
    auto const expires = now + std::chrono::duration_cast<std::chrono::milliseconds>(settings_.lifetime).count();
    // A rich subscription is renewed with the newest certificate (rotated before the old one ends).
    sync::Certificates::Current certificate;
    if (!current.certificate_id.empty() && settings_.certificates) {
        MSTEAMS_TRY_ASSIGN(certificate, settings_.certificates->current());
        if (certificate.id == current.certificate_id) {
            certificate = {};
        }
    }
    auto renewed = graph_->renew_subscription(token, current.id, expires, certificate.certificate, certificate.id);
    if (!renewed) {
        if (renewed.error().code != ErrorCode::not_found) {
            return std::unexpected(renewed.error());
        }
        MSTEAMS_TRY(repos_.subscriptions->remove(current.id));
        if (current.kind == store::SubscriptionKind::channel) {
            current.id = {};  // maintain_channels makes it again
            reasons.push_back("the subscription could not be renewed");
            return {};
        }
        MSTEAMS_TRY_ASSIGN(current, create(token, TeamsUserId(current.owner)));
        reasons.push_back("the subscription could not be renewed");
        return {};
    }
    current.expires_at = renewed->expires_at;
    current.state = store::SubscriptionState::active;
    if (!certificate.id.empty()) {
        current.certificate_id = certificate.id;
        log::info("gave a Teams chats subscription a new certificate",
                  {{"subscription_id", current.id}, {"certificate_id", certificate.id}});
    }
    MSTEAMS_TRY(repos_.subscriptions->put(current));
    ++stats_->subscriptions_renewed;
    log::info("renewed a Teams chats subscription",
              {{"subscription_id", current.id}, {"teams_user_id", current.owner}});
    return {};
}

Status Monitor::maintain(std::string const& token) {
    std::vector<store::SubscriptionRow> rows;
    MSTEAMS_TRY_ASSIGN(rows, repos_.subscriptions->list());
    std::vector<graph::Subscription> live;
    MSTEAMS_TRY_ASSIGN(live, graph_->list_subscriptions(token));
    auto const is_live = [&](SubscriptionId const& id) {
        return std::any_of(live.begin(), live.end(), [&](auto const& s) { return s.id == id; });
    };
    std::vector<std::string> reasons;  // why the chats need catching up

    // Ours, no longer wanted or no longer usable: gone from Graph, removed, another resource or clientState.
    std::optional<store::SubscriptionRow> current;
    for (auto const& row : rows) {
        if (row.kind == store::SubscriptionKind::user || row.kind == store::SubscriptionKind::channel) {
            continue;  // maintain_users, maintain_channels
        }
        // A rich subscription has a certificate; a basic one none.
        bool const wanted = settings_.enabled && row.kind == store::SubscriptionKind::chats &&
                            row.resource == settings_.resource && row.client_state_hash == client_state_hash_ &&
                            row.certificate_id.empty() == !settings_.global_rich && !current;
        bool const lost = row.state == store::SubscriptionState::removed || !is_live(row.id);
        if (wanted && !lost) {
            current = row;
            continue;
        }
        if (wanted && lost) {
            reasons.push_back(row.state == store::SubscriptionState::removed
                                  ? "the subscription was removed by Microsoft Graph"
                                  : "the subscription was lost");
            log::warn("the Teams chats subscription is gone; creating it again", {{"subscription_id", row.id}});
        }
        MSTEAMS_TRY(forget(token, row.id, is_live(row.id)));
    }
    delete_unrecorded(token, rows, live);
    // Linked channels are their admins' choice, whatever chat sync does; they come out of the budget first.
    if (auto s = maintain_channels(token, rows, live); !s) {
        ++stats_->subscription_failures;
        log::warn("could not maintain the linked channels' Teams subscriptions", {{"error", s.error().message}});
    }
    if (!settings_.enabled) {
        return maintain_users(token, rows, live);
    }
    if (!current) {
        MSTEAMS_TRY_ASSIGN(current, create(token));
        if (reasons.empty()) {
            reasons.push_back("the subscription was created");
        }
    } else if (current->state == store::SubscriptionState::missed) {
        reasons.push_back("Microsoft Graph missed notifications");
    }
    MSTEAMS_TRY(renew_if_due(token, *current, reasons));
    // The global subscription first: it covers every user, and the per-user ones come out of what it leaves. They
    // only spare reads: a failure is logged and the chats are caught up as usual.
    if (auto s = maintain_users(token, rows, live); !s) {
        ++stats_->subscription_failures;
        log::warn("could not maintain the per-user Teams subscriptions", {{"error", s.error().message}});
    }
    if (settings_.certificates && (settings_.global_rich || settings_.planner)) {
        if (auto pruned = settings_.certificates->prune(); !pruned) {
            log::warn("could not forget expired certificates", {{"error", pruned.error().message}});
        }
    }
    if (reasons.empty() && !pending_catch_up_.empty()) {
        reasons.push_back(pending_catch_up_);
    }
    if (!reasons.empty() && catch_up_) {
        MSTEAMS_TRY(catch_up_(reasons.front()));
    }
    pending_catch_up_.clear();
    return {};
}

}  // namespace msteams::subscriptions

namespace msteams::subscriptions {

std::string channel_resource(std::string const& team_id, TeamsThreadId const& channel_id) {
    return "teams/" + team_id + "/channels/" + channel_id.str() + "/messages";
}

Result<store::SubscriptionRow> Monitor::create_channel(std::string const& token, store::Portal const& portal) {
    graph::Subscription wanted;
    wanted.resource = channel_resource(portal.teams_team_id, portal.teams_thread_id);
    wanted.change_type = "created,updated,deleted";
    wanted.notification_url = settings_.notification_url;
    wanted.lifecycle_notification_url = settings_.lifecycle_url;
    wanted.client_state = settings_.client_state;
    wanted.expires_at = now_ms() + std::chrono::duration_cast<std::chrono::milliseconds>(settings_.lifetime).count();
    graph::Subscription made;
    MSTEAMS_TRY_ASSIGN(made, graph_->create_subscription(token, wanted));
    store::SubscriptionRow row{made.id,
                               store::SubscriptionKind::channel,
                               wanted.resource,
                               portal.teams_thread_id.str(),
                               made.expires_at,
                               now_ms(),
                               store::SubscriptionState::active,
                               client_state_hash_,
                               {}};
    MSTEAMS_TRY(repos_.subscriptions->put(row));
    ++stats_->subscriptions_created;
    log::info("created a linked channel's Teams subscription",
              {{"subscription_id", made.id}, {"channel_id", portal.teams_thread_id}});
    return row;
}

Status Monitor::catch_up_channel(TeamsThreadId const& channel_id, std::string const& reason) {
    log::info("catching up with a linked Teams channel", {{"channel_id", channel_id}, {"reason", reason}});
    return repos_.inbox->enqueue({store::InboxItem{0, now_ms(), {}, store::Change::catchup, channel_id, {}, 0}});
}

Status Monitor::maintain_channels(std::string const& token, std::vector<store::SubscriptionRow> const& rows,
                                  std::vector<graph::Subscription> const& live) {
    auto const is_live = [&](SubscriptionId const& id) {
        return std::any_of(live.begin(), live.end(), [&](auto const& s) { return s.id == id; });
    };
    std::vector<store::Portal> linked;
    MSTEAMS_TRY_ASSIGN(linked, repos_.portals->list(store::PortalKind::channel));
    std::map<std::string, store::Portal> wanted;  // by resource
    for (auto const& p : linked) {
        wanted.emplace(channel_resource(p.teams_team_id, p.teams_thread_id), p);
    }
    std::set<std::string> held;
    std::set<std::string> lost;  // made again below, then caught up
    for (auto row : rows) {
        if (row.kind != store::SubscriptionKind::channel) {
            continue;
        }
        auto const it = wanted.find(row.resource);
        bool const usable =
            it != wanted.end() && row.client_state_hash == client_state_hash_ && !held.contains(row.resource);
        bool const gone = row.state == store::SubscriptionState::removed || !is_live(row.id);
        if (usable && !gone) {
            std::vector<std::string> reasons;
            MSTEAMS_TRY(renew_if_due(token, row, reasons));
            if (!row.id.empty()) {
                held.insert(row.resource);
            } else {
                lost.insert(row.resource);
            }
            if (!reasons.empty() || row.state == store::SubscriptionState::missed) {
                MSTEAMS_TRY(catch_up_channel(it->second.teams_thread_id, "Microsoft Graph missed notifications"));
            }
            continue;
        }
        if (usable) {
            log::warn("a linked channel's Teams subscription is gone; creating it again",
                      {{"subscription_id", row.id}});
            lost.insert(row.resource);
        }
        // Unlinked (or unusable): deleted, so that Graph sends nothing more.
        MSTEAMS_TRY(forget(token, row.id, is_live(row.id)));
    }
    for (auto const& [resource, portal] : wanted) {
        if (held.contains(resource)) {
            continue;
        }
        auto made = create_channel(token, portal);
        if (!made) {
            log::warn("could not create a linked channel's Teams subscription; trying again at the next pass",
                      {{"channel_id", portal.teams_thread_id}, {"error", made.error().message}});
            if (made.error().code == ErrorCode::permission_denied) {
                ++stats_->subscription_quota_refusals;
                break;  // the organization's quota, or the app's permissions: the next pass tries again
            }
            continue;
        }
        held.insert(resource);
        // What was written before the subscription existed (since the link, or while it was lost) is read.
        MSTEAMS_TRY(catch_up_channel(portal.teams_thread_id, lost.contains(resource) ? "the subscription was lost"
                                                                                     : "the subscription was created"));
    }
    channel_subscriptions_ = held.size();
    return {};
}

Result<Planner> load_planner(PlannerSettings const& settings, store::Planning& planning,
                             std::vector<store::SubscriptionRow> const& rows) {
    Planner planner(settings);
    std::vector<store::ConnectedUser> connected;
    MSTEAMS_TRY_ASSIGN(connected, planning.connected());
    for (auto const& c : connected) {
        planner.connect(c.user.str(), c.connected_at);
    }
    std::vector<store::ActivityRow> activity;
    MSTEAMS_TRY_ASSIGN(activity, planning.activity());
    for (auto const& a : activity) {
        planner.set_activity(a.user.str(), a.activity, a.at);
    }
    for (auto const& row : rows) {
        if (row.kind == store::SubscriptionKind::user && row.state != store::SubscriptionState::removed) {
            planner.held(row.owner, true, row.created_at);
        }
    }
    std::optional<store::QuotaRefusal> refusal;
    MSTEAMS_TRY_ASSIGN(refusal, planning.refusal());
    if (refusal) {
        planner.quota_refused(static_cast<std::size_t>(std::max<std::int64_t>(refusal->budget, 0)), refusal->at);
    }
    return planner;
}

Status Monitor::maintain_users(std::string const& token, std::vector<store::SubscriptionRow> const& rows,
                               std::vector<graph::Subscription> const& live) {
    auto const is_live = [&](SubscriptionId const& id) {
        return std::any_of(live.begin(), live.end(), [&](auto const& s) { return s.id == id; });
    };
    bool const planning = settings_.enabled && settings_.planner && repos_.planning;
    std::vector<store::SubscriptionRow> held;
    for (auto const& row : rows) {
        if (row.kind != store::SubscriptionKind::user) {
            continue;
        }
        bool const wanted = planning && row.resource == user_resource(TeamsUserId(row.owner)) &&
                            row.client_state_hash == client_state_hash_ && !row.certificate_id.empty();
        bool const lost = row.state == store::SubscriptionState::removed || !is_live(row.id);
        if (wanted && !lost) {
            held.push_back(row);
            continue;
        }
        if (wanted) {
            // The planner gives it back at once if the user still deserves it; the global subscription (and the
            // periodic read forward) covered the user's chats meanwhile.
            log::warn("a Teams user's rich subscription is gone",
                      {{"subscription_id", row.id.str()}, {"teams_user_id", row.owner}});
        }
        MSTEAMS_TRY(forget(token, row.id, is_live(row.id)));
    }
    if (!planning) {
        return {};
    }
    for (auto& row : held) {
        std::vector<std::string> ignored;  // the user's chats are covered by the global subscription meanwhile
        if (auto s = renew_if_due(token, row, ignored); !s) {
            log::warn("could not renew a Teams user's rich subscription",
                      {{"subscription_id", row.id}, {"error", s.error().message}});
        }
    }
    auto planning_settings = *settings_.planner;
    planning_settings.reserve += channel_subscriptions_;  // the linked channels' subscriptions count too
    auto planner = load_planner(planning_settings, *repos_.planning, held);
    if (!planner) {
        return std::unexpected(planner.error());
    }
    auto const plan = planner->plan(now_ms());
    return carry_out(token, plan, *planner, held);
}

Status Monitor::carry_out(std::string const& token, Plan const& plan, Planner& planner,
                          std::vector<store::SubscriptionRow>& held) {
    auto const now = now_ms();
    for (auto const& user : plan.drop) {
        auto const it = std::find_if(held.begin(), held.end(), [&](auto const& r) { return r.owner == user; });
        if (it == held.end()) {
            continue;
        }
        if (auto s = graph_->delete_subscription(token, it->id); !s && s.error().code != ErrorCode::not_found) {
            log::warn("could not delete a Teams user's rich subscription",
                      {{"subscription_id", it->id}, {"error", s.error().message}});
            continue;
        }
        ++stats_->subscriptions_deleted;
        MSTEAMS_TRY(repos_.subscriptions->remove(it->id));
        log::info("took a Teams user's rich subscription back", {{"teams_user_id", user}});
        planner.held(user, false, now);
        held.erase(it);
    }
    for (auto const& user : plan.add) {
        auto made = create(token, TeamsUserId(user));
        if (made) {
            planner.held(user, true, now);
            held.push_back(*std::move(made));
            continue;
        }
        if (made.error().code == ErrorCode::permission_denied) {
            // The organization's 10,000 (shared by every app) are taken: the budget is what the bridge owns now.
            auto const owned = held.size() + 1;
            planner.quota_refused(owned, now);
            MSTEAMS_TRY(repos_.planning->set_refusal(store::QuotaRefusal{static_cast<std::int64_t>(owned), now}));
            ++stats_->subscription_quota_refusals;
            log::warn(
                "Microsoft Graph refused a subscription for the organization's quota; the bridge's budget shrinks",
                {{"budget", std::to_string(owned)}, {"error", made.error().message}});
            return {};
        }
        log::warn("could not create a Teams user's rich subscription",
                  {{"teams_user_id", user}, {"error", made.error().message}});
    }
    if (auto const refused = repos_.planning->refusal();
        refused && *refused && planner.budget(now) >= settings_.planner->budget) {
        MSTEAMS_TRY(repos_.planning->set_refusal(std::nullopt));  // grown back to the configured budget
    }
    return {};
}

}  // namespace msteams::subscriptions
