#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../fake_api.hpp"
#include "../store/pg_support.hpp"
#include "fakes/fake_teams.hpp"
#include "common/clock.hpp"
#include "graph/client.hpp"
#include "graph/emulator.hpp"
#include "store/repositories.hpp"
#include "store/user_sync.hpp"
#include "subscriptions/monitor.hpp"
#include "sync/people.hpp"
#include "sync/promotion.hpp"
#include "sync/user_sync.hpp"

using msteams::MmUserId;
using msteams::Result;
using msteams::TeamsUserId;
using msteams::graph::GraphUser;
using msteams::store::UserSyncPhase;
using msteams::sync::profile_of;
using msteams::sync::SyntheticAuth;
using msteams::sync::TeamsProfile;
using msteams::sync::UserSync;
using msteams::sync::UserSyncSettings;
using msteams::test::Emulator;
using msteams::test::TempDatabase;
using namespace std::chrono_literals;

namespace {

// The built-in tenant of the emulator: five members (Dora, a sixth, is disabled; Gita is a guest).
constexpr char const* k_adele = "a1b2c3d4-0001-4000-8000-000000000001";
constexpr char const* k_bianca = "a1b2c3d4-0002-4000-8000-000000000002";
constexpr char const* k_cameron = "a1b2c3d4-0003-4000-8000-000000000003";
constexpr char const* k_diego = "a1b2c3d4-0004-4000-8000-000000000004";
constexpr char const* k_emily = "a1b2c3d4-0005-4000-8000-000000000005";
constexpr char const* k_gita = "a1b2c3d4-0006-4000-8000-000000000006";
constexpr char const* k_dora = "a1b2c3d4-0007-4000-8000-000000000007";

// The Microsoft 365 emulator as Graph, PostgreSQL as the store, a fake Mattermost; a wall clock the test moves.
struct World {
    Emulator emu;
    TempDatabase temp;
    std::shared_ptr<msteams::store::Database> db = temp.open_migrated(4);
    msteams::store::Repositories repos = msteams::store::postgres_repositories(db);
    std::shared_ptr<msteams::test::FakeApi> api = std::make_shared<msteams::test::FakeApi>();
    std::shared_ptr<msteams::metrics::Counters> stats = std::make_shared<msteams::metrics::Counters>();
    std::shared_ptr<msteams::graph::Entra> entra = std::make_shared<msteams::graph::Entra>(emu.http, emu.app());
    std::shared_ptr<msteams::graph::Client> graph = std::make_shared<msteams::graph::Client>(emu.http, emu.graph_url());
    std::shared_ptr<std::atomic<std::int64_t>> clock = std::make_shared<std::atomic<std::int64_t>>(msteams::now_ms());
    std::shared_ptr<msteams::store::UserSyncStore> progress = std::make_shared<msteams::store::UserSyncStore>(db);
    int lists = 0;          // pages read
    int fail_list_at = -1;  // the page read (from 0) that fails once
    SyntheticAuth auth;     // for People and the job

    std::string app_token() {
        auto t = entra->app_token();
        REQUIRE(t.has_value());
        return t->access_token;
    }

    std::shared_ptr<msteams::sync::People> people(bool guests) {
        msteams::sync::PeopleSettings s{guests, [c = clock] { return c->load(); }};
        s.auth = auth;
        s.find_by_address = [this](std::string const& address) -> Result<std::vector<TeamsProfile>> {
            std::vector<GraphUser> users;
            MSTEAMS_TRY_ASSIGN(users, graph->find_users_by_address(app_token(), address));
            std::vector<TeamsProfile> out;
            for (auto const& u : users) {
                out.push_back(profile_of(u));
            }
            return out;
        };
        return std::make_shared<msteams::sync::People>(
            api, repos, s,
            [this](std::string const& id) -> Result<TeamsProfile> {
                GraphUser u;
                MSTEAMS_TRY_ASSIGN(u, graph->get_user(app_token(), id));
                return profile_of(u);
            },
            stats);
    }

