// Mattermost → Teams, without network or PostgreSQL: sync::Outbound over FakeApi, FakeTeams and the in-memory store.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <memory>
#include <string>
#include <vector>

#include "test_ids.hpp"
#include "fakes/pipeline_world.hpp"
#include "log_capture.hpp"
#include "sync/inbound.hpp"
#include "sync/outbound.hpp"

using msteams::sync::OutboundEvent;
using msteams::test::one_on_one;
using msteams::test::PipelineWorld;
using msteams::test::teams_id;

namespace {

msteams::MmUserId const k_alice("alice00000000000000000000a");
msteams::MmUserId const k_bob("bob0000000000000000000000b");

// The text of a Teams message's HTML, tags dropped.
std::string text_of(std::string const& html) {
    std::string out;
    bool tag = false;
    for (char c : html) {
        if (c == '<' || c == '>') {
            tag = c == '<';
        } else if (!tag) {
            out += c;
        }
    }
    return out;
}

struct OutboundWorld : PipelineWorld {
    msteams::TeamsUserId alice_teams{teams_id('a')};
    msteams::TeamsUserId bob_teams{teams_id('b')};
    msteams::TeamsThreadId chat{one_on_one(teams_id('a'), teams_id('b'))};
    msteams::MmChannelId dm;
    std::int64_t const start = msteams::now_ms();  // the bridge's clock stands still but for `skew`
    std::int64_t t0 = start - 10'000;              // posts made a while ago: settled
    std::shared_ptr<std::atomic<std::int64_t>> skew = std::make_shared<std::atomic<std::int64_t>>(0);
    std::unique_ptr<msteams::sync::Outbound> outbound;

    OutboundWorld() {
        connect(k_alice, "alice", alice_teams);
        connect(k_bob, "bob", bob_teams);
        teams->add_chat(chat, "oneOnOne", {alice_teams, bob_teams});
        dm = api->get_direct_channel(k_alice, k_bob)->id;
        msteams::sync::OutboundSettings settings;
        settings.bot_user_id = msteams::MmUserId("bot0000000000000000000000b");
        settings.clock_ms = [start = start, skew = skew] { return start + skew->load(); };
        outbound =
            std::make_unique<msteams::sync::Outbound>(settings, api, store.repos, connections, teams, stats, people);
    }
    // A post by `user` in the DM, `ms` after t0 (not yet told to the bridge).
    msteams::mm::Post post(msteams::MmUserId const& user, std::string const& message, std::int64_t ms) {
        msteams::mm::Post p;
        p.user_id = user;
        p.channel_id = dm;
        p.message = message;
        auto created = api->create_post(p).value();
        created.create_at = created.update_at = t0 + ms;
        std::lock_guard lock(api->mutex);
        api->posts[created.id.str()] = created;
        return created;
    }
    void hook(OutboundEvent::Kind kind, msteams::mm::Post const& p, msteams::mm::Post const& old = {}) {
        OutboundEvent e;
        e.kind = kind;
        e.post = p;
        e.old_post = old;
        REQUIRE(outbound->enqueue({e}).has_value());
    }
    int drain() {
        return msteams::test::run_until_idle([this] { return outbound->run_once(); });
    }
    [[nodiscard]] std::vector<std::string> in_teams() {
        std::vector<std::string> out;
        for (auto const& m : teams->messages(chat)) {
            out.push_back(m.deleted_at ? "(deleted)" : text_of(m.body));
        }
        return out;
    }
    [[nodiscard]] std::int64_t outbox_size() { return store.repos.outbox->size().value(); }
};

}  // namespace

TEST_CASE("outbound: posts whose hooks arrive reversed reach Teams in the order they were written, each once",
          "[sync]") {
    OutboundWorld w;
    auto const one = w.post(k_alice, "one", 1);
    auto const two = w.post(k_bob, "two", 2);
    auto const three = w.post(k_alice, "three", 3);
    w.hook(OutboundEvent::Kind::posted, three);
    w.hook(OutboundEvent::Kind::posted, two);
    w.hook(OutboundEvent::Kind::posted, one);
    w.hook(OutboundEvent::Kind::posted, two);  // a hook delivered twice
    w.drain();
    CHECK(w.in_teams() == std::vector<std::string>{"one", "two", "three"});
    auto const sent = w.teams->messages(w.chat);
    CHECK(sent[1].from.id == w.bob_teams);  // each as its author
    CHECK(w.teams->calls("send_message") == 3);
    CHECK(w.outbox_size() == 0);
    auto const link = w.store.repos.messages->by_post(two.id).value();
    REQUIRE(link);
    CHECK(link->teams_message_id == sent[1].id);
    CHECK(link->origin == msteams::store::Origin::mattermost);
}

