#include "http/graph_endpoint.hpp"  // first: it includes <utility> before Asio

#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "../store/pg_support.hpp"
#include "common/clock.hpp"
#include "common/strings.hpp"
#include "crypto/crypto.hpp"
#include "graph/client.hpp"
#include "graph/emulator.hpp"
#include "store/repositories.hpp"
#include "subscriptions/monitor.hpp"
#include "sync/certificates.hpp"

// The per-user and hybrid modes against the Graph emulator and PostgreSQL: the planner's choices carried out within
// the organization's quota, a 403 for it shrinking the budget, users moving as activity shifts or they disconnect,
// a lost subscription given back, and a switch to a global mode taking every per-user subscription away.

using msteams::graph::Client;
using msteams::graph::Entra;
using msteams::subscriptions::Monitor;
using msteams::subscriptions::MonitorSettings;
using msteams::test::Emulator;
using msteams::test::EmulatorOptions;
using msteams::test::endpoint_reply;
using msteams::test::TempDatabase;
using msteams::test::TestPki;
using msteams::test::TlsServer;

namespace {

struct Bed {
    TestPki pki;
    TlsServer endpoint{pki.issue("127.0.0.1", "IP:127.0.0.1"), endpoint_reply};
    Emulator emu{[this] {
        EmulatorOptions options;
        options.trust_ca_pem = pki.ca_pem();
        return options;
    }()};
    TempDatabase temp;
    msteams::store::Repositories repos = msteams::store::postgres_repositories(temp.open_migrated());
    std::shared_ptr<msteams::sync::Certificates> certificates = std::make_shared<msteams::sync::Certificates>(
        repos.certificates, std::make_shared<msteams::crypto::Sealer const>("encryption-key"));
    std::shared_ptr<msteams::metrics::Counters> stats = std::make_shared<msteams::metrics::Counters>();
    std::vector<std::string> users;  // Teams user ids, connected in this order

    [[nodiscard]] MonitorSettings settings(std::optional<msteams::subscriptions::PlannerSettings> planner) const {
        MonitorSettings s;
        s.resource = "chats/getAllMessages?model=B";
        s.user_resource_suffix = "?model=B";
        s.notification_url = endpoint.url("/changes", "127.0.0.1");
        s.lifecycle_url = endpoint.url("/lifecycle", "127.0.0.1");
        s.client_state = "per-user-test-secret";
        s.node_id = "node-a";
        s.certificates = certificates;
        s.planner = planner;
        return s;
    }

    std::unique_ptr<Monitor> monitor(MonitorSettings const& s) {
        return std::make_unique<Monitor>(s, repos, std::make_shared<Client>(emu.http, emu.graph_url()),
                                         std::make_shared<Entra>(emu.http, emu.app()), stats,
                                         [](std::string const&) { return msteams::Status{}; });
    }

    void connect(int n) {
        for (int i = 0; i < n; ++i) {
            auto const made = emu.control_ok("POST", "/users", {{"displayName", "Person " + std::to_string(i)}});
            users.push_back(made.at("id").get<std::string>());
            msteams::store::Account a;
            a.mm_user_id = msteams::MmUserId("mmuser" + std::to_string(i) + "aaaaaaaaaaaaaaaaaaa");
            a.teams_user_id = msteams::TeamsUserId(users.back());
            a.teams_email = "person" + std::to_string(i) + "@example.com";
            a.token_sealed = "sealed-token";
            a.connected_at = 1000 + i;
            REQUIRE(repos.accounts->connect(a, 1000).has_value());
        }
    }

    void credit(int user, double messages) {
        REQUIRE(repos.planning
                    ->credit({msteams::TeamsUserId(users.at(static_cast<std::size_t>(user)))}, messages,
                             msteams::now_ms(), 6LL * 3600 * 1000)
                    .has_value());
    }

    // The Teams users whose rich subscription Graph has, and how many subscriptions it has in all.
    [[nodiscard]] std::set<std::string> rich_owners() {
        std::set<std::string> out;
        auto const listed = emu.control_ok("GET", "/subscriptions");
        for (auto const& s : listed.at("value")) {
            std::string const resource = s.at("resource");
            if (resource.starts_with("users/")) {
                out.insert(resource.substr(6, resource.find('/', 6) - 6));
            }
        }
        return out;
    }
    [[nodiscard]] std::size_t live() { return emu.control_ok("GET", "/subscriptions").at("value").size(); }
    [[nodiscard]] std::set<std::string> of(std::vector<int> const& idx) const {
        std::set<std::string> out;
        for (int i : idx) {
            out.insert(users.at(static_cast<std::size_t>(i)));
        }
        return out;
    }
};

void pass(Monitor& m) {
    auto const s = m.run_once();
    INFO((s ? std::string() : s.error().message));
    REQUIRE(s.has_value());
}

msteams::subscriptions::PlannerSettings hybrid(std::size_t budget) {
    msteams::subscriptions::PlannerSettings p;
    p.mode = msteams::subscriptions::PlanMode::hybrid;
    p.budget = budget;
    p.min_hold_ms = 0;
    return p;
}

}  // namespace

