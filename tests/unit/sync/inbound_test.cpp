// Teams → Mattermost, without network or PostgreSQL: sync::Inbound over FakeTeams, FakeApi and the in-memory store.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "test_ids.hpp"
#include "fakes/pipeline_world.hpp"
#include "sync/inbound.hpp"

using msteams::ErrorCode;
using msteams::test::one_on_one;
using msteams::test::PipelineWorld;
using msteams::test::teams_id;

namespace {

std::string const k_alice = "alice00000000000000000000a";  // Mattermost, connected
std::string const k_carol = "carol00000000000000000000c";  // Mattermost, connected

struct InboundWorld : PipelineWorld {
    msteams::TeamsUserId alice_teams{teams_id('a')};
    msteams::TeamsUserId bob_teams{teams_id('b')};  // in Teams only
    msteams::TeamsThreadId chat{one_on_one(teams_id('a'), teams_id('b'))};
    std::unique_ptr<msteams::sync::Inbound> inbound;

    explicit InboundWorld(msteams::sync::InboundSettings settings = {}) {
        connect(k_alice, "alice", alice_teams);
        teams->add_chat(chat, "oneOnOne", {alice_teams, bob_teams});
        settings.bot_user_id = msteams::MmUserId("bot0000000000000000000000b");
        inbound =
            std::make_unique<msteams::sync::Inbound>(settings, api, store.repos, connections, teams,
                                                     std::make_shared<msteams::test::FakeAppTokens>(), people, stats);
    }
    void notify(msteams::TeamsMessageId const& message_id,
                msteams::store::Change change = msteams::store::Change::created) {
        REQUIRE(store.repos.inbox->enqueue({{0, 1, msteams::SubscriptionId("sub"), change, chat, message_id, 0}})
                    .has_value());
    }
    // A notification the webhook received at `received_at` (Unix ms).
    void notify_at(msteams::TeamsMessageId const& message_id, std::int64_t received_at) {
        REQUIRE(store.repos.inbox
                    ->enqueue({{0, received_at, msteams::SubscriptionId("sub"), msteams::store::Change::created, chat,
                                message_id, 0}})
                    .has_value());
    }
    int drain() {
        return msteams::test::run_until_idle([this] { return inbound->run_once(); });
    }
    [[nodiscard]] msteams::MmChannelId channel() {
        auto const p = store.repos.portals->by_thread(chat);
        REQUIRE(p.has_value());
        REQUIRE(p->has_value());
        return (*p)->mm_channel_id;
    }
    [[nodiscard]] std::vector<std::string> messages() {
        std::vector<std::string> out;
        for (auto const& p : api->posts_in(channel())) {
            out.push_back(p.delete_at ? "(deleted)" : p.message);
        }
        return out;
    }
    [[nodiscard]] std::int64_t inbox_size() { return store.repos.inbox->size().value(); }
};

}  // namespace

TEST_CASE("inbound: a Teams message becomes one post by its author, however often it is notified", "[sync]") {
    InboundWorld w;
    auto const m = w.teams->post(w.chat, w.bob_teams, "<p>hello <b>Alice</b></p>");
    w.notify(m.id);
    w.notify(m.id);
    w.notify(m.id);
    w.drain();

    auto const posts = w.api->posts_in(w.channel());
    REQUIRE(posts.size() == 1);
    CHECK(posts[0].message == "hello **Alice**");
    auto const bob = w.store.repos.users->by_teams_id(w.bob_teams).value();
    REQUIRE(bob);
    CHECK(bob->synthetic);
    CHECK(posts[0].user_id == bob->mm_user_id);
    CHECK(w.inbox_size() == 0);

    // Delivered again later: the message map knows it, and Teams is not asked again.
    auto const reads = w.teams->calls("get_message") + w.teams->calls("list_oldest_messages_since");
    w.notify(m.id);
    w.drain();
    CHECK(w.api->posts_in(w.channel()).size() == 1);
    CHECK(w.teams->calls("get_message") + w.teams->calls("list_oldest_messages_since") == reads);
    CHECK(w.stats->duplicates >= 1);
}

TEST_CASE("inbound: messages are posted in the order they were written, whatever order their notifications came",
          "[sync]") {
    InboundWorld w;
    auto const first = w.teams->post(w.chat, w.bob_teams, "one");
    w.notify(first.id);
    w.drain();
    auto const a = w.teams->post(w.chat, w.bob_teams, "two");
    auto const b = w.teams->post(w.chat, w.alice_teams, "three");
    auto const c = w.teams->post(w.chat, w.bob_teams, "four");
    w.notify(c.id);
    w.notify(b.id);
    w.notify(a.id);
    w.drain();
    CHECK(w.messages() == std::vector<std::string>{"one", "two", "three", "four"});
    CHECK(w.api->posts_in(w.channel())[2].user_id == k_alice);  // a connected user's own message is theirs
}