TEST_CASE("outbound: a post goes to Teams as soon as its hook arrives, with no settling wait", "[sync]") {
    OutboundWorld w;
    w.t0 = w.start;
    w.hook(OutboundEvent::Kind::posted, w.post(k_alice, "before", -100));  // sent already
    w.drain();
    w.hook(OutboundEvent::Kind::posted, w.post(k_bob, "now", 0));
    CHECK(w.outbound->run_once().value());  // one step, the clock unchanged
    CHECK(w.in_teams() == std::vector<std::string>{"before", "now"});
    CHECK(w.stats->outbound_order_waits == 0);
}

TEST_CASE("outbound: a post whose earlier neighbour's hook is still on its way waits for it, then both go in order",
          "[sync]") {
    OutboundWorld w;
    w.t0 = w.start;
    auto const one = w.post(k_alice, "one", 0);
    auto const two = w.post(k_bob, "two", 1);
    w.hook(OutboundEvent::Kind::posted, two);  // Mattermost ran the second post's hook first
    w.drain();
    CHECK(w.in_teams().empty());
    CHECK(w.stats->outbound_order_waits == 1);
    CHECK(w.outbox_size() == 1);
    w.hook(OutboundEvent::Kind::posted, one);
    w.drain();
    CHECK(w.in_teams() == std::vector<std::string>{"one", "two"});
    CHECK(w.teams->calls("send_message") == 2);
    CHECK(w.outbox_size() == 0);
}

TEST_CASE("outbound: a post waits for an earlier one only while a hook could still be on its way", "[sync]") {
    OutboundWorld w;
    w.t0 = w.start;
    // Posts the bridge does not send hold nothing back: a system post, the bot's, one the bridge wrote for Teams.
    auto system = w.post(k_alice, "joined", 0);
    auto bot = w.post(k_alice, "bot says", 1);
    auto bridged = w.post(k_alice, "from Teams", 2);
    {
        std::lock_guard lock(w.api->mutex);
        w.api->posts[system.id.str()].type = "system_join_channel";
        w.api->posts[bot.id.str()].user_id = msteams::MmUserId("bot0000000000000000000000b");
        w.api->posts[bridged.id.str()].props_json = R"({"msteams_message_id":"1700000000000"})";
    }
    w.hook(OutboundEvent::Kind::posted, w.post(k_bob, "reply", 3));
    w.drain();
    CHECK(w.in_teams() == std::vector<std::string>{"reply"});
    CHECK(w.stats->outbound_order_waits == 0);
    // An earlier post whose hook has not come holds the next one back while its hook may be on its way; once it has
    // settled its hook is taken as lost (its server crashed): it is queued without it, and goes first.
    w.post(k_alice, "lost", 10);
    w.hook(OutboundEvent::Kind::posted, w.post(k_bob, "after", 11));
    w.drain();
    CHECK(w.in_teams().size() == 1);
    CHECK(w.stats->outbound_hooks_recovered == 0);
    *w.skew += 600;
    w.drain();
    CHECK(w.in_teams() == std::vector<std::string>{"reply", "lost", "after"});
    CHECK(w.stats->outbound_hooks_recovered == 1);
    CHECK(w.outbox_size() == 0);
}

TEST_CASE("outbound: an edit and a delete in Mattermost follow the message to Teams", "[sync]") {
    OutboundWorld w;
    auto const p = w.post(k_alice, "draft", 1);
    w.hook(OutboundEvent::Kind::posted, p);
    w.drain();
    auto edited = p;
    edited.message = "final";
    edited.update_at = p.create_at + 5;
    w.hook(OutboundEvent::Kind::edited, edited, p);
    w.drain();
    CHECK(w.in_teams() == std::vector<std::string>{"final"});

    auto deleted = edited;
    deleted.delete_at = edited.update_at + 5;
    w.hook(OutboundEvent::Kind::deleted, deleted);
    w.drain();
    CHECK(w.in_teams() == std::vector<std::string>{"(deleted)"});
    CHECK(w.stats->sent_edits == 1);
    CHECK(w.stats->sent_deletes == 1);
}