TEST_CASE("per-user subscriptions: hybrid picks the busiest users, a quota 403 shrinks the budget, users move",
          "[subscriptions][per-user][pg]") {
    Bed b;
    b.emu.control_ok("PUT", "/quotas", {{"perAppPerThread", 1}, {"perUser", 10}, {"perTenant", 4}});
    b.connect(6);
    for (int i = 0; i < 5; ++i) {
        b.credit(i, 50.0 - 10.0 * i);  // 50, 40, 30, 20, 10; the sixth user has no activity
    }
    auto m = b.monitor(b.settings(hybrid(10)));

    // The budget (10) is above what the organization has left (4 in all): Graph refuses the fourth user's, and the
    // bridge keeps what it has as its budget.
    pass(*m);
    CHECK(b.live() == 4);
    CHECK(b.rich_owners() == b.of({0, 1, 2}));
    CHECK(b.stats->subscription_quota_refusals == 1);
    auto const refusal = b.repos.planning->refusal().value();
    REQUIRE(refusal.has_value());
    CHECK(refusal->budget == 4);

    // Within the shrunk budget nothing is tried again.
    pass(*m);
    CHECK(b.live() == 4);
    CHECK(b.stats->subscription_quota_refusals == 1);

    // Activity shifts: the fifth user's chats get busy and take the weakest holder's subscription (dropped first,
    // so the quota is never exceeded).
    b.credit(4, 500);
    pass(*m);
    CHECK(b.rich_owners() == b.of({0, 1, 4}));
    CHECK(b.live() == 4);

    // A holder disconnects: theirs goes, the busiest user without one (the third, 30) gets it.
    REQUIRE(b.repos.accounts->disconnect(msteams::MmUserId("mmuser0aaaaaaaaaaaaaaaaaaa")).has_value());
    pass(*m);
    CHECK(b.rich_owners() == b.of({1, 2, 4}));

    // Graph loses one: it is made again at the next pass.
    std::string lost;
    auto const listed = b.emu.control_ok("GET", "/subscriptions");
    for (auto const& s : listed.at("value")) {
        if (s.at("resource").get<std::string>().find(b.users[1]) != std::string::npos) {
            lost = s.at("id").get<std::string>();
        }
    }
    REQUIRE_FALSE(lost.empty());
    b.emu.control_ok("DELETE", "/subscriptions/" + lost);
    pass(*m);
    CHECK(b.rich_owners() == b.of({1, 2, 4}));
    CHECK(b.live() == 4);

    // Back to a global mode: every per-user subscription is deleted, the global one stays.
    m->stop();
    auto global = b.monitor(b.settings(std::nullopt));
    pass(*global);
    CHECK(b.rich_owners().empty());
    CHECK(b.live() == 1);
    auto const rows = b.repos.subscriptions->list().value();
    for (auto const& row : rows) {
        CHECK(row.kind == msteams::store::SubscriptionKind::chats);
    }
}

TEST_CASE("per-user subscriptions: per-user mode gives them in the order users connected, within the budget",
          "[subscriptions][per-user][pg]") {
    Bed b;
    b.connect(5);
    b.credit(4, 1000);  // activity does not matter in this mode
    auto p = hybrid(4);
    p.mode = msteams::subscriptions::PlanMode::per_user;
    auto m = b.monitor(b.settings(p));
    pass(*m);
    CHECK(b.rich_owners() == b.of({0, 1, 2}));  // budget 4: the global one and three users
    CHECK(b.live() == 4);
    // Each is rich: created with the bridge's certificate.
    auto const listed = b.emu.control_ok("GET", "/subscriptions");
    for (auto const& s : listed.at("value")) {
        if (s.at("resource").get<std::string>().starts_with("users/")) {
            CHECK(s.at("includeResourceData") == true);
            CHECK(s.at("encryptionCertificateId") == b.certificates->current().value().id);
        }
    }
    REQUIRE(b.repos.accounts->disconnect(msteams::MmUserId("mmuser1aaaaaaaaaaaaaaaaaaa")).has_value());
    pass(*m);
    CHECK(b.rich_owners() == b.of({0, 2, 3}));
    CHECK(b.stats->subscription_quota_refusals == 0);
}