TEST_CASE("inbound: a new chat's first messages are posted in the order written, whichever is heard first", "[sync]") {
    // Graph keeps no order between notifications: the second message of a chat nobody bridged yet can be heard
    // (or get through the inbox) before the first. The first heard brings the chat's recent messages along, in order;
    // an old message edited meanwhile stays history.
    InboundWorld w;
    auto const old = w.teams->post(w.chat, w.bob_teams, "from last week");
    w.teams->advance(7LL * 24 * 3600 * 1000);
    auto const first = w.teams->post(w.chat, w.bob_teams, "first");
    auto const second = w.teams->post(w.chat, w.bob_teams, "second");
    w.teams->edit(w.chat, old.id, "from last week, edited");
    auto const heard_at = std::stoll(second.id.str()) + 50;  // FakeTeams' ids are their creation times
    w.notify_at(second.id, heard_at);
    w.drain();
    CHECK(w.messages() == std::vector<std::string>{"first", "second"});
    w.notify_at(first.id, heard_at + 10);
    w.drain();
    CHECK(w.messages() == std::vector<std::string>{"first", "second"});
    CHECK(w.inbox_size() == 0);
}

TEST_CASE("inbound: messages applied in one instant keep their order in Mattermost", "[sync]") {
    // Mattermost orders a channel by creation time alone and leaves ties in no defined order: a burst posted within
    // one millisecond of its clock must still get distinct, increasing times, in the order the messages were written.
    InboundWorld w;
    w.api->frozen_clock = 1'700'000'000'000;
    std::vector<std::string> texts;
    for (int i = 0; i < 5; ++i) {
        texts.push_back("burst " + std::to_string(i));
        auto const m = w.teams->post(w.chat, w.bob_teams, texts.back());
        w.notify(m.id);
    }
    w.drain();
    auto const posts = w.api->posts_in(w.channel());
    REQUIRE(posts.size() == texts.size());
    for (std::size_t i = 0; i < posts.size(); ++i) {
        CHECK(posts[i].message == texts[i]);
        if (i > 0) {
            CHECK(posts[i].create_at > posts[i - 1].create_at);
        }
    }
}

TEST_CASE("inbound: a Teams edit and delete reach the post, and a late notification changes nothing", "[sync]") {
    InboundWorld w;
    auto const m = w.teams->post(w.chat, w.bob_teams, "draft");
    w.notify(m.id);
    w.drain();
    w.teams->edit(w.chat, m.id, "final");
    w.notify(m.id, msteams::store::Change::updated);
    w.drain();
    CHECK(w.messages() == std::vector<std::string>{"final"});
    CHECK(w.stats->posts_updated == 1);

    w.teams->remove(w.chat, m.id);
    w.notify(m.id, msteams::store::Change::deleted);
    w.drain();
    CHECK(w.messages() == std::vector<std::string>{"(deleted)"});
    w.notify(m.id, msteams::store::Change::updated);  // late
    w.drain();
    CHECK(w.messages() == std::vector<std::string>{"(deleted)"});
    CHECK(w.stats->posts_deleted == 1);
}

TEST_CASE("inbound: a reaction in Teams is the same user's reaction in Mattermost, and its removal too", "[sync]") {
    InboundWorld w;
    auto const m = w.teams->post(w.chat, w.bob_teams, "lunch?");
    w.notify(m.id);
    w.drain();
    w.teams->react(w.chat, m.id, w.alice_teams, "like");
    w.notify(m.id, msteams::store::Change::updated);
    w.drain();
    auto const post_id = w.api->posts_in(w.channel()).at(0).id;
    auto reactions = w.api->get_reactions(post_id).value();
    REQUIRE(reactions.size() == 1);
    CHECK(reactions[0].user_id == k_alice);
    CHECK(reactions[0].emoji_name == "+1");
}