    UserSyncSettings settings(bool guests = false) {
        UserSyncSettings s;
        s.interval = 1h;
        s.sync_guests = guests;
        s.page_size = 2;  // the tenant's seven users in four pages
        s.auth = auth;
        s.clock_ms = [c = clock] { return c->load(); };
        return s;
    }

    std::unique_ptr<UserSync> job(UserSyncSettings s) {
        bool const guests = s.sync_guests;
        auto const page_size = s.page_size;
        return std::make_unique<UserSync>(
            std::move(s), api, repos, progress, people(guests),
            [this, page_size](std::string const& next) -> Result<msteams::graph::UserPage> {
                if (lists++ == fail_list_at) {
                    return msteams::fail(msteams::ErrorCode::unavailable, "Graph is away for a moment");
                }
                return graph->list_users(app_token(), next, page_size);
            },
            [this](TeamsUserId const& id) -> Result<std::optional<GraphUser>> {
                auto u = graph->get_user(app_token(), id.str());
                if (!u) {
                    if (u.error().code == msteams::ErrorCode::not_found) {
                        return std::optional<GraphUser>();
                    }
                    return std::unexpected(u.error());
                }
                return std::optional<GraphUser>(*u);
            },
            stats);
    }

    // Passes until the run is done (at most `max`).
    void until_done(UserSync& job, int max = 20) {
        for (int i = 0; i < max; ++i) {
            auto const s = job.run_once();
            INFO((s ? std::string() : s.error().message));
            REQUIRE(s.has_value());
            if (progress->state().value().phase == UserSyncPhase::done) {
                return;
            }
        }
        FAIL("the run did not finish");
    }

    // A Mattermost user who connected their Teams account `teams_id`, member of `teams`.
    MmUserId connected(std::string const& name, std::string const& teams_id, std::vector<std::string> const& teams) {
        msteams::mm::User u;
        u.username = name;
        u.email = name + "@mattermost.example";
        auto const made = api->create_user(u, "pw");
        REQUIRE(made.has_value());
        for (auto const& t : teams) {
            api->team_members[t].insert(made->id.str());
        }
        msteams::store::Account account;
        account.mm_user_id = made->id;
        account.teams_user_id = TeamsUserId(teams_id);
        account.teams_email = name + "@contoso.onmicrosoft.com";
        account.token_sealed = "sealed";
        account.connected_at = msteams::now_ms();
        REQUIRE(repos.accounts->connect(account, 100).has_value());
        return made->id;
    }

    std::optional<msteams::store::TeamsUser> row(std::string const& teams_id) {
        auto r = repos.users->by_teams_id(TeamsUserId(teams_id));
        REQUIRE(r.has_value());
        return *r;
    }

    msteams::mm::User mm(std::string const& teams_id) {
        auto const r = row(teams_id);
        REQUIRE(r.has_value());
        return api->users.at(r->mm_user_id.str());
    }

    bool active(std::string const& teams_id) { return !api->inactive.contains(row(teams_id)->mm_user_id.str()); }

    std::int64_t user_pages() const { return emu.count("GET /v1.0/users", 200); }
};

}  // namespace

