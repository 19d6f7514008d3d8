#include "http/graph_endpoint.hpp"  // first: it includes <utility> before Asio

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "../store/pg_support.hpp"
#include "fakes/fake_teams.hpp"
#include "fakes/memory_store.hpp"
#include "common/clock.hpp"
#include "common/strings.hpp"
#include "crypto/crypto.hpp"
#include "crypto/rich.hpp"
#include "graph/client.hpp"
#include "graph/emulator.hpp"
#include "graph/notification_tokens.hpp"
#include "store/repositories.hpp"
#include "subscriptions/monitor.hpp"
#include "sync/certificates.hpp"

using msteams::graph::Client;
using msteams::graph::Entra;
using msteams::subscriptions::Monitor;
using msteams::subscriptions::MonitorSettings;
using msteams::test::Emulator;
using msteams::test::EmulatorOptions;
using msteams::test::endpoint_reply;
using msteams::test::Seen;
using msteams::test::TempDatabase;
using msteams::test::TestPki;
using msteams::test::TlsServer;
using namespace std::chrono_literals;

namespace {

struct Node {
    std::shared_ptr<msteams::metrics::Counters> stats = std::make_shared<msteams::metrics::Counters>();
    std::mutex mutex;
    std::vector<std::string> catch_ups;
    std::unique_ptr<Monitor> monitor;

    Node(MonitorSettings settings, msteams::store::Repositories const& repos,
         std::shared_ptr<msteams::graph::SubscriptionApi> client, std::shared_ptr<msteams::graph::AppTokens> entra) {
        monitor = std::make_unique<Monitor>(settings, repos, client, entra, stats, [this](std::string const& why) {
            std::lock_guard lock(mutex);
            catch_ups.push_back(why);
            return msteams::Status{};
        });
    }
    void pass() {
        auto const s = monitor->run_once();
        INFO((s ? std::string() : s.error().message));
        REQUIRE(s.has_value());
    }
    std::size_t catch_up_count() {
        std::lock_guard lock(mutex);
        return catch_ups.size();
    }
};

// A Graph emulator, the plugin's endpoints and a database; settings for a monitor whose clock runs ahead of the wall
// clock by `skew` (the emulator and PostgreSQL keep real time).
struct World {
    TestPki pki;
    TlsServer endpoint{pki.issue("127.0.0.1", "IP:127.0.0.1"), endpoint_reply};
    Emulator emu{[this] {
        EmulatorOptions options;
        options.trust_ca_pem = pki.ca_pem();
        return options;
    }()};
    TempDatabase temp;
    msteams::store::Repositories repos = msteams::store::postgres_repositories(temp.open_migrated(6));
    std::shared_ptr<Entra> entra = std::make_shared<Entra>(emu.http, emu.app());
    std::shared_ptr<Client> client = std::make_shared<Client>(emu.http, emu.graph_url());
    std::shared_ptr<std::atomic<std::int64_t>> skew = std::make_shared<std::atomic<std::int64_t>>(0);

    [[nodiscard]] MonitorSettings settings() const {
        MonitorSettings s;
        s.resource = "chats/getAllMessages?model=B";
        s.notification_url = endpoint.url("/changes", "127.0.0.1");
        s.lifecycle_url = endpoint.url("/lifecycle", "127.0.0.1");
        s.client_state = "monitor-test-secret";
        s.lease_ttl = 30s;
        s.clock_ms = [skew = skew] { return msteams::now_ms() + skew->load(); };
        s.node_id = "node-a";
        return s;
    }
};

// The same without network or PostgreSQL: Graph's subscriptions and the store in memory.
struct FakeWorld {
    msteams::test::MemoryStore store;
    std::shared_ptr<msteams::test::FakeSubscriptions> graph = std::make_shared<msteams::test::FakeSubscriptions>();
    std::shared_ptr<msteams::test::FakeAppTokens> tokens = std::make_shared<msteams::test::FakeAppTokens>();
    std::shared_ptr<std::atomic<std::int64_t>> skew = std::make_shared<std::atomic<std::int64_t>>(0);