TEST_CASE("outbound: a send whose answer was lost is found in Teams on the retry, not sent twice", "[sync]") {
    OutboundWorld w;
    auto const p = w.post(k_alice, "exactly once", 1);
    w.hook(OutboundEvent::Kind::posted, p);
    w.teams->lose_next_answer();
    REQUIRE(w.outbound->run_once().value());  // fails: the outcome is unknown
    CHECK(w.outbox_size() == 1);
    CHECK(w.in_teams() == std::vector<std::string>{"exactly once"});
    w.make_due();
    w.drain();
    CHECK(w.in_teams() == std::vector<std::string>{"exactly once"});
    CHECK(w.teams->calls("send_message") == 1);
    CHECK(w.outbox_size() == 0);
    auto const link = w.store.repos.messages->by_post(p.id).value();
    REQUIRE(link);
    CHECK(link->teams_message_id == w.teams->messages(w.chat).at(0).id);
}

TEST_CASE("outbound: the echo of a sent message from Teams does not come back into Mattermost", "[sync]") {
    OutboundWorld w;
    msteams::sync::InboundSettings settings;
    settings.bot_user_id = msteams::MmUserId("bot0000000000000000000000b");
    msteams::sync::Inbound inbound(settings, w.api, w.store.repos, w.connections, w.teams,
                                   std::make_shared<msteams::test::FakeAppTokens>(), w.people, w.stats);
    auto const p = w.post(k_alice, "round trip", 1);
    w.hook(OutboundEvent::Kind::posted, p);
    w.drain();
    auto const sent = w.teams->messages(w.chat).at(0);
    REQUIRE(w.store.repos.inbox
                ->enqueue({{0, 1, msteams::SubscriptionId("sub"), msteams::store::Change::created, w.chat, sent.id, 0}})
                .has_value());
    msteams::test::run_until_idle([&] { return inbound.run_once(); });
    CHECK(w.api->posts_in(w.dm).size() == 1);  // the original only
    CHECK(w.stats->echoes == 1);
}

TEST_CASE("outbound: a Mattermost reaction is the same user's reaction in Teams, and so is its removal", "[sync]") {
    OutboundWorld w;
    auto const p = w.post(k_alice, "lunch?", 1);
    w.hook(OutboundEvent::Kind::posted, p);
    w.drain();
    msteams::mm::Reaction r;
    r.user_id = k_bob;
    r.post_id = p.id;
    r.channel_id = w.dm;
    r.emoji_name = "+1";
    r.create_at = w.t0 + 2;
    OutboundEvent e;
    e.kind = OutboundEvent::Kind::reacted;
    e.reaction = r;
    REQUIRE(w.outbound->enqueue({e}).has_value());
    w.drain();
    auto const reactions = w.teams->messages(w.chat).at(0).reactions;
    REQUIRE(reactions.size() == 1);
    CHECK(reactions[0].reaction_type == "like");
    CHECK(reactions[0].user_id == w.bob_teams);

    e.kind = OutboundEvent::Kind::unreacted;
    REQUIRE(w.outbound->enqueue({e}).has_value());
    *w.skew += 1'000;  // a removal is dated when its hook runs: it is sent once settled
    w.drain();
    CHECK(w.teams->messages(w.chat).at(0).reactions.empty());
}

TEST_CASE("outbound: an author who is not connected is told so, and nothing is sent", "[sync]") {
    OutboundWorld w;
    REQUIRE(w.store.repos.accounts->disconnect(k_bob).has_value());
    auto const p = w.post(k_bob, "hello?", 1);
    w.hook(OutboundEvent::Kind::posted, p);
    w.drain();
    CHECK(w.in_teams().empty());
    CHECK(w.stats->outbound_not_connected == 1);
    std::lock_guard lock(w.api->mutex);
    REQUIRE(w.api->ephemerals.size() == 1);
    CHECK(w.api->ephemerals[0].first == k_bob);
    CHECK(w.api->ephemerals[0].second.message.find("/msteams connect") != std::string::npos);
}

