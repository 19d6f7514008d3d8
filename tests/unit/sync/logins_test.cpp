// Connecting, refreshing and losing Teams connections, without network or PostgreSQL: sync::Logins over a sign-in
// fake, the in-memory store, a real sealer and FakeApi.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "common/clock.hpp"
#include "fakes/memory_store.hpp"
#include "fakes/pipeline_world.hpp"
#include "sync/logins.hpp"

using msteams::ErrorCode;
using msteams::Result;
using msteams::graph::Me;
using msteams::graph::Token;
using msteams::sync::Logins;
using msteams::sync::Purpose;

namespace {

// Entra as Logins sees it: each authorization code is one Microsoft account; tokens last `lifetime_ms`.
class FakeSignIn final : public msteams::graph::SignIn {
public:
    std::string authorize_url(std::string const&, std::string const& state, std::string const&) const override {
        return "https://login.example/authorize?state=" + state;
    }
    Result<Token> redeem_code(std::string const& code, std::string const&, std::string const& verifier) const override {
        std::lock_guard lock(mutex);
        if (!accounts.contains(code) || verifier.empty()) {
            return msteams::fail(ErrorCode::permission_denied, "invalid_grant");
        }
        return issue(code);
    }
    Result<Token> refresh(std::string const& refresh_token) const override {
        std::lock_guard lock(mutex);
        ++refreshes;
        if (refused.contains(refresh_token)) {
            return msteams::fail(ErrorCode::permission_denied, "invalid_grant: AADSTS70000");
        }
        auto const code = refresh_token.substr(refresh_token.find(':') + 1);
        return issue(code);
    }
    Result<Me> me(std::string const& access_token) const override {
        std::lock_guard lock(mutex);
        auto const code = access_token.substr(access_token.find(':') + 1);
        if (!accounts.contains(code)) {
            return msteams::fail(ErrorCode::unauthenticated, "401");
        }
        return accounts.at(code);
    }

    Token issue(std::string const& code) const {
        ++issued;
        return Token{"at" + std::to_string(issued) + ":" + code, "rt" + std::to_string(issued) + ":" + code,
                     msteams::now_ms() + lifetime_ms, ""};
    }

    mutable std::mutex mutex;
    std::map<std::string, Me> accounts;  // by authorization code
    std::set<std::string> refused;       // refresh tokens Entra refuses
    std::int64_t lifetime_ms = 60 * 60'000;
    mutable int issued = 0;
    mutable int refreshes = 0;
};

msteams::MmUserId const k_alice("alice00000000000000000000a");
msteams::MmUserId const k_mallory("mallory0000000000000000000");
msteams::MmUserId const k_bot("bot0000000000000000000000b");

struct World {
    msteams::test::MemoryStore store;
    std::shared_ptr<msteams::test::PipelineApi> api = std::make_shared<msteams::test::PipelineApi>();
    std::shared_ptr<FakeSignIn> entra = std::make_shared<FakeSignIn>();
    std::shared_ptr<msteams::crypto::Sealer const> sealer =
        std::make_shared<msteams::crypto::Sealer const>("a-test-key-of-enough-length-000000");
    std::unique_ptr<Logins> logins;

    explicit World(int limit = 10) {
        msteams::sync::LoginSettings settings;
        settings.site_url = "https://mm.example";
        settings.plugin_id = "com.mattermost.msteams";
        settings.bot_user_id = k_bot;
        settings.connected_users_allowed = limit;
        logins = std::make_unique<Logins>(settings, api, store.repos.accounts, store.repos.oauth_states, entra, sealer);
        add_user(k_alice, "alice@example.com");
        add_user(k_mallory, "mallory@example.com");
        entra->accounts["code-alice"] =
            Me{msteams::TeamsUserId("t-alice"), "Alice Teams", "Alice@Example.com", "alice@example.com"};
        entra->accounts["code-mallory"] =
            Me{msteams::TeamsUserId("t-mallory"), "Mallory", "mallory@example.com", "mallory@example.com"};
    }
    void add_user(msteams::MmUserId const& id, std::string const& email) {
        msteams::mm::User u;
        u.id = id;
        u.username = id.str().substr(0, 5);
        u.email = email;
        api->users[id.str()] = u;
    }
    // The state in the URL begin() returns.
    std::string begin(msteams::MmUserId const& user) {
        auto const url = logins->begin(user, Purpose::user);
        INFO((url ? std::string() : url.error().message));
        REQUIRE(url.has_value());
        return url->substr(url->find("state=") + 6);
    }
};

}  // namespace

