#include <catch2/catch.hpp>

#include <atomic>
#include <barrier>
#include <string>
#include <thread>
#include <vector>

#include "test_ids.hpp"
#include "pg_support.hpp"
#include "store/accounts.hpp"

using msteams::ErrorCode;
using msteams::Status;
using msteams::store::Account;
using msteams::store::Accounts;
using msteams::store::OAuthState;
using msteams::store::OAuthStates;
using msteams::test::TempDatabase;

namespace {

Account account(std::string const& mm, std::string const& teams, std::string const& token = "sealed-token") {
    Account a;
    a.mm_user_id = msteams::MmUserId(mm);
    a.teams_user_id = msteams::TeamsUserId(teams);
    a.teams_email = teams + "@contoso.example";
    a.teams_display_name = "User " + teams;
    a.token_sealed = token;
    a.connected_at = 1'700'000'000'000;
    return a;
}

void must(Status const& s) {
    INFO((s ? std::string("ok") : s.error().message));
    REQUIRE(s.has_value());
}

ErrorCode error_of(Status const& s) {
    REQUIRE_FALSE(s.has_value());
    return s.error().code;
}

Account must_find(Accounts& accounts, std::string const& mm) {
    auto const found = accounts.by_mm_user(msteams::MmUserId(mm));
    REQUIRE(found.has_value());
    REQUIRE(found->has_value());
    return **found;
}

int connected(Accounts& accounts) {
    auto const n = accounts.count_connected();
    REQUIRE(n.has_value());
    return *n;
}

OAuthState oauth_state(std::string const& state, std::int64_t expires_at, std::string const& purpose = "user") {
    return OAuthState{state, msteams::MmUserId("mm-user"), "sealed-verifier", purpose, expires_at};
}

}  // namespace

TEST_CASE("store: accounts connect, are found both ways, refresh and disconnect", "[pg]") {
    TempDatabase temp;
    auto const accounts_owner = msteams::store::postgres_accounts(temp.open_migrated());
    Accounts& accounts = *accounts_owner;

    auto const missing = accounts.by_mm_user(msteams::MmUserId("mm-a"));
    REQUIRE(missing.has_value());
    CHECK_FALSE(missing->has_value());
    CHECK(connected(accounts) == 0);

    must(accounts.connect(account("mm-a", "teams-a"), 10));
    auto a = must_find(accounts, "mm-a");
    CHECK(a.teams_user_id == "teams-a");
    CHECK(a.teams_email == "teams-a@contoso.example");
    CHECK(a.teams_display_name == "User teams-a");
    CHECK(a.token_sealed == "sealed-token");
    CHECK(a.connected_at == 1'700'000'000'000);
    CHECK(a.disconnected_at == 0);
    CHECK(a.connected());
    auto const by_teams = accounts.by_teams_user(msteams::TeamsUserId("teams-a"));
    REQUIRE(by_teams.has_value());
    REQUIRE(by_teams->has_value());
    CHECK((*by_teams)->mm_user_id == "mm-a");
    CHECK(connected(accounts) == 1);

    must(accounts.update_token(msteams::MmUserId("mm-a"), "rotated"));
    CHECK(must_find(accounts, "mm-a").token_sealed == "rotated");
    CHECK(error_of(accounts.update_token(msteams::MmUserId("mm-nobody"), "x")) == ErrorCode::not_found);
    CHECK(error_of(accounts.update_token(msteams::MmUserId("mm-a"), "")) == ErrorCode::invalid_argument);

    must(accounts.disconnect(msteams::MmUserId("mm-a")));
    a = must_find(accounts, "mm-a");  // the mapping stays
    CHECK_FALSE(a.connected());
    CHECK(a.token_sealed.empty());
    CHECK(a.teams_user_id == "teams-a");
    CHECK(a.disconnected_at > 1'700'000'000'000);
    CHECK(connected(accounts) == 0);
    auto const first_disconnect = a.disconnected_at;
    must(accounts.disconnect(msteams::MmUserId("mm-a")));  // again: harmless, keeps the first time
    CHECK(must_find(accounts, "mm-a").disconnected_at == first_disconnect);
    CHECK(error_of(accounts.disconnect(msteams::MmUserId("mm-nobody"))) == ErrorCode::not_found);

    // A refresh finishing after the disconnect does not connect the user again.
    CHECK(error_of(accounts.update_token(msteams::MmUserId("mm-a"), "late-refresh")) == ErrorCode::not_found);
    CHECK_FALSE(must_find(accounts, "mm-a").connected());

    // Reconnecting keeps the history of the last disconnection.
    must(accounts.connect(account("mm-a", "teams-a", "new-token"), 10));
    a = must_find(accounts, "mm-a");
    CHECK(a.token_sealed == "new-token");
    CHECK(a.disconnected_at == first_disconnect);
    CHECK(connected(accounts) == 1);
}