TEST_CASE("outbound: a change Teams refuses for good becomes a dead letter and the channel goes on", "[sync]") {
    OutboundWorld w;
    auto const bad = w.post(k_alice, "refused", 1);
    auto const good = w.post(k_alice, "after", 2);
    w.teams->fail_next("send_message", msteams::Error{msteams::ErrorCode::invalid_argument, "400: bad body", 400, {}});
    w.hook(OutboundEvent::Kind::posted, bad);
    w.hook(OutboundEvent::Kind::posted, good);
    w.drain();
    CHECK(w.in_teams() == std::vector<std::string>{"after"});
    auto const letters = w.store.repos.dead_letters->newest(10).value();
    REQUIRE(letters.size() == 1);
    CHECK(letters[0].direction == msteams::store::Direction::outbound);
    std::lock_guard lock(w.api->mutex);
    REQUIRE(w.api->ephemerals.size() == 1);
    CHECK(w.api->ephemerals[0].second.message.find("could not be delivered") != std::string::npos);
}

TEST_CASE("outbound: a post's files are attached in Teams, and one over the limit is left out and its author told",
          "[sync]") {
    OutboundWorld w;
    auto const small = w.api->upload_file(k_alice, w.dm, "notes.txt", "some notes").value();
    auto const big = w.api->upload_file(k_alice, w.dm, "video.mp4", std::string(21 << 20, 'v')).value();
    auto p = w.post(k_alice, "see attached", 1);
    p.file_ids = {small.id, big.id};
    w.hook(OutboundEvent::Kind::posted, p);
    w.drain();
    auto const sent = w.teams->messages(w.chat);
    REQUIRE(sent.size() == 1);
    REQUIRE(sent[0].attachments.size() == 1);
    CHECK(sent[0].attachments[0].name == "notes.txt");
    CHECK(sent[0].attachments[0].content_type == "reference");
    CHECK(text_of(sent[0].body) == "see attached");
    std::lock_guard lock(w.api->mutex);
    REQUIRE(w.api->ephemerals.size() == 1);
    CHECK(w.api->ephemerals[0].second.message.find("video.mp4") != std::string::npos);
}

TEST_CASE("outbound: which hook events become outbox items, keyed once and dated when they happened", "[sync]") {
    using msteams::sync::outbox_item_for;
    msteams::MmUserId const bot("bot0000000000000000000000b");
    msteams::mm::Post p;
    p.id = msteams::MmPostId("post-1");
    p.channel_id = msteams::MmChannelId("dm-1");
    p.user_id = k_alice;
    p.message = "hello";
    p.create_at = 100;
    p.update_at = 100;
    OutboundEvent posted{OutboundEvent::Kind::posted, p, {}, {}};
    auto const item = outbox_item_for(posted, 999, bot);
    REQUIRE(item);
    CHECK(item->kind == msteams::store::OutboxKind::post);
    CHECK(item->sort_at == 100);
    CHECK(item->event_key == "post:post-1");
    CHECK(item->payload.find("\"message\":\"hello\"") != std::string::npos);

    // Never to Teams: system posts, the bot's, and what the bridge posted for Teams.
    auto system = posted;
    system.post.type = "system_join_channel";
    CHECK_FALSE(outbox_item_for(system, 999, bot));
    auto by_bot = posted;
    by_bot.post.user_id = bot;
    CHECK_FALSE(outbox_item_for(by_bot, 999, bot));
    auto bridged = posted;
    bridged.post.props_json = R"({"msteams_message_id":"1700000000000"})";
    CHECK_FALSE(outbox_item_for(bridged, 999, bot));

    // An update that is not an edit (a pin, a reaction count) is not sent; an edit is keyed by its time.
    auto pinned = p;
    pinned.update_at = 200;
    CHECK_FALSE(outbox_item_for({OutboundEvent::Kind::edited, pinned, p, {}}, 999, bot));
    auto edited = pinned;
    edited.message = "hello again";
    auto const edit = outbox_item_for({OutboundEvent::Kind::edited, edited, p, {}}, 999, bot);
    REQUIRE(edit);
    CHECK(edit->kind == msteams::store::OutboxKind::edit);
    CHECK(edit->sort_at == 200);
    CHECK(edit->event_key == "edit:post-1:200");
    auto removed = edited;
    removed.delete_at = 300;
    auto const del = outbox_item_for({OutboundEvent::Kind::deleted, removed, {}, {}}, 999, bot);
    REQUIRE(del);
    CHECK(del->kind == msteams::store::OutboxKind::remove);
    CHECK(del->sort_at == 300);

    // A reaction is dated by its creation; its removal by when the hook ran. The bot's own are not sent.
    msteams::mm::Reaction r{k_bob, msteams::MmPostId("post-1"), "+1", 150, msteams::MmChannelId("dm-1")};
    auto const react = outbox_item_for({OutboundEvent::Kind::reacted, {}, {}, r}, 999, bot);
    REQUIRE(react);
    CHECK(react->kind == msteams::store::OutboxKind::react);
    CHECK(react->sort_at == 150);
    auto const unreact = outbox_item_for({OutboundEvent::Kind::unreacted, {}, {}, r}, 999, bot);
    REQUIRE(unreact);
    CHECK(unreact->kind == msteams::store::OutboxKind::unreact);
    CHECK(unreact->sort_at == 999);
    r.user_id = bot;
    CHECK_FALSE(outbox_item_for({OutboundEvent::Kind::reacted, {}, {}, r}, 999, bot));
}

