// Who may connect (the allow list and the invite pool) and the connections' health in the report: sync::Logins over
// PostgreSQL (accounts, OAuth states, the roster), a sign-in fake and FakeApi.
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "common/clock.hpp"
#include "fakes/pipeline_world.hpp"
#include "store/pg_support.hpp"
#include "store/roster.hpp"
#include "sync/admission.hpp"
#include "sync/logins.hpp"

using msteams::ErrorCode;
using msteams::MmUserId;
using msteams::Result;
using msteams::graph::Me;
using msteams::graph::Token;
using msteams::store::TokenHealth;
using msteams::sync::Purpose;

namespace {

// Entra: each authorization code is one Microsoft account.
class SignIn final : public msteams::graph::SignIn {
public:
    std::string authorize_url(std::string const&, std::string const& state, std::string const&) const override {
        return "https://login.example/authorize?state=" + state;
    }
    Result<Token> redeem_code(std::string const& code, std::string const&, std::string const&) const override {
        return Token{"at:" + code, "rt:" + code, msteams::now_ms() + lifetime_ms, ""};
    }
    Result<Token> refresh(std::string const& refresh_token) const override {
        std::lock_guard lock(mutex);
        if (refresh_outcome != ErrorCode::internal) {
            return msteams::fail(refresh_outcome, "refresh failed");
        }
        return Token{"at2:" + refresh_token.substr(3), refresh_token, msteams::now_ms() + lifetime_ms, ""};
    }
    Result<Me> me(std::string const& access_token) const override {
        return accounts.at(access_token.substr(access_token.find(':') + 1));
    }
    std::map<std::string, Me> accounts;
    std::int64_t lifetime_ms = 3'600'000;
    mutable std::mutex mutex;
    ErrorCode refresh_outcome = ErrorCode::internal;  // internal: the refresh succeeds
};

MmUserId const k_alice("alice00000000000000000000a");
MmUserId const k_bob("bob0000000000000000000000b");
MmUserId const k_admin("admin000000000000000000000");

struct World {
    msteams::test::TempDatabase temp;
    std::shared_ptr<msteams::store::Database> db = temp.open_migrated();
    std::shared_ptr<msteams::store::Accounts> accounts = msteams::store::postgres_accounts(db);
    std::shared_ptr<msteams::store::Roster> roster = msteams::store::postgres_roster(db);
    std::shared_ptr<msteams::test::PipelineApi> api = std::make_shared<msteams::test::PipelineApi>();
    std::shared_ptr<SignIn> entra = std::make_shared<SignIn>();
    std::unique_ptr<msteams::sync::Logins> logins;
    std::set<std::string> changed;

    explicit World(msteams::sync::AdmissionSettings admission) {
        msteams::sync::LoginSettings settings;
        settings.site_url = "https://mm.example";
        settings.plugin_id = "com.mattermost.msteams";
        settings.bot_user_id = MmUserId("bot0000000000000000000000b");
        settings.connected_users_allowed = 10;
        logins = std::make_unique<msteams::sync::Logins>(
            settings, api, accounts, msteams::store::postgres_oauth_states(db), entra,
            std::make_shared<msteams::crypto::Sealer const>("a-test-key-of-enough-length-000000"));
        logins->set_rollout(std::make_shared<msteams::sync::Admission>(admission, api, roster), roster,
                            [this](MmUserId const& u) { changed.insert(u.str()); });
        api->add_user(k_alice, "alice");
        api->add_user(k_bob, "bob");
        entra->accounts["alice"] = Me{msteams::TeamsUserId("t-alice"), "Alice", "alice@example.com", ""};
        entra->accounts["bob"] = Me{msteams::TeamsUserId("t-bob"), "Bob", "bob@example.com", ""};
    }
    Result<msteams::sync::Connected> connect(MmUserId const& user, std::string const& code) {
        auto url = logins->begin(user, Purpose::user);
        if (!url) {
            return std::unexpected(url.error());
        }
        return logins->finish(url->substr(url->find("state=") + 6), code, user);
    }
    std::vector<msteams::store::ReportRow> report() { return roster->report_page(MmUserId(), 100).value(); }
};

}  // namespace