TEST_CASE("store: connect refuses incomplete accounts", "[pg]") {
    TempDatabase temp;
    auto const accounts_owner = msteams::store::postgres_accounts(temp.open_migrated());
    Accounts& accounts = *accounts_owner;
    CHECK(error_of(accounts.connect(account("", "teams-a"), 10)) == ErrorCode::invalid_argument);
    CHECK(error_of(accounts.connect(account("mm-a", ""), 10)) == ErrorCode::invalid_argument);
    CHECK(error_of(accounts.connect(account("mm-a", "teams-a", ""), 10)) == ErrorCode::invalid_argument);
    CHECK(connected(accounts) == 0);
}

TEST_CASE("store: the connected-users limit counts connected users only", "[pg]") {
    TempDatabase temp;
    auto const accounts_owner = msteams::store::postgres_accounts(temp.open_migrated());
    Accounts& accounts = *accounts_owner;
    must(accounts.connect(account("mm-a", "teams-a"), 2));
    must(accounts.connect(account("mm-b", "teams-b"), 2));
    auto const refused = accounts.connect(account("mm-c", "teams-c"), 2);
    CHECK(error_of(refused) == ErrorCode::permission_denied);
    CHECK_FALSE(accounts.by_mm_user(msteams::MmUserId("mm-c"))->has_value());
    // An already connected user may reconnect (a new token) at the limit.
    must(accounts.connect(account("mm-a", "teams-a", "again"), 2));
    CHECK(must_find(accounts, "mm-a").token_sealed == "again");
    // A disconnection frees a place.
    must(accounts.disconnect(msteams::MmUserId("mm-b")));
    must(accounts.connect(account("mm-c", "teams-c"), 2));
    CHECK(connected(accounts) == 2);
    CHECK(error_of(accounts.connect(account("mm-d", "teams-d"), 0)) == ErrorCode::permission_denied);
}

