// The rollout sub-commands over PostgreSQL (choices, invites, accounts): primary, notifications, invite, uninvite,
// connected-users, and what connect and status add.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "commands/account_commands.hpp"
#include "commands/commands.hpp"
#include "commands/rollout_commands.hpp"
#include "fakes/pipeline_world.hpp"
#include "store/pg_support.hpp"

using msteams::MmUserId;
using msteams::commands::Dispatcher;

namespace {

MmUserId const k_alice("alice00000000000000000000a");
MmUserId const k_bob("bob0000000000000000000000b");
MmUserId const k_admin("admin000000000000000000000");
MmUserId const k_bot("bot0000000000000000000000b");

class NoSignIn final : public msteams::graph::SignIn {
public:
    std::string authorize_url(std::string const&, std::string const&, std::string const&) const override { return ""; }
    msteams::Result<msteams::graph::Token> redeem_code(std::string const&, std::string const&,
                                                       std::string const&) const override {
        return msteams::fail(msteams::ErrorCode::unavailable, "no sign-in in this test");
    }
    msteams::Result<msteams::graph::Token> refresh(std::string const&) const override {
        return msteams::fail(msteams::ErrorCode::unavailable, "no sign-in in this test");
    }
    msteams::Result<msteams::graph::Me> me(std::string const&) const override {
        return msteams::fail(msteams::ErrorCode::unavailable, "no sign-in in this test");
    }
};

struct World {
    msteams::test::TempDatabase temp;
    std::shared_ptr<msteams::store::Database> db = temp.open_migrated();
    msteams::store::Repositories repos = msteams::store::postgres_repositories(db);
    std::shared_ptr<msteams::store::Roster> roster = msteams::store::postgres_roster(db);
    std::shared_ptr<msteams::test::PipelineApi> api = std::make_shared<msteams::test::PipelineApi>();
    std::shared_ptr<msteams::metrics::Counters> stats = std::make_shared<msteams::metrics::Counters>();
    std::shared_ptr<msteams::crypto::Sealer const> sealer =
        std::make_shared<msteams::crypto::Sealer const>("a-test-key-of-enough-length-000000");
    std::shared_ptr<msteams::sync::Logins> logins;
    std::shared_ptr<msteams::commands::RolloutContext const> ctx;
    Dispatcher dispatcher{*api};

    World(bool selective, msteams::sync::AdmissionSettings admission) {
        api->add_user(k_alice, "alice");
        api->add_user(k_bob, "bob");
        api->add_user(k_admin, "admin");
        api->admins.insert(k_admin.str());
        msteams::sync::LoginSettings settings{"https://mm.example", "com.mattermost.msteams", k_bot, 10};
        logins = std::make_shared<msteams::sync::Logins>(settings, api, repos.accounts, repos.oauth_states,
                                                         std::make_shared<NoSignIn>(), sealer);
        auto people = std::make_shared<msteams::sync::People>(
            api, repos, msteams::sync::PeopleSettings{},
            [](std::string const&) -> msteams::Result<msteams::sync::TeamsProfile> {
                return msteams::fail(msteams::ErrorCode::not_found, "no profiles in this test");
            },
            stats);
        msteams::sync::AudienceSettings audience;
        audience.selective_sync = selective;
        ctx = std::make_shared<msteams::commands::RolloutContext const>(msteams::commands::RolloutContext{
            repos, roster, std::make_shared<msteams::sync::Audience>(audience, repos, roster, people, nullptr),
            std::make_shared<msteams::sync::Admission>(admission, api, roster), k_bot,
            "https://mm.example/plugins/com.mattermost.msteams/admin/connected-users.csv", 10});
        msteams::commands::add_account_commands(dispatcher, [l = logins] { return l; });
        msteams::commands::add_rollout_commands(dispatcher, *api, [c = ctx] { return c; });
    }
    std::string run(MmUserId const& user, std::string const& command, msteams::MmChannelId channel = {}) {
        msteams::mm::CommandArgs a;
        a.user_id = user;
        a.channel_id = channel;
        a.command = command;
        return dispatcher.execute(a).text;
    }
    void connect(MmUserId const& user, char teams) {
        msteams::store::Account a;
        a.mm_user_id = user;
        a.teams_user_id = msteams::TeamsUserId("00000000-0000-0000-0000-00000000000" + std::string(1, teams));
        // A token that opens and lasts (status checks it with Teams, which this test cannot reach).
        nlohmann::json const token{{"a", "access"}, {"r", "refresh"}, {"e", msteams::now_ms() + 3'600'000}};
        a.token_sealed = sealer->seal(token.dump(), user.str());
        REQUIRE(repos.accounts->connect(a, 10).has_value());
    }
};

}  // namespace

