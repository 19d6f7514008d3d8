// Selective sync and notifications-only decisions: the pure plan, then sync::Audience over PostgreSQL (accounts,
// synthetic users, each user's choices) with its cache, and the presence budget.
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "fakes/memory_store.hpp"
#include "fakes/pipeline_world.hpp"
#include "store/pg_support.hpp"
#include "store/roster.hpp"
#include "sync/audience.hpp"

using msteams::MmUserId;
using msteams::TeamsUserId;
using msteams::store::Platform;
using msteams::sync::Bridging;
using msteams::sync::Member;
using msteams::sync::plan_chat;

namespace {

Member connected(char c, Platform primary = Platform::mattermost, bool notifications = false) {
    return Member{MmUserId(std::string(25, 'c') + c), Member::Kind::connected, primary, notifications,
                  TeamsUserId("00000000-0000-0000-0000-00000000000" + std::string(1, c))};
}
Member synthetic(char c) {
    return Member{MmUserId(std::string(25, 's') + c), Member::Kind::teams_only, Platform::mattermost, false, {}};
}
Member mattermost_only(char c) {
    return Member{MmUserId(std::string(25, 'm') + c), Member::Kind::mattermost_only, Platform::mattermost, false, {}};
}

}  // namespace

TEST_CASE("audience: without selective sync every chat with people in it is mirrored, as before", "[sync]") {
    CHECK(plan_chat({connected('a', Platform::teams), synthetic('b')}, false).bridging == Bridging::mirror);
    CHECK(plan_chat({connected('a'), connected('b', Platform::teams)}, false).bridging == Bridging::mirror);
    CHECK(plan_chat({}, false).bridging == Bridging::none);
}

TEST_CASE("audience: selective sync leaves alone a chat whose people all read it in Teams, and says why", "[sync]") {
    auto const all_teams = plan_chat({connected('a', Platform::teams), synthetic('b'), synthetic('c')}, true);
    CHECK(all_teams.bridging == Bridging::none);
    CHECK(all_teams.reason.find("primary platform") != std::string::npos);
    CHECK(plan_chat({connected('a', Platform::teams), connected('b', Platform::teams)}, true).bridging ==
          Bridging::none);
    // Someone reads it in Mattermost: a member who is not on Teams, or one whose primary platform is Mattermost.
    CHECK(plan_chat({connected('a', Platform::teams), mattermost_only('m')}, true).bridging == Bridging::mirror);
    CHECK(plan_chat({connected('a', Platform::teams), connected('b')}, true).bridging == Bridging::mirror);
    CHECK(plan_chat({connected('a'), synthetic('b')}, true).bridging == Bridging::mirror);
}

TEST_CASE("audience: members who chose notifications only are notified instead, unless someone wants the mirror",
          "[sync]") {
    auto const only = plan_chat({connected('a', Platform::mattermost, true), synthetic('b')}, false);
    REQUIRE(only.bridging == Bridging::notify);
    REQUIRE(only.notify.size() == 1);
    CHECK(only.notify[0].mm_user_id == connected('a').mm_user_id);
    // A member who reads the chat in full here keeps it mirrored (the others see it in the same channel).
    CHECK(plan_chat({connected('a', Platform::mattermost, true), connected('b')}, false).bridging == Bridging::mirror);
    CHECK(plan_chat({connected('a', Platform::mattermost, true), mattermost_only('m')}, false).bridging ==
          Bridging::mirror);
    // Under selective sync a member who reads chats in Teams is not told here as well.
    auto const selective = plan_chat(
        {connected('a', Platform::mattermost, true), connected('b', Platform::teams, true), synthetic('c')}, true);
    REQUIRE(selective.bridging == Bridging::notify);
    REQUIRE(selective.notify.size() == 1);
    CHECK(selective.notify[0].mm_user_id == connected('a').mm_user_id);
}