TEST_CASE("store: concurrent connects never pass the limit", "[pg]") {
    TempDatabase temp;
    constexpr int k_threads = 8;
    constexpr int k_limit = 3;
    auto db = temp.open_migrated(k_threads);
    auto const accounts_owner = msteams::store::postgres_accounts(db);
    Accounts& accounts = *accounts_owner;
    std::barrier start(k_threads);
    std::atomic<int> ok{0};
    std::atomic<int> denied{0};
    std::atomic<int> other{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < k_threads; ++i) {
        threads.emplace_back([&, i] {
            auto const mine_owner = msteams::store::postgres_accounts(db);
            Accounts& mine = *mine_owner;
            start.arrive_and_wait();
            auto const s = mine.connect(account("mm-" + std::to_string(i), "teams-" + std::to_string(i)), k_limit);
            if (s) {
                ++ok;
            } else if (s.error().code == ErrorCode::permission_denied) {
                ++denied;
            } else {
                ++other;
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    CHECK(ok == k_limit);
    CHECK(denied == k_threads - k_limit);
    CHECK(other == 0);
    CHECK(connected(accounts) == k_limit);
}

TEST_CASE("store: a Teams account connected elsewhere is a conflict — a disconnected one is taken over", "[pg]") {
    TempDatabase temp;
    auto const accounts_owner = msteams::store::postgres_accounts(temp.open_migrated());
    Accounts& accounts = *accounts_owner;
    must(accounts.connect(account("mm-a", "teams-x"), 10));

    auto const taken = accounts.connect(account("mm-b", "teams-x"), 10);
    CHECK(error_of(taken) == ErrorCode::conflict);
    CHECK(must_find(accounts, "mm-a").connected());
    CHECK_FALSE(accounts.by_mm_user(msteams::MmUserId("mm-b"))->has_value());

    must(accounts.disconnect(msteams::MmUserId("mm-a")));
    must(accounts.connect(account("mm-b", "teams-x", "b-token"), 10));
    auto const owner = accounts.by_teams_user(msteams::TeamsUserId("teams-x"));
    REQUIRE(owner.has_value());
    REQUIRE(owner->has_value());
    CHECK((*owner)->mm_user_id == "mm-b");
    CHECK((*owner)->token_sealed == "b-token");
    CHECK_FALSE(accounts.by_mm_user(msteams::MmUserId("mm-a"))->has_value());
    CHECK(connected(accounts) == 1);

    // A user may switch to another Teams account.
    must(accounts.connect(account("mm-b", "teams-y"), 10));
    CHECK(must_find(accounts, "mm-b").teams_user_id == "teams-y");
    CHECK_FALSE(accounts.by_teams_user(msteams::TeamsUserId("teams-x"))->has_value());
}

TEST_CASE("store: OAuth states are single-use, returned even when expired, and purged", "[pg]") {
    TempDatabase temp;
    auto const states_owner = msteams::store::postgres_oauth_states(temp.open_migrated());
    OAuthStates& states = *states_owner;

    must(states.put(oauth_state("s1", 1000)));
    must(states.put(oauth_state("s2", 5000, "bot")));
    must(states.put(oauth_state("s3", 9000)));
    CHECK(error_of(states.put(oauth_state("s1", 1))) == ErrorCode::conflict);
    CHECK(error_of(states.put(oauth_state("s4", 1, "admin"))) == ErrorCode::invalid_argument);
    CHECK(error_of(states.put(oauth_state("", 1))) == ErrorCode::invalid_argument);

    auto const taken = states.take("s2", msteams::MmUserId("mm-user"));
    REQUIRE(taken.has_value());
    CHECK(taken->state == "s2");
    CHECK(taken->mm_user_id == "mm-user");
    CHECK(taken->verifier_sealed == "sealed-verifier");
    CHECK(taken->purpose == "bot");
    CHECK(taken->expires_at == 5000);
    auto const again = states.take("s2", msteams::MmUserId("mm-user"));
    REQUIRE_FALSE(again.has_value());
    CHECK(again.error().code == ErrorCode::not_found);
    CHECK(states.take("never", msteams::MmUserId("mm-user")).error().code == ErrorCode::not_found);

    // Expiry is the caller's call: an expired state still comes back once.
    auto const expired = states.take("s1", msteams::MmUserId("mm-user"));
    REQUIRE(expired.has_value());
    CHECK(expired->expires_at == 1000);

    must(states.put(oauth_state("s5", 2000)));
    auto const purged = states.purge_expired(6000);
    REQUIRE(purged.has_value());
    CHECK(*purged == 1);  // s5; s3 (9000) stays
    CHECK(states.take("s5", msteams::MmUserId("mm-user")).error().code == ErrorCode::not_found);
    CHECK(states.take("s3", msteams::MmUserId("mm-user")).has_value());
    CHECK(states.purge_expired(1'000'000).value_or(-1) == 0);
}

TEST_CASE("store: only the user who started an OAuth flow can spend its state — others leave it intact", "[pg]") {
    TempDatabase temp;
    auto const states_owner = msteams::store::postgres_oauth_states(temp.open_migrated());
    OAuthStates& states = *states_owner;
    must(states.put(oauth_state("mine", 9000)));  // started by mm-user
    // Another user's redirect (a cancel or a code): refused, and the state is not consumed.
    auto const stolen = states.take("mine", msteams::MmUserId("mm-other"));
    REQUIRE_FALSE(stolen.has_value());
    CHECK(stolen.error().code == ErrorCode::permission_denied);
    CHECK(states.take("mine", msteams::MmUserId("mm-other")).error().code == ErrorCode::permission_denied);
    CHECK(states.take("unknown", msteams::MmUserId("mm-other")).error().code == ErrorCode::not_found);
    // The owner still finishes the flow, once.
    auto const own = states.take("mine", msteams::MmUserId("mm-user"));
    REQUIRE(own.has_value());
    CHECK(own->mm_user_id == "mm-user");
    CHECK(states.take("mine", msteams::MmUserId("mm-user")).error().code == ErrorCode::not_found);
    CHECK(states.take("mine", msteams::MmUserId("mm-other")).error().code == ErrorCode::not_found);
}

TEST_CASE("store: two concurrent takes of one OAuth state: exactly one wins", "[pg]") {
    TempDatabase temp;
    auto db = temp.open_migrated(4);
    for (int round = 0; round < 10; ++round) {
        std::string const state = "race-" + std::to_string(round);
        REQUIRE(msteams::store::postgres_oauth_states(db)->put(oauth_state(state, 1)).has_value());
        std::barrier start(2);
        std::atomic<int> won{0};
        std::atomic<int> not_found{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 2; ++t) {
            threads.emplace_back([&] {
                auto const mine_owner = msteams::store::postgres_oauth_states(db);
                OAuthStates& mine = *mine_owner;
                start.arrive_and_wait();
                auto const r = mine.take(state, msteams::MmUserId("mm-user"));
                if (r) {
                    ++won;
                } else if (r.error().code == ErrorCode::not_found) {
                    ++not_found;
                }
            });
        }
        for (auto& thread : threads) {
            thread.join();
        }
        CHECK(won == 1);
        CHECK(not_found == 1);
    }
}