TEST_CASE("inbound: a post made just before a crash is found again, not posted twice", "[sync]") {
    InboundWorld w;
    auto const first = w.teams->post(w.chat, w.bob_teams, "before");
    w.notify(first.id);
    w.drain();
    auto const m = w.teams->post(w.chat, w.bob_teams, "during the crash");
    // The crash: the pending marker was committed and the post created, the link was not.
    REQUIRE(
        w.store.repos.messages
            ->mark_pending({w.chat, m.id, {}, w.channel(), msteams::store::Origin::teams, 0, msteams::now_ms(), false})
            .has_value());
    msteams::mm::Post orphan;
    orphan.channel_id = w.channel();
    orphan.user_id = w.api->posts_in(w.channel()).at(0).user_id;
    orphan.message = "during the crash";
    orphan.props_json = R"({"msteams_message_id":")" + m.id.str() + R"("})";
    REQUIRE(w.api->create_post(orphan).has_value());

    w.notify(m.id);
    w.drain();
    CHECK(w.messages() == std::vector<std::string>{"before", "during the crash"});
    CHECK(w.stats->recovered_pending == 1);
}

TEST_CASE("inbound: a chat without a connected member costs no Graph request", "[sync]") {
    InboundWorld w;
    auto const dave = teams_id('d');
    auto const erin = teams_id('e');
    auto const chat = one_on_one(dave, erin);
    w.teams->add_chat(chat, "oneOnOne", {dave, erin});
    auto const m = w.teams->post(chat, dave, "not for the bridge");
    REQUIRE(w.store.repos.inbox
                ->enqueue({{0, 1, msteams::SubscriptionId("sub"), msteams::store::Change::created,
                            msteams::TeamsThreadId(chat), m.id, 0}})
                .has_value());
    w.drain();
    CHECK(w.stats->skipped_no_connected_member == 1);
    CHECK(w.teams->calls("get_message") == 0);
    CHECK(w.teams->calls("get_chat") == 0);
    CHECK(w.inbox_size() == 0);
}

TEST_CASE("inbound: the bridge's own message coming back from Teams is dropped without reading Teams", "[sync]") {
    InboundWorld w;
    auto const first = w.teams->post(w.chat, w.bob_teams, "hi");
    w.notify(first.id);
    w.drain();
    // Alice's Mattermost post, sent to Teams by the outbound side and linked.
    auto const sent = w.teams->post(w.chat, w.alice_teams, "from Mattermost");
    REQUIRE(w.store.repos.db
                ->transact([&](msteams::store::Tx& tx) {
                    return w.store.repos.messages->put(
                        tx, {w.chat, sent.id, msteams::MmPostId("mmpost0000000000000000000x"), w.channel(),
                             msteams::store::Origin::mattermost, sent.last_modified_at, 0, false});
                })
                .has_value());
    auto const reads = w.teams->calls("get_message") + w.teams->calls("list_oldest_messages_since");
    w.notify(sent.id);
    w.drain();
    CHECK(w.messages() == std::vector<std::string>{"hi"});
    CHECK(w.stats->echoes == 1);
    CHECK(w.teams->calls("get_message") + w.teams->calls("list_oldest_messages_since") == reads);
}

TEST_CASE("inbound: a message Mattermost keeps refusing becomes a dead letter and the chat goes on", "[sync]") {
    InboundWorld w;
    auto const first = w.teams->post(w.chat, w.bob_teams, "fine");
    w.notify(first.id);
    w.drain();
    w.api->refuse_posts_with = "poison";
    auto const bad = w.teams->post(w.chat, w.bob_teams, "poison");
    auto const good = w.teams->post(w.chat, w.bob_teams, "after");
    w.notify(bad.id);
    w.notify(good.id);
    for (int attempt = 0; attempt < 10 && w.inbox_size() > 0; ++attempt) {
        w.make_due();  // retries wait on the wall clock; here they are due at once
        w.drain();
    }
    CHECK(w.messages() == std::vector<std::string>{"fine", "after"});
    CHECK(w.inbox_size() == 0);
    auto const letters = w.store.repos.dead_letters->newest(10).value();
    REQUIRE(letters.size() == 1);
    CHECK(letters[0].direction == msteams::store::Direction::inbound);
    CHECK(letters[0].payload.find(bad.id.str()) != std::string::npos);
    CHECK(letters[0].error.find("refused") != std::string::npos);
}