TEST_CASE("outbound: a group message goes to the Teams group chat of exactly its members, found when it exists",
          "[sync]") {
    OutboundWorld w;
    msteams::MmUserId const carol("carol00000000000000000000c");
    w.connect(carol, "carol", teams_id('c'));
    // In Teams: a group chat of the same three people, and another with someone else too.
    w.teams->add_chat("19:other@thread.v2", "group", {w.alice_teams, w.bob_teams, teams_id('c'), teams_id('d')});
    w.teams->add_chat("19:trio@thread.v2", "group", {w.alice_teams, w.bob_teams, teams_id('c')});
    auto const gm = w.api->get_group_channel({k_alice, k_bob, carol}).value();
    msteams::mm::Post p;
    p.user_id = k_alice;
    p.channel_id = gm.id;
    p.message = "all three";
    auto created = w.api->create_post(p).value();
    created.create_at = w.t0;
    w.hook(OutboundEvent::Kind::posted, created);
    w.drain();
    REQUIRE(w.teams->messages("19:trio@thread.v2").size() == 1);
    CHECK(w.teams->messages("19:other@thread.v2").empty());
    CHECK(w.teams->calls("create_chat") == 0);
    CHECK(w.store.repos.portals->by_channel(gm.id).value()->teams_thread_id == "19:trio@thread.v2");
}

TEST_CASE("outbound: an edit or delete of a post Teams never had, or of one already deleted, sends nothing", "[sync]") {
    OutboundWorld w;
    auto p = w.post(k_alice, "never bridged", 1);  // its hook was lost, say
    auto edited = p;
    edited.message = "edited";
    edited.update_at = p.create_at + 1;
    w.hook(OutboundEvent::Kind::edited, edited, p);
    auto deleted = edited;
    deleted.delete_at = edited.update_at + 1;
    deleted.update_at = deleted.delete_at;
    {
        std::lock_guard lock(w.api->mutex);
        w.api->posts[p.id.str()] = deleted;  // as Mattermost lists it from now on: never recovered
    }
    w.hook(OutboundEvent::Kind::deleted, deleted);
    w.drain();
    CHECK(w.in_teams().empty());
    CHECK(w.teams->calls("update_message") == 0);
    CHECK(w.teams->calls("soft_delete_message") == 0);
    CHECK(w.outbox_size() == 0);

    // Deleted once in Teams: a second delete (a replayed hook with a new time) is not sent again.
    auto const q = w.post(k_alice, "bridged", 10);
    w.hook(OutboundEvent::Kind::posted, q);
    w.drain();
    auto gone = q;
    gone.delete_at = q.create_at + 5;
    w.hook(OutboundEvent::Kind::deleted, gone);
    w.drain();
    REQUIRE(w.store.repos.outbox
                ->enqueue({[&] {
                    auto again =
                        msteams::sync::outbox_item_for({OutboundEvent::Kind::deleted, gone, {}, {}}, 0, {}).value();
                    again.event_key += ":replayed";
                    return again;
                }()})
                .has_value());
    w.drain();
    CHECK(w.teams->calls("soft_delete_message") == 1);
    CHECK(w.in_teams() == std::vector<std::string>{"(deleted)"});
}