    [[nodiscard]] MonitorSettings settings() const {
        MonitorSettings s;
        s.resource = "chats/getAllMessages?model=B";
        s.notification_url = "https://mattermost.example/plugins/com.mattermost.msteams/changes";
        s.lifecycle_url = "https://mattermost.example/plugins/com.mattermost.msteams/lifecycle";
        s.client_state = "monitor-test-secret";
        s.lease_ttl = 30s;
        s.lifetime = 60min;
        s.renew_before = 10min;
        s.clock_ms = [skew = skew] { return msteams::now_ms() + skew->load(); };
        s.node_id = "node-a";
        return s;
    }
};

}  // namespace

TEST_CASE("monitor: one node of two keeps the subscription, renews it past its expiry, recreates it when lost",
          "[subscriptions][pg]") {
    World w;
    auto& emu = w.emu;
    auto const& skew = w.skew;
    auto const& repos = w.repos;
    auto const& entra = w.entra;
    auto const& client = w.client;
    MonitorSettings settings = w.settings();
    settings.lifetime = 6s;
    settings.renew_before = 4s;
    settings.node_id = "node-a";
    Node a(settings, repos, client, entra);
    settings.node_id = "node-b";
    Node b(settings, repos, client, entra);

    auto live = [&] { return emu.control_ok("GET", "/subscriptions").at("value"); };

    a.pass();
    b.pass();
    a.pass();
    CHECK(a.monitor->leader());
    CHECK_FALSE(b.monitor->leader());
    auto subs = live();
    REQUIRE(subs.size() == 1);
    std::string const id = subs[0].at("id");
    CHECK(subs[0].at("resource") == settings.resource);
    CHECK(a.stats->subscriptions_created == 1);
    CHECK(b.stats->subscriptions_created == 0);
    CHECK(a.catch_up_count() == 1);  // taking over reads the chats forward
    CHECK(b.catch_up_count() == 0);

    // Not renewed before the margin (4 s before the 6 s expiry), renewed inside it, and renewed again past the first
    // expiry: still the same subscription, its expiry moved on each time.
    auto const expiry = [&] {  // as Graph reports it
        auto const token = entra->app_token();
        REQUIRE(token.has_value());
        auto const listed = client->list_subscriptions(token->access_token);
        REQUIRE(listed.has_value());
        REQUIRE(listed->size() == 1);
        return listed->front().expires_at;
    };
    std::int64_t const first_expiry = expiry();
    skew->store(1'000);
    a.pass();
    CHECK(a.stats->subscriptions_renewed == 0);
    skew->store(2'500);
    a.pass();
    CHECK(a.stats->subscriptions_renewed == 1);
    skew->store(7'000);  // past the original expiry (6 s)
    a.pass();
    subs = live();
    REQUIRE(subs.size() == 1);
    CHECK(subs[0].at("id") == id);
    CHECK(expiry() >= first_expiry + 7'000);
    CHECK(a.stats->subscriptions_created == 1);
    CHECK(a.stats->subscriptions_renewed == 2);
    skew->store(0);

    // Graph drops it: recreated, and the chats are caught up.
    emu.control_ok("DELETE", "/subscriptions/" + id);
    a.pass();
    subs = live();
    REQUIRE(subs.size() == 1);
    CHECK(subs[0].at("id") != id);
    CHECK(a.stats->subscriptions_created == 2);
    CHECK(a.catch_up_count() == 2);

    // The leader stops: the other node takes over at its next pass, without creating a second subscription.
    a.monitor->stop();
    b.pass();
    CHECK(b.monitor->leader());
    CHECK(live().size() == 1);
    CHECK(b.stats->subscriptions_created == 0);
    CHECK(b.catch_up_count() == 1);

    // A changed webhook secret: the old subscription (created with the old clientState) is replaced.
    settings.client_state = "a-new-secret";
    settings.node_id = "node-b";
    b.monitor->stop();
    Node b2(settings, repos, client, entra);
    b2.pass();
    subs = live();
    REQUIRE(subs.size() == 1);
    CHECK(subs[0].at("clientState") == "a-new-secret");
}

TEST_CASE("monitor: the leader runs each periodic job once per interval, starting from leadership", "[subscriptions]") {
    FakeWorld w;
    Node a(w.settings(), w.store.repos, w.graph, w.tokens);
    std::atomic<int> reconciled{0};
    std::atomic<int> profiles{0};
    a.monitor->add_job("reconcile", 300s, [&] {
        ++reconciled;
        return msteams::Status{};
    });
    // A job that fails or throws does not stop the others or the monitor.
    a.monitor->add_job("profiles", 60s, [&]() -> msteams::Status {
        if (++profiles % 2 == 0) {
            throw std::runtime_error("a bug");
        }
        return msteams::fail(msteams::ErrorCode::unavailable, "Graph is down");
    });

    a.pass();  // takes over: every chat is caught up, so no reconciliation yet
    CHECK(a.catch_up_count() == 1);
    CHECK(reconciled == 0);
    w.skew->store(299'000);
    a.pass();
    CHECK(reconciled == 0);
    w.skew->store(300'000);
    a.pass();
    CHECK(reconciled == 1);
    a.pass();
    CHECK(reconciled == 1);
    w.skew->store(600'500);
    a.pass();
    CHECK(reconciled == 2);
    CHECK(profiles == 2);  // at 299 s and at 600.5 s: due in both, run once per pass
    CHECK(a.stats->worker_exceptions == 1);
}

TEST_CASE("monitor: a job run at once runs as leadership starts and with chat sync off, then once per interval",
          "[subscriptions]") {
    FakeWorld w;
    auto settings = w.settings();
    settings.enabled = false;  // Teams chats off: the subscription jobs wait, the app's own checks do not
    Node a(settings, w.store.repos, w.graph, w.tokens);
    std::atomic<int> checked{0};
    std::atomic<int> reconciled{0};
    a.monitor->add_job(
        "credentials", 86400s,
        [&] {
            ++checked;
            return msteams::Status{};
        },
        /*at_once=*/true);
    a.monitor->add_job("reconcile", 300s, [&] {
        ++reconciled;
        return msteams::Status{};
    });
    a.pass();
    CHECK(checked == 1);
    a.pass();
    CHECK(checked == 1);
    w.skew->store(86'400'000);
    a.pass();
    CHECK(checked == 2);
    CHECK(reconciled == 0);
}

TEST_CASE("monitor: a subscription Graph marked or lost is renewed or made again, and the chats are caught up",
          "[subscriptions]") {
    FakeWorld w;
    Node a(w.settings(), w.store.repos, w.graph, w.tokens);
    a.pass();
    REQUIRE(w.graph->live().size() == 1);
    auto const first = w.graph->live().front().id;
    CHECK(a.catch_up_count() == 1);

    // A `missed` lifecycle event (the receiver marks the row): renewed at once, and the chats read forward.
    REQUIRE(w.store.repos.subscriptions->set_state(first, msteams::store::SubscriptionState::missed));
    a.pass();
    CHECK(w.graph->renewed() == 1);
    CHECK(a.catch_up_count() == 2);
    CHECK(w.store.repos.subscriptions->list().value().at(0).state == msteams::store::SubscriptionState::active);
    // Nothing to do: no request beyond the listing, no catch-up.
    a.pass();
    CHECK(w.graph->renewed() == 1);
    CHECK(a.catch_up_count() == 2);

    // `reauthorize`, but Graph no longer knows the subscription: made again, and the chats caught up.
    REQUIRE(w.store.repos.subscriptions->set_state(first, msteams::store::SubscriptionState::reauthorize));
    w.graph->forget(first.str());
    a.pass();
    auto const live = w.graph->live();
    REQUIRE(live.size() == 1);
    CHECK(live.front().id != first);
    CHECK(w.graph->created() == 2);
    CHECK(a.catch_up_count() == 3);
    auto const rows = w.store.repos.subscriptions->list().value();
    REQUIRE(rows.size() == 1);
    CHECK(rows.front().id == live.front().id);

    // Graph fails for a while: the pass fails, nothing is lost, the next pass renews.
    *w.skew += 55 * 60'000;  // inside the renewal margin
    w.graph->fail_next("renew", msteams::Error{msteams::ErrorCode::unavailable, "503", 503, {}});
    CHECK_FALSE(a.monitor->run_once().has_value());
    a.pass();
    CHECK(w.graph->renewed() == 2);
    CHECK(w.graph->live().size() == 1);
}

TEST_CASE("monitor: each linked channel gets a subscription, made again and caught up when lost, deleted when unlinked",
          "[subscriptions]") {
    FakeWorld w;
    auto settings = w.settings();
    settings.enabled = false;  // chat sync off: linked channels are their admins' choice and stay bridged
    Node a(settings, w.store.repos, w.graph, w.tokens);
    auto const general = msteams::TeamsThreadId("19:general@thread.tacv2");
    auto const random = msteams::TeamsThreadId("19:random@thread.tacv2");
    REQUIRE(w.store.repos.portals->add({general,
                                        msteams::store::PortalKind::channel,
                                        "team-1",
                                        msteams::MmChannelId("channel00000000000000000a"),
                                        {},
                                        1,
                                        1}));
    REQUIRE(w.store.repos.portals->add({random,
                                        msteams::store::PortalKind::channel,
                                        "team-1",
                                        msteams::MmChannelId("channel00000000000000000b"),
                                        {},
                                        1,
                                        1}));
    a.pass();
    auto const resources = [&] {
        std::vector<std::string> out;
        for (auto const& s : w.graph->live()) {
            out.push_back(s.resource);
        }
        std::sort(out.begin(), out.end());
        return out;
    };
    CHECK(resources() == std::vector<std::string>{"teams/team-1/channels/19:general@thread.tacv2/messages",
                                                  "teams/team-1/channels/19:random@thread.tacv2/messages"});
    auto const queued = [&] {
        return w.store.with([](auto& t) {
            std::vector<std::string> out;
            for (auto const& q : t.inbox) {
                out.push_back(q.item.thread_id.str());
            }
            std::sort(out.begin(), out.end());
            return out;
        });
    };
    // Each new subscription's channel is read from its cursor (what came before it existed).
    CHECK(queued() == std::vector<std::string>{general.str(), random.str()});
    a.pass();
    CHECK(w.graph->created() == 2);  // nothing more to do

    // Graph lost one: made again, and that channel caught up.
    std::string lost;
    for (auto const& s : w.graph->live()) {
        if (s.resource.find("random") != std::string::npos) {
            lost = s.id.str();
        }
    }
    w.graph->forget(lost);
    a.pass();
    CHECK(w.graph->created() == 3);
    CHECK(resources().size() == 2);
    CHECK(queued().size() == 3);

    // Unlinked: its subscription is deleted; the other stays.
    REQUIRE(w.store.repos.portals->remove(general).value());
    a.pass();
    CHECK(resources() == std::vector<std::string>{"teams/team-1/channels/19:random@thread.tacv2/messages"});
    auto const rows = w.store.repos.subscriptions->list().value();
    REQUIRE(rows.size() == 1);
    CHECK(rows.front().kind == msteams::store::SubscriptionKind::channel);
    CHECK(rows.front().owner == random.str());
}

TEST_CASE("monitor: a subscription to our endpoints that no row records is deleted, another app's is left",
          "[subscriptions]") {
    FakeWorld w;
    msteams::graph::Subscription stale;
    stale.resource = "chats/getAllMessages";
    stale.notification_url = w.settings().notification_url;  // an earlier installation's
    REQUIRE(w.graph->create_subscription("", stale).has_value());
    msteams::graph::Subscription foreign = stale;
    foreign.notification_url = "https://another-app.example/notify";
    REQUIRE(w.graph->create_subscription("", foreign).has_value());

    Node a(w.settings(), w.store.repos, w.graph, w.tokens);
    a.pass();
    auto const live = w.graph->live();
    REQUIRE(live.size() == 2);  // ours, made now, and the other app's
    auto const rows = w.store.repos.subscriptions->list().value();
    REQUIRE(rows.size() == 1);
    CHECK(std::any_of(live.begin(), live.end(), [&](auto const& s) { return s.id == rows[0].id; }));
    CHECK(std::any_of(live.begin(), live.end(),
                      [](auto const& s) { return s.notification_url == "https://another-app.example/notify"; }));
    CHECK(a.stats->subscriptions_deleted == 1);
}

namespace {

// Fake nodes of one cluster: the store's clock (leases and heartbeats) is the monitors' clock, which the test moves.
struct Cluster : FakeWorld {
    std::mutex mutex;
    std::vector<std::int64_t> lost;  // the last beats node_lost was called with
    int lost_failures = 0;           // node_lost fails this many more times

    Cluster() { store.state->clock = FakeWorld::settings().clock_ms; }
    [[nodiscard]] MonitorSettings settings(std::string const& node) {
        auto s = FakeWorld::settings();
        s.node_id = node;
        s.lease_every = 5s;
        s.lease_ttl = 30s;
        s.interval = 30s;
        s.node_lost = [this](std::int64_t last_seen_ms) -> msteams::Status {
            std::lock_guard lock(mutex);
            if (lost_failures > 0) {
                --lost_failures;
                return msteams::fail(msteams::ErrorCode::unavailable, "Mattermost is out of reach");
            }
            lost.push_back(last_seen_ms);
            return {};
        };
        return s;
    }
    std::unique_ptr<Node> node(std::string const& id) {
        return std::make_unique<Node>(settings(id), store.repos, graph, tokens);
    }
    void at(std::int64_t ms) { skew->store(ms); }
    std::vector<std::int64_t> lost_calls() {
        std::lock_guard lock(mutex);
        return lost;
    }
    std::map<std::string, std::int64_t> beats() {
        return store.with([](msteams::test::MemoryTables& t) { return t.nodes; });
    }
};

void tick(Node& n) {
    auto const s = n.monitor->tick();
    INFO((s ? std::string() : s.error().message));
    REQUIRE(s.has_value());
}

}  // namespace

TEST_CASE("monitor: a follower takes over within ttl + lease_every of the leader's last renewal", "[subscriptions]") {
    Cluster w;
    auto a = w.node("node-a");
    auto b = w.node("node-b");
    CHECK(a->monitor->tick_every() == 5s);
    // The leader renews at each of its ticks (every 5 s), then dies at once, without a word.
    for (std::int64_t t = 0; t <= 10'000; t += 5'000) {
        w.at(t);
        tick(*a);
    }
    REQUIRE(a->monitor->leader());
    std::int64_t const last_renewal = 10'000;
    // The follower ticks every 5 s too, out of step with the leader.
    std::int64_t took_over_at = -1;
    for (std::int64_t t = 2'500; t <= 120'000 && took_over_at < 0; t += 5'000) {
        w.at(t);
        tick(*b);
        if (b->monitor->leader()) {
            took_over_at = t;
        }
    }
    REQUIRE(took_over_at > 0);
    CHECK(took_over_at > last_renewal + 30'000);           // not while the lease runs
    CHECK(took_over_at <= last_renewal + 30'000 + 5'000);  // at its first tick after
    CHECK(b->catch_up_count() == 1);                       // taking over reads the chats forward
}

TEST_CASE("monitor: a leader that stops cleanly hands over at the follower's next tick", "[subscriptions]") {
    Cluster w;
    auto a = w.node("node-a");
    auto b = w.node("node-b");
    tick(*a);
    tick(*b);
    REQUIRE(a->monitor->leader());
    REQUIRE_FALSE(b->monitor->leader());
    a->monitor->stop();
    w.at(1'000);
    tick(*b);
    CHECK(b->monitor->leader());
    CHECK_FALSE(a->monitor->leader());
    CHECK_FALSE(w.beats().contains("node-a"));
}

TEST_CASE("monitor: the subscription upkeep keeps its interval while the lease and heartbeat go every tick",
          "[subscriptions]") {
    Cluster w;
    auto a = w.node("node-a");
    for (std::int64_t t = 0; t <= 60'000; t += 5'000) {
        w.at(t);
        tick(*a);
        // Each tick beats.
        auto const beats = w.beats();
        REQUIRE(beats.contains("node-a"));
        CHECK(beats.at("node-a") >= msteams::now_ms() + t - 1'000);
    }
    CHECK(w.graph->listed() == 3);  // at 0, 30 and 60 s
    a->pass();                      // what a wake (a lifecycle event) asks for: at once
    CHECK(w.graph->listed() == 4);
}

TEST_CASE("monitor: a node that stopped cleanly is not recovered, one whose heartbeat is older than the ttl is, once",
          "[subscriptions]") {
    Cluster w;
    auto a = w.node("node-a");
    auto b = w.node("node-b");
    auto c = w.node("node-c");
    tick(*a);
    tick(*b);
    tick(*c);
    REQUIRE(a->monitor->leader());
    auto const c_last_beat = w.beats().at("node-c");
    b->monitor->stop();                   // deactivated: its row goes
    c->monitor->stop(/*cleanly=*/false);  // its server killed: its row stays and ages
    for (std::int64_t t = 5'000; t <= 25'000; t += 5'000) {
        w.at(t);
        tick(*a);
    }
    w.at(29'000);
    tick(*a);
    CHECK(w.lost_calls().empty());  // not before the ttl
    w.at(31'000);
    tick(*a);
    CHECK(w.lost_calls() == std::vector<std::int64_t>{c_last_beat});
    CHECK(a->stats->nodes_lost == 1);
    for (std::int64_t t = 36'000; t <= 66'000; t += 5'000) {
        w.at(t);
        tick(*a);
    }
    CHECK(w.lost_calls().size() == 1);  // once
    auto const beats = w.beats();
    CHECK(beats.size() == 1);
    CHECK(beats.contains("node-a"));
}

TEST_CASE("monitor: a lost node's recovery that fails is tried again at the next tick, then the node is forgotten",
          "[subscriptions]") {
    Cluster w;
    auto a = w.node("node-a");
    auto c = w.node("node-c");
    tick(*a);
    tick(*c);
    c->monitor->stop(/*cleanly=*/false);
    w.lost_failures = 1;
    w.at(31'000);
    tick(*a);
    CHECK(w.lost_calls().empty());
    CHECK(a->stats->nodes_lost == 0);
    CHECK(w.beats().contains("node-c"));
    w.at(36'000);
    tick(*a);
    CHECK(w.lost_calls().size() == 1);
    CHECK(a->stats->nodes_lost == 1);
    CHECK_FALSE(w.beats().contains("node-c"));
}

TEST_CASE(
    "monitor: a rich subscription carries the newest certificate, gets the next one at renewal, and switching "
    "modes replaces it",
    "[subscriptions][rich]") {
    FakeWorld w;
    msteams::sync::CertificateSettings cs;
    cs.clock_ms = [skew = w.skew] { return msteams::now_ms() + skew->load(); };
    auto const certificates = std::make_shared<msteams::sync::Certificates>(
        w.store.repos.certificates, std::make_shared<msteams::crypto::Sealer const>("encryption-key"), cs);
    auto settings = w.settings();
    settings.certificates = certificates;
    settings.global_rich = true;
    Node a(settings, w.store.repos, w.graph, w.tokens);
    a.pass();
    auto live = w.graph->live();
    REQUIRE(live.size() == 1);
    CHECK(live.front().include_resource_data);
    auto const first = certificates->current().value();
    CHECK(live.front().encryption_certificate_id == first.id);
    CHECK(live.front().encryption_certificate == first.certificate);
    CHECK(w.store.repos.subscriptions->list().value().front().certificate_id == first.id);

    // Renewed while the certificate has weeks left: the same certificate, no PATCH of it.
    *w.skew += 55 * 60'000;
    a.pass();
    CHECK(w.graph->renewed() == 1);
    CHECK(w.graph->live().front().encryption_certificate_id == first.id);

    // Six days before it ends, the next renewal gives the subscription a new certificate; the old key stays.
    *w.skew += 24LL * 24 * 3600 * 1000;
    a.pass();
    auto const second = certificates->current().value();
    CHECK(second.id != first.id);
    CHECK(w.graph->live().front().encryption_certificate_id == second.id);
    CHECK(w.store.repos.subscriptions->list().value().front().certificate_id == second.id);
    CHECK(certificates->private_key(first.id).has_value());
    CHECK(w.graph->created() == 1);

    // Back to basic notifications: the rich subscription is replaced by a plain one (and the chats caught up).
    auto const catch_ups = a.catch_up_count();
    Node basic(w.settings(), w.store.repos, w.graph, w.tokens);
    a.monitor->stop();
    basic.pass();
    live = w.graph->live();
    REQUIRE(live.size() == 1);
    CHECK_FALSE(live.front().include_resource_data);
    CHECK(w.store.repos.subscriptions->list().value().front().certificate_id.empty());
    CHECK(basic.catch_up_count() == 1);
    CHECK(a.catch_up_count() == catch_ups);
}

TEST_CASE("monitor: the emulator's rich notification opens with the bridge's certificate and its tokens check out",
          "[subscriptions][rich][pg]") {
    TestPki pki;
    std::mutex mutex;
    std::vector<std::string> bodies;
    TlsServer endpoint{pki.issue("127.0.0.1", "IP:127.0.0.1"), [&](Seen const& s) {
                           auto r = endpoint_reply(s);
                           if (r.status == 202 && s.target.starts_with("/changes")) {
                               std::lock_guard lock(mutex);
                               bodies.push_back(s.body);
                           }
                           return r;
                       }};
    Emulator emu{[&] {
        EmulatorOptions options;
        options.trust_ca_pem = pki.ca_pem();
        return options;
    }()};
    TempDatabase temp;
    auto const repos = msteams::store::postgres_repositories(temp.open_migrated());
    auto const certificates = std::make_shared<msteams::sync::Certificates>(
        repos.certificates, std::make_shared<msteams::crypto::Sealer const>("encryption-key"));
    MonitorSettings settings;
    settings.resource = "chats/getAllMessages?model=B";
    settings.notification_url = endpoint.url("/changes", "127.0.0.1");
    settings.lifecycle_url = endpoint.url("/lifecycle", "127.0.0.1");
    settings.client_state = "monitor-test-secret";
    settings.node_id = "node-a";
    settings.certificates = certificates;
    settings.global_rich = true;
    Node a(settings, repos, std::make_shared<Client>(emu.http, emu.graph_url()),
           std::make_shared<Entra>(emu.http, emu.app()));
    a.pass();

    std::string const adele = "a1b2c3d4-0001-4000-8000-000000000001";
    std::string const bianca = "a1b2c3d4-0002-4000-8000-000000000002";
    auto const chat = emu.control_ok("POST", "/chats", {{"chatType", "oneOnOne"}, {"members", {adele, bianca}}})
                          .at("id")
                          .get<std::string>();
    auto const sent = emu.control_ok("POST", "/chats/" + msteams::strings::url_encode(chat) + "/messages",
                                     {{"from", adele}, {"body", {{"contentType", "html"}, {"content", "<p>hi</p>"}}}});
    nlohmann::json batch;
    for (int i = 0; i < 200 && batch.is_null(); ++i) {
        {
            std::lock_guard lock(mutex);
            if (!bodies.empty()) {
                batch = nlohmann::json::parse(bodies.front());
            }
        }
        std::this_thread::sleep_for(50ms);
    }
    REQUIRE(batch.is_object());
    auto const& item = batch.at("value").at(0);
    auto const& content = item.at("encryptedContent");
    auto const key = certificates->private_key(content.at("encryptionCertificateId").get<std::string>());
    REQUIRE(key.has_value());
    auto const opened = msteams::crypto::decrypt_rich_content(**key, content.at("data").get<std::string>(),
                                                              content.at("dataKey").get<std::string>(),
                                                              content.at("dataSignature").get<std::string>());
    REQUIRE(opened.ok);
    auto const message = msteams::graph::parse_chat_message(opened.plaintext);
    REQUIRE(message.has_value());
    CHECK(message->id.str() == sent.at("id").get<std::string>());
    CHECK(message->body == "<p>hi</p>");

    msteams::graph::NotificationTokenSettings ts;
    ts.login_base = emu.login_url();
    ts.client_id = emu.app().client_id;
    ts.tenant_id = emu.tenant_id();
    msteams::graph::NotificationTokens tokens(emu.http, ts);
    std::vector<std::string> validation;
    for (auto const& t : batch.at("validationTokens")) {
        validation.push_back(t.get<std::string>());
    }
    CHECK(tokens.check(validation) == msteams::graph::TokenRefusal::none);
    ts.client_id = "99999999-0000-0000-0000-000000000000";  // another app's endpoint would refuse them
    msteams::graph::NotificationTokens others(emu.http, ts);
    CHECK(others.check(validation) == msteams::graph::TokenRefusal::claims);
}