TEST_CASE("user sync: the tenant's members become synthetic users in the connected users' teams, kept in step",
          "[sync][pg][graph]") {
    World w;
    w.connected("alice", k_adele, {"team-1", "team-2"});
    msteams::mm::User bianca;
    bianca.username = "bianca";
    bianca.email = "bianca@contoso.onmicrosoft.com";
    auto const existing = w.api->create_user(bianca, "pw");
    REQUIRE(existing.has_value());
    auto fiona = w.emu.control_ok("POST", "/users",
                                  {{"displayName", "Fiona Fay"},
                                   {"mail", "fiona@contoso.onmicrosoft.com"},
                                   {"userPrincipalName", "fiona@contoso.onmicrosoft.com"}});
    std::string const k_fiona = fiona.at("id");

    auto job = w.job(w.settings());
    w.until_done(*job);
    // Eight users in pages of two: four pages, each read once.
    CHECK(w.user_pages() == 4);
    auto const state = w.progress->state().value();
    CHECK(state.run == 1);
    CHECK(state.listed == 8);

    // Adele connected (her own Mattermost user stands for her); Bianca has a Mattermost user with her email; Gita is a
    // guest and Dora is disabled: neither becomes a synthetic user.
    CHECK_FALSE(w.row(k_adele).has_value());
    REQUIRE(w.row(k_bianca).has_value());
    CHECK_FALSE(w.row(k_bianca)->synthetic);
    CHECK(w.row(k_bianca)->mm_user_id == existing->id);
    CHECK_FALSE(w.row(k_gita).has_value());
    CHECK_FALSE(w.row(k_dora).has_value());
    for (auto const* id : {k_cameron, k_diego, k_emily, k_fiona.c_str()}) {
        INFO(id);
        REQUIRE(w.row(id).has_value());
        CHECK(w.row(id)->synthetic);
        CHECK(w.row(id)->team_ids == std::vector<std::string>{"team-1", "team-2"});
        auto const mm_id = w.row(id)->mm_user_id.str();
        CHECK(w.api->team_members["team-1"].contains(mm_id));
        CHECK(w.api->team_members["team-2"].contains(mm_id));
        CHECK(w.active(id));
    }
    CHECK(w.mm(k_cameron).first_name == "Cameron White");
    CHECK(w.mm(k_cameron).email == "cameron@contoso.onmicrosoft.com");
    CHECK(w.mm(k_cameron).username == "msteams_cameron.white");
    CHECK(w.stats->synthetic_users_created == 4);
    CHECK(w.stats->synthetic_team_memberships == 8);
    CHECK(w.stats->user_sync_runs == 1);
    CHECK(w.stats->user_sync_users_listed == 8);

    // Not due again before the interval: nothing read.
    REQUIRE(job->run_once().has_value());
    CHECK(w.user_pages() == 4);

    // Teams changes: a new name, a new mail address, a disabled account, a deleted one.
    w.emu.control_ok("PATCH", std::string("/users/") + k_cameron, {{"displayName", "Cameron W. White"}});
    w.emu.control_ok("PATCH", std::string("/users/") + k_diego, {{"mail", "diego.s@contoso.example"}});
    w.emu.control_ok("PATCH", std::string("/users/") + k_emily, {{"accountEnabled", false}});
    w.emu.control_ok("DELETE", "/users/" + k_fiona);
    auto const additions = w.api->team_additions;
    *w.clock += std::chrono::milliseconds(1h).count();
    w.until_done(*job);
    CHECK(w.progress->state().value().run == 2);
    CHECK(w.mm(k_cameron).first_name == "Cameron W. White");
    CHECK(w.mm(k_cameron).nickname == "Cameron W. White");
    CHECK(w.row(k_cameron)->display_name == "Cameron W. White");
    CHECK(w.mm(k_diego).email == "diego.s@contoso.example");
    CHECK(w.row(k_diego)->email == "diego.s@contoso.example");
    CHECK(w.row(k_diego)->upn == "diego@contoso.onmicrosoft.com");
    CHECK_FALSE(w.active(k_emily));
    CHECK(w.row(k_emily)->deactivated_at != 0);
    // Deleted: gone from the listing, and Graph answers 404 for it.
    CHECK_FALSE(w.active(k_fiona));
    CHECK(w.emu.count("GET /v1.0/users/{uid}", 404) == 1);
    CHECK(w.active(k_cameron));
    CHECK(w.stats->synthetic_users_updated == 2);
    CHECK(w.stats->synthetic_users_deactivated == 2);
    // Their teams were joined already: no second request.
    CHECK(w.api->team_additions == additions);

    // Back in Teams: reactivated. Nothing else changes.
    w.emu.control_ok("PATCH", std::string("/users/") + k_emily, {{"accountEnabled", true}});
    w.emu.control_ok("POST", "/users/" + k_fiona + "/restore");
    auto const updates = w.api->user_updates;
    *w.clock += std::chrono::milliseconds(1h).count();
    w.until_done(*job);
    CHECK(w.active(k_emily));
    CHECK(w.active(k_fiona));
    CHECK(w.row(k_emily)->deactivated_at == 0);
    CHECK(w.stats->synthetic_users_reactivated == 2);
    CHECK(w.api->user_updates == updates);
    CHECK(w.stats->user_sync_runs == 3);
}