TEST_CASE("rollout commands: primary and notifications show and store each user's choice", "[pg]") {
    World w(true, {});
    CHECK_THAT(w.run(k_alice, "/msteams primary"), Catch::Contains("Your primary platform is Mattermost"));
    CHECK_THAT(w.run(k_alice, "/msteams primary teams"), Catch::Contains("now Microsoft Teams"));
    CHECK_THAT(w.run(k_alice, "/msteams primary"), Catch::Contains("Your primary platform is Microsoft Teams"));
    CHECK_THAT(w.run(k_alice, "/msteams primary slack"), Catch::Contains("Usage"));
    CHECK_THAT(w.run(k_alice, "/msteams notifications"), Catch::Contains("Notifications only is off"));
    CHECK_THAT(w.run(k_alice, "/msteams notifications on"), Catch::Contains("Notifications only is on"));
    CHECK_THAT(w.run(k_alice, "/msteams notifications maybe"), Catch::Contains("Usage"));
    auto const stored = w.roster->choices({k_alice, k_bob}).value();
    REQUIRE(stored.size() == 1);
    CHECK(stored[0].primary == msteams::store::Platform::teams);
    CHECK(stored[0].notifications);

    World off(false, {});
    CHECK_THAT(off.run(k_alice, "/msteams primary teams"), Catch::Contains("Selective sync is off"));
}

TEST_CASE("rollout commands: status in a DM says whether that chat is bridged and why", "[pg]") {
    World w(true, {});
    w.connect(k_alice, 'a');
    w.connect(k_bob, 'b');
    auto const dm = w.api->get_direct_channel(k_alice, k_bob).value().id;
    CHECK_THAT(w.run(k_alice, "/msteams status", dm), Catch::Contains("This chat is bridged"));
    w.run(k_alice, "/msteams primary teams");
    w.run(k_bob, "/msteams primary teams");
    CHECK_THAT(w.run(k_alice, "/msteams status", dm),
               Catch::Contains("**This chat:** Selective sync is on and everyone in this chat uses Microsoft Teams"));
    // Elsewhere: nothing about a chat.
    CHECK_THAT(w.run(k_alice, "/msteams status"), !Catch::Contains("This chat"));
}

TEST_CASE("rollout commands: invite fills the pool, tells the invited user, and connect refuses the uninvited",
          "[pg]") {
    World w(false, msteams::sync::AdmissionSettings{{}, 1});
    CHECK_THAT(w.run(k_bob, "/msteams connect"), Catch::Contains("by invitation"));
    CHECK_THAT(w.run(k_alice, "/msteams invite @bob"), Catch::Contains("for system admins only"));
    CHECK_THAT(w.run(k_admin, "/msteams invite @bob"), Catch::Contains("@bob is invited"));
    CHECK_THAT(w.run(k_admin, "/msteams invite @bob"), Catch::Contains("invited already"));
    CHECK_THAT(w.run(k_admin, "/msteams invite @alice"), Catch::Contains("The invite pool is full (1 invited)"));
    CHECK_THAT(w.run(k_admin, "/msteams invite @nobody"), Catch::Contains("There is no user @nobody"));
    auto const dm = w.api->get_direct_channel(k_bot, k_bob).value().id;
    auto const told = w.api->posts_in(dm);
    REQUIRE(told.size() == 1);
    CHECK_THAT(told[0].message, Catch::Contains("/msteams connect"));
    // Invited: the refusal is gone (the plain connect reply follows).
    CHECK_THAT(w.run(k_bob, "/msteams connect"), !Catch::Contains("by invitation"));
    CHECK_THAT(w.run(k_admin, "/msteams uninvite @bob"), Catch::Contains("no longer invited"));
    CHECK_THAT(w.run(k_bob, "/msteams connect"), Catch::Contains("by invitation"));

    World open(false, {});
    CHECK_THAT(open.run(k_admin, "/msteams invite @bob"), Catch::Contains("The invite pool is off"));
}

TEST_CASE("rollout commands: connected-users gives admins the report's link, and autocomplete lists the new ones",
          "[pg]") {
    World w(false, {});
    w.connect(k_alice, 'a');
    CHECK_THAT(w.run(k_admin, "/msteams connected-users"),
               Catch::Contains("1 users are connected") &&
                   Catch::Contains("(https://mm.example/plugins/com.mattermost.msteams/admin/connected-users.csv)"));
    CHECK_THAT(w.run(k_alice, "/msteams connected-users"), Catch::Contains("for system admins only"));
    auto const data = nlohmann::json::parse(w.dispatcher.registration("").autocomplete_data_json);
    std::set<std::string> triggers;
    for (auto const& s : data["SubCommands"]) {
        triggers.insert(s["Trigger"].get<std::string>());
    }
    for (auto const* t : {"primary", "notifications", "invite", "uninvite", "connected-users"}) {
        CHECK(triggers.contains(t));
    }
}
