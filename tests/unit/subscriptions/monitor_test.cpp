#include "http/tls_server.hpp"  // first: it includes <utility> before Asio

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "../store/pg_support.hpp"
#include "fakes/fake_teams.hpp"
#include "fakes/memory_store.hpp"
#include "common/clock.hpp"
#include "common/strings.hpp"
#include "graph/client.hpp"
#include "graph/emulator.hpp"
#include "store/repositories.hpp"
#include "subscriptions/monitor.hpp"

using msteams::graph::Client;
using msteams::graph::Entra;
using msteams::subscriptions::Monitor;
using msteams::subscriptions::MonitorSettings;
using msteams::test::Emulator;
using msteams::test::EmulatorOptions;
using msteams::test::Reply;
using msteams::test::Seen;
using msteams::test::TempDatabase;
using msteams::test::TestPki;
using msteams::test::TlsServer;
using namespace std::chrono_literals;

namespace {

// The plugin's endpoints as Graph sees them: answers the validation handshake, accepts notifications.
Reply endpoint_reply(Seen const& s) {
    Reply r;
    auto const q = s.target.find('?');
    auto const params = msteams::strings::parse_query(q == std::string::npos ? "" : s.target.substr(q + 1));
    if (params) {
        for (auto const& [k, v] : *params) {
            if (k == "validationToken") {
                r.headers = {{"Content-Type", "text/plain; charset=utf-8"}};
                r.body = v;
                return r;
            }
        }
    }
    r.status = 202;
    return r;
}

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