TEST_CASE("user sync: guests only when guest sync is on, only the allowed email domains", "[sync][pg][graph]") {
    World w;
    w.connected("alice", k_adele, {"team-1"});
    SECTION("guests synced, one domain: Gita only") {
        auto s = w.settings(/*guests=*/true);
        s.domains = {"Fabrikam.example"};
        auto job = w.job(s);
        w.until_done(*job);
        REQUIRE(w.row(k_gita).has_value());
        CHECK(w.row(k_gita)->synthetic);
        CHECK(w.mm(k_gita).email == "gita@fabrikam.example");
        for (auto const* id : {k_bianca, k_cameron, k_diego, k_emily, k_dora}) {
            CHECK_FALSE(w.row(id).has_value());
        }
        // Guest sync turned off: the guest's synthetic user is deactivated at the next run.
        *w.clock += std::chrono::milliseconds(1h).count();
        auto off = w.job(w.settings(/*guests=*/false));
        w.until_done(*off);
        CHECK_FALSE(w.active(k_gita));
        CHECK(w.stats->synthetic_users_deactivated == 1);
    }
    SECTION("guests not synced, the tenant's domain: the enabled members") {
        auto s = w.settings(/*guests=*/false);
        s.domains = {"contoso.onmicrosoft.com"};
        auto job = w.job(s);
        w.until_done(*job);
        CHECK_FALSE(w.row(k_gita).has_value());
        CHECK_FALSE(w.row(k_dora).has_value());
        for (auto const* id : {k_bianca, k_cameron, k_diego, k_emily}) {
            CHECK(w.row(id).has_value());
        }
    }
    CHECK(msteams::sync::in_domains("x@Contoso.com", {"contoso.com"}));
    CHECK_FALSE(msteams::sync::in_domains("x@sub.contoso.com", {"contoso.com"}));
    CHECK_FALSE(msteams::sync::in_domains("no-at-sign", {"contoso.com"}));
    CHECK(msteams::sync::in_domains("anyone@anywhere.example", {}));
}

TEST_CASE("user sync: an interrupted run goes on from the page it reached, not from the start", "[sync][pg][graph]") {
    World w;
    w.connected("alice", k_adele, {"team-1"});
    auto s = w.settings();
    s.users_per_pass = 2;  // one page of two per pass
    {
        auto job = w.job(s);
        REQUIRE(job->run_once().has_value());
        auto const state = w.progress->state().value();
        CHECK(state.phase == UserSyncPhase::listing);
        CHECK(state.listed == 2);
        CHECK_FALSE(state.next_link.empty());
        CHECK(w.user_pages() == 1);
    }
    // The node went away (a crash, a new leader): another job, same database, reads the second page, and a failure
    // there leaves the progress where it was.
    w.fail_list_at = w.lists;
    {
        auto job = w.job(s);
        auto const failed = job->run_once();
        CHECK_FALSE(failed.has_value());
        CHECK(w.progress->state().value().listed == 2);
        w.until_done(*job);
    }
    // Seven users, four pages, each read once: nothing was read from the start again.
    CHECK(w.user_pages() == 4);
    CHECK(w.progress->state().value().listed == 7);
    for (auto const* id : {k_bianca, k_cameron, k_diego, k_emily}) {
        CHECK(w.row(id).has_value());
    }
    CHECK(w.stats->synthetic_users_created == 4);

    // A stored link Graph refuses (expired, another host) starts the listing over rather than stopping the job.
    *w.clock += std::chrono::milliseconds(1h).count();
    {
        auto job = w.job(s);
        REQUIRE(job->run_once().has_value());  // run 2, first page
        auto state = w.progress->state().value();
        auto broken = state;
        broken.next_link = "https://elsewhere.example/v1.0/users?$skiptoken=x";
        REQUIRE(w.progress->advance(state, broken).value());
        w.until_done(*job);
        CHECK(w.progress->state().value().listed == 9);  // 2 before the link broke, then all 7
    }
}

