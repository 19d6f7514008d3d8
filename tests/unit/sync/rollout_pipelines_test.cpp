// Selective sync and notifications-only mode in the pipelines: sync::Inbound and sync::Outbound with an Audience
// whose users' choices are in PostgreSQL (the rest over FakeTeams, FakeApi and the in-memory store).
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "fakes/pipeline_world.hpp"
#include "store/pg_support.hpp"
#include "store/roster.hpp"
#include "sync/audience.hpp"
#include "sync/inbound.hpp"
#include "sync/outbound.hpp"
#include "test_ids.hpp"

using msteams::MmUserId;
using msteams::TeamsUserId;
using msteams::store::Platform;
using msteams::test::one_on_one;
using msteams::test::teams_id;

namespace {

MmUserId const k_alice("alice00000000000000000000a");
MmUserId const k_bob("bob0000000000000000000000b");
MmUserId const k_bot("bot0000000000000000000000b");

// The roster in PostgreSQL and an Audience over it, beside a PipelineWorld.
struct RolloutWorld : msteams::test::PipelineWorld {
    msteams::test::TempDatabase temp;
    std::shared_ptr<msteams::store::Roster> roster = msteams::store::postgres_roster(temp.open_migrated());
    std::shared_ptr<std::vector<msteams::graph::Presence>> presence =
        std::make_shared<std::vector<msteams::graph::Presence>>();
    std::shared_ptr<msteams::sync::Audience> audience;

    explicit RolloutWorld(bool selective) {
        msteams::sync::AudienceSettings settings;
        settings.selective_sync = selective;
        settings.presence_min_interval_ms = 0;
        settings.presence_ttl_ms = 0;
        audience = std::make_shared<msteams::sync::Audience>(
            settings, store.repos, roster, people,
            [p = presence](std::vector<TeamsUserId> const&) -> msteams::Result<std::vector<msteams::graph::Presence>> {
                return *p;
            });
    }
    void primary(MmUserId const& user, Platform platform) {
        REQUIRE(roster->set_primary(user, platform, msteams::now_ms()).has_value());
        audience->forget(user);
    }
    void notifications(MmUserId const& user, bool on) {
        REQUIRE(roster->set_notifications(user, on, msteams::now_ms()).has_value());
        audience->forget(user);
    }
};

struct InboundRollout : RolloutWorld {
    TeamsUserId alice_teams{teams_id('a')};
    TeamsUserId bob_teams{teams_id('b')};  // in Teams only: a synthetic user here
    msteams::TeamsThreadId chat{one_on_one(teams_id('a'), teams_id('b'))};
    std::unique_ptr<msteams::sync::Inbound> inbound;

    explicit InboundRollout(bool selective, std::string const& teams_web_url = "https://teams.microsoft.com")
        : RolloutWorld(selective) {
        connect(k_alice, "alice", alice_teams);
        teams->add_chat(chat, "oneOnOne", {alice_teams, bob_teams});
        msteams::sync::InboundSettings settings;
        settings.bot_user_id = k_bot;
        settings.teams_web_url = teams_web_url;
        settings.audience = audience;
        inbound =
            std::make_unique<msteams::sync::Inbound>(settings, api, store.repos, connections, teams,
                                                     std::make_shared<msteams::test::FakeAppTokens>(), people, stats);
    }
    void message(msteams::TeamsThreadId const& in, TeamsUserId const& from, std::string const& text) {
        auto const m = teams->post(in, from, "<p>" + text + "</p>");
        REQUIRE(store.repos.inbox
                    ->enqueue({{0, msteams::now_ms(), msteams::SubscriptionId("sub"), msteams::store::Change::created,
                                in, m.id, 0}})
                    .has_value());
        msteams::test::run_until_idle([this] { return inbound->run_once(); });
    }
    [[nodiscard]] bool bridged(msteams::TeamsThreadId const& in) {
        return store.repos.portals->by_thread(in).value().has_value();
    }
    [[nodiscard]] std::vector<std::string> bot_dms_to_alice() {
        auto const dm = api->get_direct_channel(k_bot, k_alice).value();
        std::vector<std::string> out;
        for (auto const& p : api->posts_in(dm.id)) {
            out.push_back(p.message);
        }
        return out;
    }
};

struct OutboundRollout : RolloutWorld {
    TeamsUserId alice_teams{teams_id('a')};
    TeamsUserId bob_teams{teams_id('b')};
    msteams::TeamsThreadId chat{one_on_one(teams_id('a'), teams_id('b'))};
    msteams::MmChannelId dm;
    std::unique_ptr<msteams::sync::Outbound> outbound;

    OutboundRollout() : RolloutWorld(true) {
        connect(k_alice, "alice", alice_teams);
        connect(k_bob, "bob", bob_teams);
        teams->add_chat(chat, "oneOnOne", {alice_teams, bob_teams});
        dm = api->get_direct_channel(k_alice, k_bob)->id;
        msteams::sync::OutboundSettings settings;
        settings.bot_user_id = k_bot;
        settings.audience = audience;
        auto const start = msteams::now_ms() + 60'000;  // every post is settled
        settings.clock_ms = [start] { return start; };
        outbound =
            std::make_unique<msteams::sync::Outbound>(settings, api, store.repos, connections, teams, stats, people);
    }
    void say(MmUserId const& user, std::string const& text) {
        msteams::mm::Post p;
        p.user_id = user;
        p.channel_id = dm;
        p.message = text;
        msteams::sync::OutboundEvent e;
        e.post = api->create_post(p).value();
        REQUIRE(outbound->enqueue({e}).has_value());
        msteams::test::run_until_idle([this] { return outbound->run_once(); });
    }
};

}  // namespace