TEST_CASE("inbound: while a send to the chat is in flight its Teams changes wait, then go through", "[sync]") {
    InboundWorld w;
    auto const first = w.teams->post(w.chat, w.bob_teams, "hi");
    w.notify(first.id);
    w.drain();
    // The outbound side announced a send it has not linked yet.
    REQUIRE(w.store.repos.messages
                ->mark_pending({w.chat,
                                msteams::TeamsMessageId("outbound:42"),
                                {},
                                w.channel(),
                                msteams::store::Origin::mattermost,
                                0,
                                msteams::now_ms(),
                                false})
                .has_value());
    auto const m = w.teams->post(w.chat, w.bob_teams, "meanwhile");
    w.notify(m.id);
    CHECK(w.inbound->run_once().value());
    CHECK(w.messages() == std::vector<std::string>{"hi"});
    CHECK(w.inbox_size() == 1);  // delayed, not failed
    CHECK(w.stats->failures == 0);

    REQUIRE(w.store.repos.db
                ->transact([&](msteams::store::Tx& tx) {
                    return w.store.repos.messages->forget(tx, w.chat, msteams::TeamsMessageId("outbound:42"));
                })
                .has_value());
    w.make_due();
    w.drain();
    CHECK(w.messages() == std::vector<std::string>{"hi", "meanwhile"});
}

TEST_CASE("inbound: a catch-up reads a long gap oldest first in bounded chunks and loses nothing", "[sync]") {
    msteams::sync::InboundSettings settings;
    settings.max_messages_per_read = 10;
    InboundWorld w(settings);
    auto const first = w.teams->post(w.chat, w.bob_teams, "m0");
    w.notify(first.id);
    w.drain();
    std::vector<std::string> expected{"m0"};
    for (int i = 1; i <= 35; ++i) {
        w.teams->post(w.chat, i % 2 ? w.bob_teams : w.alice_teams, "m" + std::to_string(i));
        expected.push_back("m" + std::to_string(i));
    }
    REQUIRE(w.store.repos.inbox->enqueue({{0, 1, {}, msteams::store::Change::catchup, w.chat, {}, 0}}).has_value());
    w.drain();
    CHECK(w.messages() == expected);
    CHECK(w.stats->catchup_chunks >= 3);
    CHECK(w.teams->calls("list_oldest_messages_since") >= 4);
}

TEST_CASE("inbound: when the first member's token is refused, another connected member reads the chat", "[sync]") {
    InboundWorld w;
    // Carol is connected too, in a group chat with Alice and Bob.
    auto const carol_teams = teams_id('c');
    w.connect(k_carol, "carol", carol_teams);
    msteams::TeamsThreadId const group("19:groupchat@thread.v2");
    w.teams->add_chat(group, "group", {w.alice_teams, w.bob_teams, carol_teams});
    auto const m = w.teams->post(group, w.bob_teams, "to both");
    // A new chat is first read as a listing (its first messages in order).
    w.teams->fail_next("list_oldest_messages_since", msteams::Error{ErrorCode::unauthenticated, "401", 401, {}});
    REQUIRE(w.store.repos.inbox
                ->enqueue({{0, 1, msteams::SubscriptionId("sub"), msteams::store::Change::created, group, m.id, 0}})
                .has_value());
    w.drain();
    auto const portal = w.store.repos.portals->by_thread(group).value();
    REQUIRE(portal);
    auto const posts = w.api->posts_in(portal->mm_channel_id);
    REQUIRE(posts.size() == 1);
    CHECK(posts[0].message == "to both");
    CHECK(w.teams->calls("list_oldest_messages_since") == 2);
}

TEST_CASE("inbound: a Teams reply that quotes a message lands in that message's thread", "[sync]") {
    InboundWorld w;
    auto const root = w.teams->post(w.chat, w.bob_teams, "<p>question</p>");
    w.notify(root.id);
    w.drain();
    auto const answer = w.teams->reply(w.chat, w.alice_teams, "<p>answer</p>", root.id);
    w.notify(answer.id);
    w.drain();
    auto const posts = w.api->posts_in(w.channel());
    REQUIRE(posts.size() == 2);
    CHECK(posts[1].root_id == posts[0].id);
    CHECK(posts[1].message == "answer");
}

TEST_CASE("inbound: a Teams delete of a post already gone from Mattermost is recorded, not retried", "[sync]") {
    InboundWorld w;
    auto const m = w.teams->post(w.chat, w.bob_teams, "short-lived");
    w.notify(m.id);
    w.drain();
    auto const post_id = w.api->posts_in(w.channel()).at(0).id;
    {
        std::lock_guard lock(w.api->mutex);
        w.api->posts.erase(post_id.str());  // removed in Mattermost meanwhile (a data retention job, an admin)
    }
    w.teams->remove(w.chat, m.id);
    w.notify(m.id, msteams::store::Change::deleted);
    w.drain();
    CHECK(w.inbox_size() == 0);
    CHECK(w.stats->failures == 0);
    auto const link = w.store.repos.messages->by_post(post_id).value();
    REQUIRE(link);
    CHECK(link->deleted);
}