TEST_CASE("user sync: a run makes at most its limit of changes, and the next run goes on", "[sync][pg][graph]") {
    World w;
    w.connected("alice", k_adele, {"team-1"});
    auto s = w.settings();
    s.max_changes_per_run = 3;
    auto job = w.job(s);
    w.until_done(*job);
    CHECK(w.stats->synthetic_users_created == 3);
    CHECK(w.progress->state().value().changes == 3);
    *w.clock += std::chrono::milliseconds(1h).count();
    w.until_done(*job);
    CHECK(w.stats->synthetic_users_created == 4);
}

TEST_CASE("user sync: one node runs it — the leader — and two nodes cannot both move a run on", "[sync][pg][graph]") {
    World w;
    w.connected("alice", k_adele, {"team-1"});
    auto skew = std::make_shared<std::atomic<std::int64_t>>(0);
    auto const node = [&](std::string const& id, int& runs) {
        msteams::subscriptions::MonitorSettings m;
        m.resource = "chats/getAllMessages?model=B";
        m.notification_url = "https://mattermost.example/plugins/com.mattermost.msteams/changes";
        m.lifecycle_url = "https://mattermost.example/plugins/com.mattermost.msteams/lifecycle";
        m.client_state = "user-sync-test-secret";
        m.node_id = id;
        m.clock_ms = [skew] { return msteams::now_ms() + skew->load(); };
        auto monitor = std::make_unique<msteams::subscriptions::Monitor>(
            m, w.repos, std::make_shared<msteams::test::FakeSubscriptions>(),
            std::make_shared<msteams::test::FakeAppTokens>(), w.stats,
            [](std::string const&) { return msteams::Status{}; });
        std::shared_ptr<UserSync> job = w.job(w.settings());
        monitor->add_job("users", 60s, [job, &runs]() -> msteams::Status {
            ++runs;
            return job->run_once();
        });
        return monitor;
    };
    int runs_a = 0;
    int runs_b = 0;
    auto a = node("node-a", runs_a);
    auto b = node("node-b", runs_b);
    for (int i = 0; i < 6; ++i) {
        REQUIRE(a->tick().has_value());
        REQUIRE(b->tick().has_value());
        *skew += 61'000;  // the job's minute passes
    }
    CHECK(a->leader());
    CHECK_FALSE(b->leader());
    CHECK(runs_a >= 4);
    CHECK(runs_b == 0);
    CHECK(w.progress->state().value().run == 1);
    CHECK(w.stats->synthetic_users_created == 4);
    a->stop();
    b->stop();

    // Progress moves only from the state it was read in: of two writers, the second finds it moved and stops.
    auto const read = w.progress->state().value();
    auto next = read;
    next.listed += 1;
    CHECK(w.progress->advance(read, next).value());
    CHECK_FALSE(w.progress->advance(read, next).value());
    CHECK_FALSE(w.progress->start(read, msteams::now_ms()).value());
}