TEST_CASE("admission: the allow list refuses others at connect time, with what to do, and admits those on it", "[pg]") {
    CHECK(msteams::sync::parse_allow_list(" @Alice, bob;carol\n alice ") ==
          std::vector<std::string>{"alice", "bob", "carol"});
    World w(msteams::sync::AdmissionSettings{{"alice"}, 0});
    auto const refused = w.logins->begin(k_bob, Purpose::user);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::permission_denied);
    CHECK(refused.error().message.find("Ask a system admin to add you") != std::string::npos);
    CHECK(w.logins->refusal(k_bob).value().has_value());

    auto const ok = w.connect(k_alice, "alice");
    INFO((ok ? std::string() : ok.error().message));
    REQUIRE(ok.has_value());
    CHECK_FALSE(w.logins->refusal(k_alice).value().has_value());
    CHECK(w.changed.contains(k_alice.str()));  // cached decisions about Alice are forgotten
    auto const rows = w.report();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].health == TokenHealth::ok);
}

TEST_CASE("admission: a group on the allow list admits its members, and only them", "[pg]") {
    World w(msteams::sync::AdmissionSettings{msteams::sync::parse_allow_list("carol, @Developers"), 0});
    w.api->group_members["developers"].insert(k_bob.str());
    w.api->group_members["sales"].insert(k_alice.str());
    CHECK_FALSE(w.logins->refusal(k_bob).value().has_value());     // through the group
    auto const refused = w.logins->begin(k_alice, Purpose::user);  // in a group that is not listed
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::permission_denied);
    REQUIRE(w.connect(k_bob, "bob").has_value());

    // Leaving the group closes the door to new connections; the connection made stays.
    w.api->group_members["developers"].erase(k_bob.str());
    CHECK(w.logins->refusal(k_bob).value().has_value());
    CHECK(w.accounts->by_mm_user(k_bob).value()->connected());
}

TEST_CASE("admission: the invite pool admits the invited only, also when an invite is taken back mid sign-in", "[pg]") {
    World w(msteams::sync::AdmissionSettings{{}, 1});
    auto const refused = w.logins->begin(k_alice, Purpose::user);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message.find("/msteams invite") != std::string::npos);

    REQUIRE(w.roster->invite(k_alice, k_admin, 1, 1).value() == msteams::store::InviteOutcome::invited);
    CHECK(w.roster->invite(k_bob, k_admin, 1, 2).value() == msteams::store::InviteOutcome::pool_full);
    REQUIRE(w.connect(k_alice, "alice").has_value());

    // Bob is invited, starts signing in, and the invitation is taken back before he finishes: refused at the end.
    REQUIRE(w.roster->uninvite(k_alice).value());
    REQUIRE(w.roster->invite(k_bob, k_admin, 1, 3).value() == msteams::store::InviteOutcome::invited);
    auto const url = w.logins->begin(k_bob, Purpose::user);
    REQUIRE(url.has_value());
    REQUIRE(w.roster->uninvite(k_bob).value());
    auto const late = w.logins->finish(url->substr(url->find("state=") + 6), "bob", k_bob);
    REQUIRE_FALSE(late);
    CHECK(late.error().code == ErrorCode::permission_denied);
    CHECK_FALSE(w.accounts->by_mm_user(k_bob).value().has_value());
    // Alice, connected before her invitation was taken back, stays connected.
    CHECK(w.accounts->by_mm_user(k_alice).value()->connected());
}

TEST_CASE("admission: a failed refresh and a lost connection show in the report's token health, use as activity",
          "[pg]") {
    World w(msteams::sync::AdmissionSettings{});
    w.entra->lifetime_ms = 60'000;  // inside the refresh margin: every use refreshes
    REQUIRE(w.connect(k_alice, "alice").has_value());
    CHECK(w.report()[0].last_active_at == 0);

    w.entra->refresh_outcome = ErrorCode::unavailable;  // Entra down: may pass
    CHECK_FALSE(w.logins->access_token(k_alice).has_value());
    CHECK(w.report()[0].health == TokenHealth::refresh_failed);

    w.entra->refresh_outcome = ErrorCode::internal;  // works again
    REQUIRE(w.logins->access_token(k_alice).has_value());
    CHECK(w.report()[0].health == TokenHealth::ok);
    CHECK(w.report()[0].last_active_at > 0);

    w.entra->refresh_outcome = ErrorCode::permission_denied;  // refused for good: disconnected, told
    auto const token = w.logins->access_token(k_alice);
    REQUIRE_FALSE(token);
    CHECK_FALSE(w.accounts->by_mm_user(k_alice).value()->connected());
    auto const rows = w.report();  // still listed: the user has to connect again
    REQUIRE(rows.size() == 1);
    CHECK_FALSE(rows[0].connected);
    CHECK(rows[0].health == TokenHealth::needs_reconnect);
}
