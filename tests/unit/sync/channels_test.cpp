// Linked channels through both pipelines, without network or PostgreSQL: sync::Inbound and sync::Outbound over
// FakeApi, FakeTeams (a channel of a team; replies known as "<root>/<reply>") and the in-memory store.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "fakes/pipeline_world.hpp"
#include "graph/client.hpp"
#include "sync/inbound.hpp"
#include "sync/outbound.hpp"

using msteams::sync::OutboundEvent;
using msteams::test::PipelineWorld;
using msteams::test::teams_id;

namespace {

msteams::MmUserId const k_alice("alice00000000000000000000a");
msteams::MmUserId const k_carol("carol00000000000000000000c");  // not connected
msteams::MmUserId const k_bot("bot0000000000000000000000b");
msteams::MmChannelId const k_town("town0000000000000000000000");
std::string const k_team = "a1b2c3d4-1111-4000-8000-000000000001";

struct ChannelWorld : PipelineWorld {
    msteams::TeamsUserId alice_teams{teams_id('a')};
    msteams::TeamsUserId megan_teams{teams_id('m')};  // in Teams only
    msteams::TeamsThreadId general{"19:general@thread.tacv2"};
    std::int64_t const start = msteams::now_ms();
    std::unique_ptr<msteams::sync::Outbound> outbound;
    std::unique_ptr<msteams::sync::Inbound> inbound;

    explicit ChannelWorld(std::int64_t daily_limit = 3000) {
        connect(k_alice, "alice", alice_teams);
        api->add_user(k_carol, "carol");
        teams->add_channel(k_team, general, {alice_teams, megan_teams});
        msteams::mm::Channel town;
        town.id = k_town;
        town.type = "O";
        town.name = "town";
        api->channels[k_town.str()] = town;
        REQUIRE(
            store.repos.portals->add({general, msteams::store::PortalKind::channel, k_team, k_town, k_alice, 1, 1}));
        msteams::sync::OutboundSettings out;
        out.bot_user_id = k_bot;
        out.enabled = false;  // chat sync off: linked channels go on
        out.channel_daily_limit = daily_limit;
        out.clock_ms = [start = start] { return start; };
        outbound = std::make_unique<msteams::sync::Outbound>(out, api, store.repos, connections, teams, stats, people);
        msteams::sync::InboundSettings in;
        in.bot_user_id = k_bot;
        in.mode = msteams::sync::InboundMode::off;  // chat sync off: linked channels go on
        inbound = std::make_unique<msteams::sync::Inbound>(
            in, api, store.repos, connections, teams, std::make_shared<msteams::test::FakeAppTokens>(), people, stats);
    }
    msteams::mm::Post post(msteams::MmUserId const& user, std::string const& message, msteams::MmPostId root = {}) {
        msteams::mm::Post p;
        p.user_id = user;
        p.channel_id = k_town;
        p.message = message;
        p.root_id = std::move(root);
        auto created = api->create_post(p).value();
        created.create_at = created.update_at = start - 20'000 + static_cast<std::int64_t>(api->posts.size());
        {
            std::lock_guard lock(api->mutex);
            api->posts[created.id.str()] = created;
        }
        OutboundEvent e;
        e.kind = OutboundEvent::Kind::posted;
        e.post = created;
        REQUIRE(outbound->enqueue({e}).has_value());
        return created;
    }
    void notify(msteams::TeamsMessageId const& id) {
        REQUIRE(store.repos.inbox
                    ->enqueue({{0, 1, msteams::SubscriptionId("sub"), msteams::store::Change::created, general, id, 0}})
                    .has_value());
    }
    [[nodiscard]] std::vector<msteams::graph::ChatMessage> in_teams() { return teams->messages(general); }
};

}  // namespace

TEST_CASE("channels: posts and thread replies reach the linked Teams channel, replies as Teams replies", "[sync]") {
    ChannelWorld w;
    auto const root = w.post(k_alice, "hello channel");
    w.post(k_alice, "in the thread", root.id);
    msteams::test::run_until_idle([&] { return w.outbound->run_once(); });
    auto const sent = w.in_teams();
    REQUIRE(sent.size() == 2);
    CHECK(sent[0].from.id == w.alice_teams);
    CHECK_FALSE(msteams::graph::is_channel_reply(sent[0].id));
    REQUIRE(msteams::graph::is_channel_reply(sent[1].id));
    CHECK(sent[1].reply_to_id == sent[0].id);
    // The reply is in the message map under the id its echo will carry.
    auto const link = w.store.repos.messages->by_post(w.api->posts_in(k_town).back().id);
    REQUIRE(link.has_value());
    REQUIRE(link->has_value());
    CHECK((*link)->teams_message_id == sent[1].id);

    // Someone who is not connected, without a relay: told, nothing sent.
    w.post(k_carol, "from carol");
    msteams::test::run_until_idle([&] { return w.outbound->run_once(); });
    CHECK(w.in_teams().size() == 2);
    CHECK(w.stats->outbound_not_connected == 1);

    // Unlinked: the channel's posts are not queued at all.
    REQUIRE(w.store.repos.portals->remove(w.general).value());
    w.post(k_alice, "after unlink");
    CHECK(w.store.repos.outbox->size().value() == 0);
    CHECK(w.in_teams().size() == 2);
}