TEST_CASE("rollout: with selective sync a Teams chat of people who all read it in Teams is left alone, without reads",
          "[pg]") {
    InboundRollout w(true);
    w.primary(k_alice, Platform::teams);
    w.message(w.chat, w.bob_teams, "for Teams only");
    CHECK_FALSE(w.bridged(w.chat));
    CHECK(w.stats->skipped_selective == 1);
    CHECK(w.teams->calls("get_message") + w.teams->calls("list_oldest_messages_since") == 0);

    // Alice reads her chats in Mattermost again: the next message is bridged.
    w.primary(k_alice, Platform::mattermost);
    w.message(w.chat, w.bob_teams, "now bridged");
    REQUIRE(w.bridged(w.chat));
    auto const channel = w.store.repos.portals->by_thread(w.chat).value()->mm_channel_id;
    auto const posts = w.api->posts_in(channel);
    REQUIRE_FALSE(posts.empty());
    CHECK(posts.back().message == "now bridged");
}

TEST_CASE("rollout: with selective sync a chat with a member who is not on Teams is bridged", "[pg]") {
    InboundRollout w(true);
    w.primary(k_alice, Platform::teams);
    // Mona has a Teams account and a Mattermost user with the same email, and has not connected: she reads the
    // chat in Mattermost.
    TeamsUserId const mona_teams{teams_id('m')};
    w.api->add_user(MmUserId("mona000000000000000000000m"), "teams-" + mona_teams.str());
    msteams::TeamsThreadId const with_mona{one_on_one(teams_id('a'), teams_id('m'))};
    w.teams->add_chat(with_mona, "oneOnOne", {w.alice_teams, mona_teams});
    w.message(with_mona, mona_teams, "hello from Teams");
    REQUIRE(w.bridged(with_mona));
    auto const channel = w.store.repos.portals->by_thread(with_mona).value()->mm_channel_id;
    auto const posts = w.api->posts_in(channel);
    REQUIRE(posts.size() == 1);
    CHECK(posts[0].user_id.str() == "mona000000000000000000000m");
    CHECK(w.stats->skipped_selective == 0);
}

TEST_CASE("rollout: a user in notifications-only mode is told by the bot instead, unless at Teams right now", "[pg]") {
    InboundRollout w(false, "https://gov.teams.microsoft.us");  // a GCC High tenant
    w.notifications(k_alice, true);
    w.message(w.chat, w.bob_teams, "ping one");
    CHECK_FALSE(w.bridged(w.chat));  // not mirrored
    auto dms = w.bot_dms_to_alice();
    REQUIRE(dms.size() == 1);
    CHECK(dms[0].find("sent you a message in Microsoft Teams") != std::string::npos);
    CHECK(dms[0].find("[Open in Teams](https://gov.teams.microsoft.us/l/message/") != std::string::npos);
    CHECK(dms[0].find("ping one") != std::string::npos);

    // At Teams right now (Graph presence): not told, counted.
    *w.presence = {{w.alice_teams, "Available", "Available"}};
    w.message(w.chat, w.bob_teams, "ping two");
    CHECK(w.bot_dms_to_alice().size() == 1);
    CHECK(w.stats->notifications_skipped_active == 1);

    // Away again: told.
    *w.presence = {{w.alice_teams, "Away", "Away"}};
    w.message(w.chat, w.bob_teams, "ping three");
    dms = w.bot_dms_to_alice();
    REQUIRE(dms.size() == 2);
    CHECK(dms[1].find("ping three") != std::string::npos);

    // Off: mirrored again.
    w.notifications(k_alice, false);
    w.message(w.chat, w.bob_teams, "mirrored");
    REQUIRE(w.bridged(w.chat));
    CHECK(w.bot_dms_to_alice().size() == 2);
}

TEST_CASE("rollout: with selective sync a DM of people who both read it in Teams is not sent, and its author is told",
          "[pg]") {
    OutboundRollout w;
    w.primary(k_alice, Platform::teams);
    w.primary(k_bob, Platform::teams);
    w.say(k_alice, "not for Teams");
    CHECK(w.teams->messages(w.chat).empty());
    CHECK(w.stats->outbound_selective_skipped == 1);
    {
        std::lock_guard lock(w.api->mutex);
        REQUIRE(w.api->ephemerals.size() == 1);
        CHECK(w.api->ephemerals[0].first == k_alice.str());
        CHECK(w.api->ephemerals[0].second.message.find("primary platform") != std::string::npos);
    }
    // Bob reads his chats in Mattermost: the chat spans both platforms.
    w.primary(k_bob, Platform::mattermost);
    w.say(k_alice, "for Teams");
    REQUIRE(w.teams->messages(w.chat).size() == 1);
}