TEST_CASE("user sync: with automatic promotion synthetic users carry the SSO identity, and lose it when it is off",
          "[sync][pg][graph]") {
    World w;
    w.connected("alice", k_adele, {"team-1"});
    w.auth.service = "saml";
    w.auth.data = SyntheticAuth::Data::upn;
    // Made before automatic promotion was on: a password nobody knows, no sign-in.
    {
        auto job = w.job(w.settings());
        w.until_done(*job);
        CHECK(w.mm(k_cameron).auth_service.empty());
    }
    w.auth.automatic = true;
    w.emu.control_ok("POST", "/users",
                     {{"displayName", "Pat OBrien"},
                      {"mail", "pat@contoso.example"},
                      {"userPrincipalName", "pobrien@contoso.onmicrosoft.com"}});
    *w.clock += std::chrono::milliseconds(1h).count();
    {
        auto job = w.job(w.settings());
        w.until_done(*job);
    }
    // Existing ones get it at the next run; new ones are created with it.
    CHECK(w.mm(k_cameron).auth_service == "saml");
    CHECK(w.mm(k_cameron).auth_data == "cameron@contoso.onmicrosoft.com");
    auto const pat = w.repos.users->by_mm_id(w.api->get_user_by_email("pat@contoso.example")->id).value();
    REQUIRE(pat.has_value());
    auto const pat_user = w.api->users.at(pat->mm_user_id.str());
    CHECK(pat_user.auth_service == "saml");
    CHECK(pat_user.auth_data == "pobrien@contoso.onmicrosoft.com");
    CHECK(pat->upn == "pobrien@contoso.onmicrosoft.com");

    // Off again: nobody can sign in to a synthetic user.
    w.auth.automatic = false;
    *w.clock += std::chrono::milliseconds(1h).count();
    {
        auto job = w.job(w.settings());
        w.until_done(*job);
    }
    CHECK(w.mm(k_cameron).auth_service.empty());
    CHECK(w.api->users.at(pat->mm_user_id.str()).auth_service.empty());
}

TEST_CASE("people: a Mattermost user is found in Teams by mail as well as by UPN", "[sync][pg][graph]") {
    World w;
    auto const pat = w.emu.control_ok("POST", "/users",
                                      {{"displayName", "Pat O'Brien"},
                                       {"mail", "pat.o'brien@contoso.example"},
                                       {"userPrincipalName", "pobrien@contoso.onmicrosoft.com"}});
    std::string const pat_id = pat.at("id");
    auto const mm_user = [&](std::string const& name, std::string const& email) {
        msteams::mm::User u;
        u.username = name;
        u.email = email;
        auto made = w.api->create_user(u, "pw");
        REQUIRE(made.has_value());
        return made->id;
    };
    auto const by_mail = mm_user("pat", "Pat.O'Brien@contoso.example");
    auto const by_upn = mm_user("pobrien", "pobrien@contoso.onmicrosoft.com");
    auto const nobody = mm_user("nobody", "nobody@contoso.example");

    // Graph reads a user by id or UPN only: without the filter on mail, Pat is not found by her mail.
    auto upn_only = std::make_shared<msteams::sync::People>(
        w.api, w.repos, msteams::sync::PeopleSettings{false, {}},
        [&](std::string const& id) -> Result<TeamsProfile> {
            GraphUser u;
            MSTEAMS_TRY_ASSIGN(u, w.graph->get_user(w.app_token(), id));
            return profile_of(u);
        },
        w.stats);
    auto const missed = upn_only->teams_user_for(by_mail);
    REQUIRE(missed.has_value());
    CHECK_FALSE(missed->has_value());

    auto people = w.people(false);
    auto const found = people->teams_user_for(by_mail);
    REQUIRE(found.has_value());
    REQUIRE(found->has_value());
    CHECK((*found)->str() == pat_id);
    // The mapping is stored: Pat's UPN beside her mail.
    CHECK(w.row(pat_id)->email == "pat.o'brien@contoso.example");
    CHECK(w.row(pat_id)->upn == "pobrien@contoso.onmicrosoft.com");

    auto const none = people->teams_user_for(nobody);
    REQUIRE(none.has_value());
    CHECK_FALSE(none->has_value());
    // The filter asked for both, quotes doubled: one request per address.
    CHECK(w.emu.count("GET /v1.0/users", 200) == 2);
    auto const same = people->teams_user_for(by_upn);
    REQUIRE(same.has_value());
    REQUIRE(same->has_value());
    CHECK((*same)->str() == pat_id);

    // And by UPN, for a Mattermost user whose email is the UPN (another Teams user: Diego's mail and UPN differ).
    w.emu.control_ok("PATCH", std::string("/users/") + k_diego, {{"mail", "diego.s@contoso.example"}});
    auto const diego_mm = mm_user("diego", "diego@contoso.onmicrosoft.com");
    auto const diego = people->teams_user_for(diego_mm);
    REQUIRE(diego.has_value());
    REQUIRE(diego->has_value());
    CHECK((*diego)->str() == k_diego);
}

