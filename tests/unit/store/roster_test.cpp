// The rollout tables (migration 012) on PostgreSQL: each user's choices, the invite pool, and the connected-users
// report's health and activity.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "store/accounts.hpp"
#include "store/pg_support.hpp"
#include "store/roster.hpp"

using msteams::MmUserId;
using msteams::TeamsUserId;
using msteams::store::InviteOutcome;
using msteams::store::Platform;
using msteams::store::TokenHealth;

namespace {

MmUserId user(char c) { return MmUserId(std::string(25, 'u') + c); }

msteams::store::Account account(char c) {
    msteams::store::Account a;
    a.mm_user_id = user(c);
    a.teams_user_id = TeamsUserId("00000000-0000-0000-0000-00000000000" + std::string(1, c));
    a.teams_email = std::string(1, c) + "@example.com";
    a.teams_display_name = "User " + std::string(1, c);
    a.token_sealed = "sealed";
    a.connected_at = 1000;
    return a;
}

}  // namespace

TEST_CASE("roster: a user's choices start at the defaults and each is kept apart from the other", "[pg]") {
    msteams::test::TempDatabase temp;
    auto roster = msteams::store::postgres_roster(temp.open_migrated());
    CHECK(roster->choices({user('a'), user('b')}).value().empty());  // nobody chose: the defaults

    REQUIRE(roster->set_primary(user('a'), Platform::teams, 10).has_value());
    REQUIRE(roster->set_notifications(user('b'), true, 11).has_value());
    REQUIRE(roster->set_notifications(user('a'), true, 12).has_value());
    REQUIRE(roster->set_notifications(user('a'), false, 13).has_value());

    auto const got = roster->choices({user('a'), user('b'), user('c')}).value();
    REQUIRE(got.size() == 2);
    for (auto const& c : got) {
        if (c.mm_user_id == user('a')) {
            CHECK(c.primary == Platform::teams);  // setting notifications kept the primary platform
            CHECK_FALSE(c.notifications);
            CHECK(c.updated_at == 13);
        } else {
            CHECK(c.mm_user_id == user('b'));
            CHECK(c.primary == Platform::mattermost);
            CHECK(c.notifications);
        }
    }
}

TEST_CASE("roster: the invite pool admits up to its size, once per user, and a taken-back seat is free again", "[pg]") {
    msteams::test::TempDatabase temp;
    auto roster = msteams::store::postgres_roster(temp.open_migrated());
    MmUserId const admin("admin000000000000000000000");
    CHECK(roster->invite(user('a'), admin, 2, 1).value() == InviteOutcome::invited);
    CHECK(roster->invite(user('a'), admin, 2, 2).value() == InviteOutcome::already_invited);
    CHECK(roster->invite(user('b'), admin, 2, 3).value() == InviteOutcome::invited);
    CHECK(roster->invite(user('c'), admin, 2, 4).value() == InviteOutcome::pool_full);
    CHECK(roster->invite_count().value() == 2);
    CHECK(roster->invited(user('b')).value());
    CHECK_FALSE(roster->invited(user('c')).value());

    CHECK(roster->uninvite(user('a')).value());
    CHECK_FALSE(roster->uninvite(user('a')).value());
    CHECK(roster->invite(user('c'), admin, 2, 5).value() == InviteOutcome::invited);
    CHECK(roster->invited(user('c')).value());
}

TEST_CASE("roster: the report lists connected accounts and lost ones, page by page, with health and activity", "[pg]") {
    msteams::test::TempDatabase temp;
    auto db = temp.open_migrated();
    auto accounts = msteams::store::postgres_accounts(db);
    auto roster = msteams::store::postgres_roster(db);
    for (char c : std::string("abcde")) {
        REQUIRE(accounts->connect(account(c), 100).has_value());
    }
    // b's refresh failed for a passing reason; c's connection was lost; d disconnected by choice.
    REQUIRE(roster->set_health(user('b'), TokenHealth::refresh_failed).has_value());
    REQUIRE(accounts->disconnect(user('c')).has_value());
    REQUIRE(roster->set_health(user('c'), TokenHealth::needs_reconnect).has_value());
    REQUIRE(accounts->disconnect(user('d')).has_value());
    // Activity is written at most once per gap.
    REQUIRE(roster->touch(user('a'), 50'000, 60'000).has_value());
    REQUIRE(roster->touch(user('a'), 70'000, 60'000).has_value());  // within the gap: kept at 50,000
    REQUIRE(roster->touch(user('e'), 50'000, 60'000).has_value());
    REQUIRE(roster->touch(user('e'), 200'000, 60'000).has_value());

    std::vector<msteams::store::ReportRow> all;
    MmUserId after;
    while (true) {
        auto const page = roster->report_page(after, 2).value();
        CHECK(page.size() <= 2);
        all.insert(all.end(), page.begin(), page.end());
        if (page.size() < 2) {
            break;
        }
        after = page.back().mm_user_id;
    }
    REQUIRE(all.size() == 4);  // a, b, c, e: d chose to disconnect
    CHECK(all[0].mm_user_id == user('a'));
    CHECK(all[0].health == TokenHealth::ok);
    CHECK(all[0].last_active_at == 50'000);
    CHECK(all[0].teams_email == "a@example.com");
    CHECK(all[0].connected_at == 1000);
    CHECK(all[1].health == TokenHealth::refresh_failed);
    CHECK(all[1].last_active_at == 0);
    CHECK(all[2].mm_user_id == user('c'));
    CHECK_FALSE(all[2].connected);
    CHECK(all[2].health == TokenHealth::needs_reconnect);
    CHECK(all[3].mm_user_id == user('e'));
    CHECK(all[3].last_active_at == 200'000);
}