TEST_CASE("outbound: a post whose hook never came is sent before the later post that found it", "[sync]") {
    OutboundWorld w;
    msteams::test::LogCapture logs;
    w.t0 = w.start - 2'000;
    auto const lost = w.post(k_alice, "lost", 0);  // saved, then its server died before the hook ran
    w.hook(OutboundEvent::Kind::posted, w.post(k_bob, "later", 1'800));
    w.drain();
    CHECK(w.in_teams() == std::vector<std::string>{"lost", "later"});
    CHECK(w.stats->outbound_hooks_recovered == 1);
    CHECK(w.stats->outbound_order_waits == 1);
    CHECK(w.teams->calls("send_message") == 2);
    CHECK(w.outbox_size() == 0);
    auto const link = w.store.repos.messages->by_post(lost.id).value();
    REQUIRE(link);
    CHECK(link->teams_message_id == w.teams->messages(w.chat).at(0).id);
    CHECK_THAT(logs.sink->text(),
               Catch::Contains("queued a post whose hook never reached the bridge") && Catch::Contains(lost.id.str()));
}

TEST_CASE("outbound: a hook that arrives after its post was recovered and sent sends nothing", "[sync]") {
    OutboundWorld w;
    w.t0 = w.start - 2'000;
    auto const lost = w.post(k_alice, "lost", 0);
    w.hook(OutboundEvent::Kind::posted, w.post(k_bob, "later", 1'800));
    w.drain();
    REQUIRE(w.in_teams() == std::vector<std::string>{"lost", "later"});
    // The server was slow, not dead: the hook comes after all, even twice.
    w.hook(OutboundEvent::Kind::posted, lost);
    w.hook(OutboundEvent::Kind::posted, lost);
    CHECK(w.outbox_size() == 0);
    w.drain();
    CHECK(w.in_teams() == std::vector<std::string>{"lost", "later"});
    CHECK(w.teams->calls("send_message") == 2);
    CHECK(w.stats->outbox_enqueued == 2);
}

TEST_CASE("outbound: a post skipped on purpose or set aside does not hold later posts back", "[sync]") {
    OutboundWorld w;
    w.t0 = w.start;
    REQUIRE(w.store.repos.accounts->disconnect(k_bob).has_value());
    w.hook(OutboundEvent::Kind::posted, w.post(k_bob, "not connected", 0));
    w.drain();
    CHECK(w.stats->outbound_not_connected == 1);
    w.teams->fail_next("send_message", msteams::Error{msteams::ErrorCode::invalid_argument, "400: bad body", 400, {}});
    w.hook(OutboundEvent::Kind::posted, w.post(k_alice, "refused", 1));
    w.drain();
    CHECK(w.store.repos.dead_letters->count().value() == 1);
    // Neither is sent nor on its way: the next post goes at once, the clock unchanged.
    w.hook(OutboundEvent::Kind::posted, w.post(k_alice, "after", 2));
    CHECK(w.outbound->run_once().value());
    CHECK(w.in_teams() == std::vector<std::string>{"after"});
    CHECK(w.stats->outbound_order_waits == 0);
    CHECK(w.stats->outbound_hooks_recovered == 0);
}

TEST_CASE("outbound: an earlier post queued while a later one was being checked goes first", "[sync]") {
    OutboundWorld w;
    w.t0 = w.start;
    auto const one = w.post(k_alice, "one", 0);
    auto const two = w.post(k_bob, "two", 1);
    w.hook(OutboundEvent::Kind::posted, two);
    // The first post's hook lands after the second post was claimed, before its channel's posts are read.
    w.api->before_next_posts_since = [&] { w.hook(OutboundEvent::Kind::posted, one); };
    w.drain();
    CHECK(w.in_teams() == std::vector<std::string>{"one", "two"});
    CHECK(w.stats->outbound_order_waits == 1);
    CHECK(w.stats->outbound_hooks_recovered == 0);
}

TEST_CASE("outbound: a post already in Teams is not sent twice, whatever its outbox key", "[sync]") {
    OutboundWorld w;
    auto const p = w.post(k_alice, "once", 1);
    w.hook(OutboundEvent::Kind::posted, p);
    w.drain();
    auto again = msteams::sync::outbox_item_for({OutboundEvent::Kind::posted, p, {}, {}}, 0, {}).value();
    again.event_key += ":replayed";
    REQUIRE(w.store.repos.outbox->enqueue({again}).value() == 1);
    w.drain();
    CHECK(w.in_teams() == std::vector<std::string>{"once"});
    CHECK(w.teams->calls("send_message") == 1);
    CHECK(w.stats->outbound_duplicates == 1);
    CHECK(w.outbox_size() == 0);
}

TEST_CASE("outbound: a hook repeated after the outbox forgot its key is dropped as a duplicate, not sent twice",
          "[sync]") {
    OutboundWorld w;
    auto const p = w.post(k_alice, "once", 1);
    w.hook(OutboundEvent::Kind::posted, p);
    w.drain();
    REQUIRE(w.outbound->forget_seen_events().has_value());
    w.hook(OutboundEvent::Kind::posted, p);  // within the hour: known, not queued
    CHECK(w.outbox_size() == 0);
    *w.skew += 60 * 60'000 + 1;
    REQUIRE(w.outbound->forget_seen_events().has_value());
    CHECK(w.store.with([](msteams::test::MemoryTables& t) { return t.outbox_seen.size(); }) == 0);
    w.hook(OutboundEvent::Kind::posted, p);  // forgotten: queued again, and found in Teams already
    CHECK(w.outbox_size() == 1);
    w.drain();
    CHECK(w.teams->calls("send_message") == 1);
    CHECK(w.stats->outbound_duplicates == 1);
    CHECK(w.outbox_size() == 0);
}

TEST_CASE("outbound: recover_since queues the unsent posts of every chat portal once", "[sync]") {
    OutboundWorld w;
    w.t0 = w.start - 60'000;  // long settled: no claim looks for earlier posts
    msteams::MmUserId const carol("carol00000000000000000000c");
    w.connect(carol, "carol", teams_id('c'));
    msteams::TeamsThreadId const trio("19:zz-trio@thread.v2");
    w.teams->add_chat(trio, "group", {w.alice_teams, w.bob_teams, teams_id('c')});
    auto const gm = w.api->get_group_channel({k_alice, k_bob, carol}).value();
    auto const portal = [&](msteams::TeamsThreadId const& thread, msteams::MmChannelId const& channel) {
        REQUIRE(w.store.repos.portals
                    ->add({thread, msteams::store::PortalKind::chat, "", channel, k_alice, w.start - 100'000, 0})
                    .has_value());
    };
    portal(w.chat, w.dm);
    portal(trio, gm.id);
    for (int i = 0; i < 200; ++i) {  // the group chat is on the second page
        portal(msteams::TeamsThreadId("19:filler-" + std::to_string(1000 + i)),
               msteams::MmChannelId("filler" + std::to_string(1000 + i)));
    }
    // A DM between alice and carol, not bridged: its posts are not looked at.
    auto const unbridged = w.api->get_direct_channel(k_alice, carol)->id;

    w.post(k_alice, "before the node was lost", -5);
    w.hook(OutboundEvent::Kind::posted, w.post(k_alice, "sent", 1));
    w.drain();
    w.post(k_bob, "lost one", 2);
    auto system = w.post(k_alice, "joined", 3);
    auto deleted = w.post(k_alice, "deleted", 4);
    w.post(k_bob, "lost two", 5);
    w.hook(OutboundEvent::Kind::posted, w.post(k_alice, "queued", 6));
    w.post(k_alice, "its hook may still come", 59'900);  // 100 ms old
    {
        std::lock_guard lock(w.api->mutex);
        w.api->posts[system.id.str()].type = "system_join_channel";
        w.api->posts[deleted.id.str()].delete_at = w.t0 + 10;
        w.api->posts[deleted.id.str()].update_at = w.t0 + 10;
    }
    auto const in_channel = [&](msteams::MmChannelId const& channel, std::string const& message, std::int64_t ms) {
        msteams::mm::Post p;
        p.user_id = k_alice;
        p.channel_id = channel;
        p.message = message;
        auto created = w.api->create_post(p).value();
        created.create_at = created.update_at = w.t0 + ms;
        std::lock_guard lock(w.api->mutex);
        w.api->posts[created.id.str()] = created;
    };
    in_channel(gm.id, "lost in the group", 7);
    in_channel(unbridged, "not bridged", 8);

    REQUIRE(w.outbound->recover_since(w.t0).has_value());
    CHECK(w.stats->outbound_hooks_recovered == 3);
    CHECK(w.outbox_size() == 4);                           // and "queued"
    REQUIRE(w.outbound->recover_since(w.t0).has_value());  // again: nothing new
    CHECK(w.stats->outbound_hooks_recovered == 3);
    CHECK(w.outbox_size() == 4);

    w.drain();
    CHECK(w.in_teams() == std::vector<std::string>{"sent", "lost one", "lost two", "queued"});
    REQUIRE(w.teams->messages(trio).size() == 1);
    CHECK(text_of(w.teams->messages(trio).at(0).body) == "lost in the group");
    CHECK(w.outbox_size() == 0);
}