TEST_CASE("logins: a sign-in connects the user once, and its link cannot be replayed or spent in another session",
          "[sync]") {
    World w;
    auto const state = w.begin(k_alice);
    // Mallory's browser cannot spend Alice's flow, and it stays for her.
    auto const stolen = w.logins->finish(state, "code-mallory", k_mallory);
    REQUIRE_FALSE(stolen);
    CHECK(stolen.error().code == ErrorCode::permission_denied);

    auto const connected = w.logins->finish(state, "code-alice", k_alice);
    INFO((connected ? std::string() : connected.error().message));
    REQUIRE(connected.has_value());
    CHECK(connected->teams_user_id.str() == "t-alice");
    auto const account = w.logins->account(k_alice).value();
    REQUIRE(account);
    CHECK(account->connected());
    CHECK(w.logins->count_connected().value() == 1);

    auto const replay = w.logins->finish(state, "code-alice", k_alice);
    REQUIRE_FALSE(replay);
    CHECK(replay.error().message.find("not valid or was already used") != std::string::npos);
    // Connected already: a new flow is refused with what to do.
    auto const again = w.logins->begin(k_alice, Purpose::user);
    REQUIRE_FALSE(again);
    CHECK(again.error().code == ErrorCode::conflict);
}

TEST_CASE("logins: a Microsoft account with another email is refused and nothing is stored", "[sync]") {
    World w;
    auto const state = w.begin(k_alice);
    auto const other = w.logins->finish(state, "code-mallory", k_alice);
    REQUIRE_FALSE(other);
    CHECK(other.error().code == ErrorCode::permission_denied);
    CHECK(other.error().message.find("mallory@example.com") != std::string::npos);
    CHECK_FALSE(w.logins->account(k_alice).value().has_value());
}

TEST_CASE("logins: one Teams account belongs to one Mattermost user, and the limit of connected users holds",
          "[sync]") {
    World w(1);
    REQUIRE(w.logins->finish(w.begin(k_alice), "code-alice", k_alice).has_value());
    // The limit: Mallory cannot even start.
    auto const full = w.logins->begin(k_mallory, Purpose::user);
    REQUIRE_FALSE(full);
    CHECK(full.error().code == ErrorCode::permission_denied);
    CHECK(full.error().message.find("limit") != std::string::npos);

    World two(5);
    REQUIRE(two.logins->finish(two.begin(k_alice), "code-alice", k_alice).has_value());
    // Mallory's Mattermost email is Alice's, so the same-email rule lets her sign in as Alice Teams: the Teams
    // account is connected to Alice already.
    two.add_user(k_mallory, "alice@example.com");
    auto const taken = two.logins->finish(two.begin(k_mallory), "code-alice", k_mallory);
    REQUIRE_FALSE(taken);
    CHECK(taken.error().code == ErrorCode::conflict);
}

TEST_CASE("logins: a token close to expiry is refreshed once and the rotated refresh token is kept", "[sync]") {
    World w;
    w.entra->lifetime_ms = 60'000;  // inside the refresh margin (2 minutes)
    REQUIRE(w.logins->finish(w.begin(k_alice), "code-alice", k_alice).has_value());
    w.entra->lifetime_ms = 60 * 60'000;
    auto const first = w.logins->access_token(k_alice);
    REQUIRE(first.has_value());
    CHECK(w.entra->refreshes == 1);
    auto const second = w.logins->access_token(k_alice);
    REQUIRE(second.has_value());
    CHECK(*second == *first);  // the refreshed token lasts: no refresh this time
    CHECK(w.entra->refreshes == 1);
    // Stored sealed, bound to the user: not readable, and not openable as anyone else's.
    auto const sealed = w.logins->account(k_alice).value()->token_sealed;
    CHECK(sealed.find(*first) == std::string::npos);
    CHECK_FALSE(w.sealer->open(sealed, k_mallory.str()).has_value());
    CHECK(w.sealer->open(sealed, k_alice.str()).value().find("rt2:code-alice") != std::string::npos);
}

TEST_CASE("logins: a refused refresh disconnects the user and tells them how to connect again", "[sync]") {
    World w;
    w.entra->lifetime_ms = 60'000;
    REQUIRE(w.logins->finish(w.begin(k_alice), "code-alice", k_alice).has_value());
    w.entra->refused.insert("rt1:code-alice");
    auto const token = w.logins->access_token(k_alice);
    REQUIRE_FALSE(token);
    CHECK(token.error().code == ErrorCode::permission_denied);
    CHECK_FALSE(w.logins->account(k_alice).value()->connected());
    std::lock_guard lock(w.api->mutex);
    REQUIRE(w.api->post_order.size() == 1);
    auto const& dm = w.api->posts[w.api->post_order[0]];
    CHECK(dm.user_id == k_bot);
    CHECK(dm.message.find("/msteams connect") != std::string::npos);
    CHECK(dm.message.find("https://mm.example/plugins/com.mattermost.msteams/connect") != std::string::npos);
}