TEST_CASE("channels: past the day's messages a channel's posts wait in order and the channel is told once", "[sync]") {
    ChannelWorld w(2);
    for (auto const* text : {"one", "two", "three", "four"}) {
        w.post(k_alice, text);
    }
    msteams::test::run_until_idle([&] { return w.outbound->run_once(); });
    CHECK(w.in_teams().size() == 2);
    CHECK(w.store.repos.outbox->size().value() == 2);  // held, not dropped
    CHECK(w.stats->outbound_channel_cap_holds >= 1);
    int notices = 0;
    for (auto const& p : w.api->posts_in(k_town)) {
        notices += p.user_id == k_bot && p.message.find("at most 2 messages a day") != std::string::npos ? 1 : 0;
    }
    CHECK(notices == 1);
}

TEST_CASE("channels: a Teams root and its reply become a post and a reply in its Mattermost thread", "[sync]") {
    ChannelWorld w;
    auto const root = w.teams->post(w.general, w.megan_teams, "<p>from Teams</p>");
    auto const reply = w.teams->channel_reply(w.general, w.megan_teams, "<p>a Teams reply</p>", root.id);
    REQUIRE(reply.id.str() == root.id.str() + "/" + reply.id.str().substr(root.id.str().size() + 1));
    w.notify(root.id);
    w.notify(reply.id);
    msteams::test::run_until_idle([&] { return w.inbound->run_once(); });
    auto const posts = w.api->posts_in(k_town);
    REQUIRE(posts.size() == 2);
    CHECK(posts[0].message == "from Teams");
    CHECK(posts[0].root_id.empty());
    CHECK(posts[1].message == "a Teams reply");
    CHECK(posts[1].root_id == posts[0].id);
    CHECK(posts[0].user_id == posts[1].user_id);  // Megan's synthetic user
    CHECK(w.teams->calls("get_message") == 2);    // read with the app's token, one by one

    // An edit of the reply follows.
    w.teams->edit(w.general, reply.id.str(), "<p>a Teams reply, edited</p>");
    REQUIRE(
        w.store.repos.inbox
            ->enqueue({{0, 1, msteams::SubscriptionId("sub"), msteams::store::Change::updated, w.general, reply.id, 0}})
            .has_value());
    msteams::test::run_until_idle([&] { return w.inbound->run_once(); });
    CHECK(w.api->posts_in(k_town)[1].message == "a Teams reply, edited");
}

TEST_CASE("channels: a lost node's posts are recovered for linked channels too, from the link on", "[sync]") {
    ChannelWorld w;  // chat sync off: linked channels are recovered all the same
    auto const made = [&](std::string const& text, std::int64_t at) {
        msteams::mm::Post p;
        p.user_id = k_alice;
        p.channel_id = k_town;
        p.message = text;
        auto created = w.api->create_post(p).value();
        created.create_at = created.update_at = at;
        std::lock_guard lock(w.api->mutex);
        w.api->posts[created.id.str()] = created;
    };
    // The link was made a minute ago (its portal's created_at); one post before it, two after, none given to
    // the bridge (their hooks were lost with the node).
    REQUIRE(w.store.repos.portals->remove(w.general).value());
    REQUIRE(w.store.repos.portals->add(
        {w.general, msteams::store::PortalKind::channel, k_team, k_town, k_alice, w.start - 60'000, w.start - 60'000}));
    made("before the link", w.start - 90'000);
    made("lost one", w.start - 30'000);
    made("lost two", w.start - 20'000);
    REQUIRE(w.outbound->recover_since(w.start - 120'000).has_value());
    msteams::test::run_until_idle([&] { return w.outbound->run_once(); });
    std::vector<std::string> sent;
    for (auto const& m : w.in_teams()) {
        sent.push_back(m.body);
    }
    CHECK(sent == std::vector<std::string>{"<p>lost one</p>", "<p>lost two</p>"});
}