TEST_CASE("promotion: a synthetic user who signs in with their Teams identity becomes theirs, and nobody else does",
          "[sync][pg][graph]") {
    World w;
    w.auth.service = "saml";
    w.auth.data = SyntheticAuth::Data::mail;
    w.auth.automatic = true;
    auto people = w.people(false);
    auto const made =
        people->mm_user_for(TeamsProfile{TeamsUserId(k_cameron), "Cameron White", "cameron@contoso.onmicrosoft.com",
                                         false, "cameron@contoso.onmicrosoft.com"});
    REQUIRE(made.has_value());
    REQUIRE(made->has_value());
    auto user = w.api->users.at((*made)->str());
    CHECK(user.auth_service == "saml");
    CHECK(user.auth_data == "cameron@contoso.onmicrosoft.com");
    CHECK(user.notify_props.at("email") == "false");

    // Another identity (a SAML sign-in the identity provider sent with other data): not promoted.
    auto other = user;
    other.auth_data = "someone@contoso.onmicrosoft.com";
    CHECK_FALSE(msteams::sync::promote_on_sign_in(*w.api, *w.repos.users, w.auth, other).value());
    // Automatic promotion off: not promoted.
    auto off = w.auth;
    off.automatic = false;
    CHECK_FALSE(msteams::sync::promote_on_sign_in(*w.api, *w.repos.users, off, user).value());
    CHECK(w.row(k_cameron)->synthetic);

    // The identity of their Teams account (the address compared without case): promoted.
    auto signed_in = user;
    signed_in.auth_data = "Cameron@Contoso.onmicrosoft.com";
    CHECK(msteams::sync::promote_on_sign_in(*w.api, *w.repos.users, w.auth, signed_in).value());
    auto const row = w.row(k_cameron);
    CHECK_FALSE(row->synthetic);
    CHECK(row->promoted_at > 0);
    CHECK(row->mm_user_id == *made);  // the same user: history and mappings stay
    auto const promoted = w.api->users.at((*made)->str());
    CHECK(promoted.username == "cameron");
    CHECK_FALSE(promoted.props.contains("msteams_user_id"));
    CHECK(promoted.notify_props.at("email") == "true");
    CHECK(promoted.notify_props.at("desktop") == "mention");
    CHECK(promoted.auth_service == "saml");
    // Known as the same Teams user.
    CHECK(people->known_mm_user(TeamsUserId(k_cameron)).value() == *made);
    // A second sign-in: nothing more to do.
    CHECK_FALSE(msteams::sync::promote_on_sign_in(*w.api, *w.repos.users, w.auth, signed_in).value());

    // A taken username: the synthetic one stays.
    msteams::mm::User diego_mm;
    diego_mm.username = "diego";
    diego_mm.email = "diego.other@mattermost.example";
    REQUIRE(w.api->create_user(diego_mm, "pw").has_value());
    auto const made_diego = people->mm_user_for(
        TeamsProfile{TeamsUserId(k_diego), "Diego Siciliani", "diego@contoso.onmicrosoft.com", false, ""});
    REQUIRE(made_diego.has_value());
    auto diego = w.api->users.at((*made_diego)->str());
    CHECK(msteams::sync::promote_on_sign_in(*w.api, *w.repos.users, w.auth, diego).value());
    CHECK(w.api->users.at((*made_diego)->str()).username == "msteams_diego.sicilian");  // 22 characters at most

    CHECK(msteams::sync::username_from_email("Alex.Wilber@contoso.com") == "alex.wilber");
    CHECK(msteams::sync::username_from_email("a+b@contoso.com").empty());
    CHECK(msteams::sync::username_from_email("1abc@contoso.com").empty());
    CHECK(msteams::sync::username_from_email("ab@contoso.com").empty());
}