TEST_CASE("audience: a member's part is read from the database, cached, and read again once their choice changes",
          "[pg]") {
    msteams::test::TempDatabase temp;
    auto db = temp.open_migrated();
    msteams::test::PipelineWorld world;  // Mattermost and People; accounts and users below are PostgreSQL's
    auto repos = msteams::store::postgres_repositories(db);
    auto roster = msteams::store::postgres_roster(db);
    MmUserId const alice("alice00000000000000000000a");
    MmUserId const ghost("ghost00000000000000000000g");
    MmUserId const mona("mona000000000000000000000m");
    msteams::store::Account a;
    a.mm_user_id = alice;
    a.teams_user_id = TeamsUserId("00000000-0000-0000-0000-00000000000a");
    a.token_sealed = "sealed";
    REQUIRE(repos.accounts->connect(a, 10).has_value());
    REQUIRE(repos.users
                ->add(msteams::store::TeamsUser{TeamsUserId("00000000-0000-0000-0000-00000000000g"), ghost, true,
                                                "Ghost", "ghost@example.com", 1, 0})
                .has_value());
    REQUIRE(repos.users
                ->add(msteams::store::TeamsUser{TeamsUserId("00000000-0000-0000-0000-00000000000m"), mona, false,
                                                "Mona", "mona@example.com", 1, 0})
                .has_value());

    auto clock = std::make_shared<std::atomic<std::int64_t>>(1'000'000);
    msteams::sync::AudienceSettings settings;
    settings.selective_sync = true;
    settings.clock_ms = [clock] { return clock->load(); };
    msteams::sync::Audience audience(settings, repos, roster, world.people, {});

    CHECK(audience.member(alice).value().kind == Member::Kind::connected);
    CHECK(audience.member(ghost).value().kind == Member::Kind::teams_only);
    CHECK(audience.member(mona).value().kind == Member::Kind::mattermost_only);  // matched by email, not connected
    CHECK(audience.for_mm_members({alice, ghost}).value().bridging == Bridging::mirror);  // default: Mattermost
    CHECK(audience.for_mm_members({alice, mona}).value().bridging == Bridging::mirror);

    // Another node's change shows once the cached part is old; this node's at once.
    REQUIRE(roster->set_primary(alice, Platform::teams, 1).has_value());
    CHECK(audience.for_mm_members({alice, ghost}).value().bridging == Bridging::mirror);  // cached
    clock->fetch_add(settings.member_ttl_ms);
    CHECK(audience.for_mm_members({alice, ghost}).value().bridging == Bridging::none);
    CHECK(audience.for_mm_members({alice, mona}).value().bridging == Bridging::mirror);
    REQUIRE(roster->set_primary(alice, Platform::mattermost, 2).has_value());
    audience.forget(alice);
    CHECK(audience.for_mm_members({alice, ghost}).value().bridging == Bridging::mirror);
    // Disconnected, Alice is a Mattermost user like any other.
    REQUIRE(roster->set_primary(alice, Platform::teams, 3).has_value());
    REQUIRE(repos.accounts->disconnect(alice).has_value());
    audience.forget(alice);
    CHECK(audience.member(alice).value().kind == Member::Kind::mattermost_only);
}

TEST_CASE("audience: presence is asked once per batch and remembered, within the budget, unknown counting as away",
          "[sync]") {
    msteams::test::MemoryStore store;
    auto calls = std::make_shared<int>(0);
    auto clock = std::make_shared<std::int64_t>(1'000'000);
    TeamsUserId const busy("00000000-0000-0000-0000-00000000000b");
    TeamsUserId const away("00000000-0000-0000-0000-00000000000a");
    TeamsUserId const gone("00000000-0000-0000-0000-00000000000g");
    msteams::sync::PresenceLookup lookup =
        [calls, busy,
         away](std::vector<TeamsUserId> const& ids) -> msteams::Result<std::vector<msteams::graph::Presence>> {
        ++*calls;
        std::vector<msteams::graph::Presence> out;
        for (auto const& id : ids) {
            if (id == busy) {
                out.push_back({id, "Busy", "InACall"});
            } else if (id == away) {
                out.push_back({id, "Away", "Away"});
            }
        }
        return out;
    };
    msteams::sync::AudienceSettings settings;
    settings.clock_ms = [clock] { return *clock; };
    msteams::sync::Audience audience(settings, store.repos, nullptr, nullptr, lookup);

    auto const first = audience.at_teams({busy, away, gone});
    CHECK(first == std::set<TeamsUserId>{busy});
    CHECK(*calls == 1);
    // A new user within the minimum interval: Graph is not asked (over the budget), so not at Teams: told.
    TeamsUserId const other("00000000-0000-0000-0000-00000000000c");
    *clock += 1;
    CHECK(audience.at_teams({other}).empty());
    CHECK(*calls == 1);
    *clock += 5'000;
    CHECK(audience.at_teams({busy, away, gone}) == std::set<TeamsUserId>{busy});  // remembered
    CHECK(*calls == 1);
    (void)audience.at_teams({other});
    CHECK(*calls == 2);
    *clock += settings.presence_ttl_ms;
    CHECK(audience.at_teams({busy}) == std::set<TeamsUserId>{busy});  // asked again once stale
    CHECK(*calls == 3);
}
