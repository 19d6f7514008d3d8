#include <catch2/catch.hpp>

#include <thread>

#include "test_ids.hpp"
#include "fakes/memory_store.hpp"
#include "pg_support.hpp"
#include "store/repositories.hpp"

using msteams::store::InboxItem;
using msteams::test::TempDatabase;

namespace {

InboxItem item(std::string const& thread, std::string const& message,
               msteams::store::Change change = msteams::store::Change::created) {
    return InboxItem{
        0, 1, msteams::SubscriptionId("sub"), change, msteams::TeamsThreadId(thread), msteams::TeamsMessageId(message),
        0};
}

template <class T>
T must(msteams::Result<T> r) {
    INFO((r ? std::string() : r.error().message));
    REQUIRE(r.has_value());
    return std::move(*r);
}

// A post waiting in the outbox of `channel`, keyed by `key`, that happened at `sort_at`.
msteams::store::OutboxItem outbox_post(std::string const& channel, std::string const& key, std::int64_t sort_at) {
    msteams::store::OutboxItem i;
    i.created_at = 1;
    i.channel_id = msteams::MmChannelId(channel);
    i.kind = msteams::store::OutboxKind::post;
    i.post_id = msteams::MmPostId(key);
    i.user_id = msteams::MmUserId("alice");
    i.payload = "{}";
    i.event_key = "post:" + key;
    i.sort_at = sort_at;
    return i;
}

// An edit of `key` in `channel` made at `sort_at`.
msteams::store::OutboxItem outbox_edit(std::string const& channel, std::string const& key, std::int64_t sort_at) {
    auto i = outbox_post(channel, key, sort_at);
    i.kind = msteams::store::OutboxKind::edit;
    i.event_key = "edit:" + key + ":" + std::to_string(sort_at);
    return i;
}

}  // namespace

// Runs `check` against PostgreSQL ([pg]) and against the in-memory store the pipelines' unit tests use: the fake
// keeps the real contract.
#define STORE_CONTRACT(name, check)                                          \
    TEST_CASE(name, "[pg]") {                                                \
        TempDatabase temp;                                                   \
        check(msteams::store::postgres_repositories(temp.open_migrated(6))); \
    }                                                                        \
    TEST_CASE(name " (in memory)", "[store]") {                              \
        msteams::test::MemoryStore memory;                                   \
        check(memory.repos);                                                 \
    }

namespace {
// A rich item waits out its order hold unclaimed, unless a ready item of its chat leads a batch: then it comes along,
// so that a basic notification and the rich copy of the same message are handled together.
void inbox_holds_rich_items(msteams::store::Repositories const& repos) {
    auto rich = item("chat-r", "1");
    rich.content = R"({"data":"x"})";
    rich.not_before = 1000;
    REQUIRE(repos.inbox->enqueue({rich}));
    CHECK(must(repos.inbox->claim(999, 999 + 60'000, 100)).empty());
    auto const alone = must(repos.inbox->claim(1000, 1000 + 60'000, 100));
    REQUIRE(alone.size() == 1);
    CHECK(alone[0].content == rich.content);

    auto basic = item("chat-s", "2");
    auto copy = item("chat-s", "2");
    copy.content = R"({"data":"y"})";
    copy.not_before = 2000;
    REQUIRE(repos.inbox->enqueue({basic, copy}));
    auto const both = must(repos.inbox->claim(1500, 1500 + 60'000, 100));
    REQUIRE(both.size() == 2);
    CHECK(both[0].content.empty());
    CHECK(both[1].content == copy.content);
}
}  // namespace

STORE_CONTRACT("store: a rich item waits out its hold unless a ready item of its chat leads", inbox_holds_rich_items)

namespace {
void inbox_hands_out_threads(msteams::store::Repositories const& repos) {
    REQUIRE(repos.inbox->enqueue({item("chat-a", "1"), item("chat-b", "1"), item("chat-a", "2"), item("chat-a", "3")}));

    // Worker 1 holds chat-a (all of its ready items, in order) while worker 2 gets chat-b only.
    auto const first = must(repos.inbox->claim(10, 10 + 60'000, 100));
    auto const second = must(repos.inbox->claim(10, 10 + 60'000, 100));
    REQUIRE(first.size() == 3);
    CHECK(first[0].thread_id == "chat-a");
    CHECK(first[0].message_id == "1");
    CHECK(first[2].message_id == "3");
    REQUIRE(second.size() == 1);
    CHECK(second[0].thread_id == "chat-b");
    // A new item of a held chat waits for its holder.
    REQUIRE(repos.inbox->enqueue({item("chat-a", "4")}));
    CHECK(must(repos.inbox->claim(20, 20 + 60'000, 100)).empty());
}
}  // namespace

STORE_CONTRACT("store: the inbox hands out one thread at a time, in order, to one worker", inbox_hands_out_threads)

namespace {
void catch_up_start_kept(msteams::store::Repositories const& repos) {
    auto discover = item("chat-new", "");
    discover.change_type = msteams::store::Change::catchup;
    discover.message_id = {};
    discover.since_ms = 1'700'000'000'000;
    auto plain = discover;
    plain.thread_id = msteams::TeamsThreadId("chat-old");
    plain.since_ms = 0;
    REQUIRE(repos.inbox->enqueue({discover, plain}));
    auto const first = must(repos.inbox->claim(10, 10 + 60'000, 100));
    auto const second = must(repos.inbox->claim(10, 10 + 60'000, 100));
    REQUIRE(first.size() == 1);
    REQUIRE(second.size() == 1);
    CHECK(first[0].since_ms == 1'700'000'000'000);
    CHECK(first[0].message_id.empty());
    CHECK(second[0].since_ms == 0);
    CHECK(second[0].message_id.empty());
    // Set aside and put back, a catch-up keeps where it starts.
    REQUIRE(repos.db->transact([&](msteams::store::Tx& tx) { return repos.inbox->dead_letter(tx, first, "x", 20); }));
    CHECK(must(repos.dead_letters->retry(std::nullopt, 30)) == 1);
    auto const again = must(repos.inbox->claim(40, 40 + 60'000, 100));
    REQUIRE(again.size() == 1);
    CHECK(again[0].since_ms == 1'700'000'000'000);
}
}  // namespace

STORE_CONTRACT("store: a catch-up of a newly seen chat keeps the time it reads from, through a dead letter too",
               catch_up_start_kept)

TEST_CASE("store: a claimed chat holds no transaction open, and a lapsed lease comes back with its attempt counted",
          "[pg]") {
    TempDatabase temp;
    msteams::test::AdminConnection admin;
    auto repos = msteams::store::postgres_repositories(temp.open_migrated());
    REQUIRE(repos.inbox->enqueue({item("chat-a", "1"), item("chat-a", "2")}));
    auto const claimed = must(repos.inbox->claim(10, 1000, 100));
    REQUIRE(claimed.size() == 2);
    CHECK(claimed[0].attempts == 1);
    // The worker now talks to Graph and Mattermost: no session of this database is inside a transaction.
    CHECK(admin.run("SELECT count(*) FROM pg_stat_activity WHERE datname = '" + temp.name() +
                    "' AND state LIKE 'idle in transaction%'") == "0");
    CHECK(must(repos.inbox->claim(999, 2000, 100)).empty());  // still held
    // The worker died: after its lease the chat is handed out again, and the crash counted as an attempt.
    auto const again = must(repos.inbox->claim(1000, 2000, 100));
    REQUIRE(again.size() == 2);
    CHECK(again[0].attempts == 2);
}

namespace {
void inbox_postpones_and_removes(msteams::store::Repositories const& repos) {
    REQUIRE(repos.inbox->enqueue({item("chat-a", "1"), item("chat-a", "2")}));
    std::vector<std::int64_t> ids;
    for (auto const& i : must(repos.inbox->claim(10, 60'000, 100))) {
        ids.push_back(i.id);
    }
    REQUIRE(ids.size() == 2);
    REQUIRE(repos.inbox->postpone(ids, 1000, "Graph answered 503"));
    CHECK(must(repos.inbox->claim(999, 60'000, 100)).empty());  // not yet
    auto const later = must(repos.inbox->claim(1000, 60'000, 100));
    CHECK(later.size() == 2);
    CHECK(later.at(0).attempts == 2);
    // Waiting for something else is not a failed attempt.
    REQUIRE(repos.inbox->delay(ids, 1500));
    CHECK(must(repos.inbox->claim(1500, 60'000, 100)).at(0).attempts == 2);
    REQUIRE(repos.db->transact([&](msteams::store::Tx& tx) { return repos.inbox->remove(tx, ids); }));
    CHECK(must(repos.inbox->size()) == 0);
}
}  // namespace

STORE_CONTRACT("store: postponed inbox items wait, and removed ones are gone", inbox_postpones_and_removes)

namespace {
void dead_letters_set_aside_and_retried(msteams::store::Repositories const& repos) {
    REQUIRE(repos.inbox->enqueue({item("chat-a", "m1", msteams::store::Change::deleted), item("chat-a", "m2")}));
    auto const claimed = must(repos.inbox->claim(10, 60'000, 1));
    REQUIRE(claimed.size() == 1);
    REQUIRE(repos.inbox->postpone({claimed[0].id}, 20, "Mattermost refused the post"));
    auto const again = must(repos.inbox->claim(20, 60'000, 1));
    REQUIRE(again.size() == 1);
    REQUIRE(repos.db->transact([&](msteams::store::Tx& tx) {
        return repos.inbox->dead_letter(tx, again, "Mattermost refused the post \xC3\xA9", 30);
    }));
    REQUIRE(repos.db->transact([&](msteams::store::Tx& tx) {
        return repos.inbox->dead_letter_message(tx, msteams::TeamsThreadId("chat-b"), msteams::TeamsMessageId("m9"),
                                                "could not render", 5, 40);
    }));
    // The rest of chat-a goes on.
    auto const rest = must(repos.inbox->claim(50, 60'000, 10));
    REQUIRE(rest.size() == 1);
    CHECK(rest[0].message_id == "m2");
    REQUIRE(repos.db->transact([&](msteams::store::Tx& tx) { return repos.inbox->remove(tx, {rest[0].id}); }));

    msteams::store::OutboxItem out;
    out.created_at = 1;
    out.channel_id = msteams::MmChannelId("dm-1");
    out.kind = msteams::store::OutboxKind::remove;
    out.post_id = msteams::MmPostId("p1");
    out.user_id = msteams::MmUserId("alice");
    out.payload = R"({"x":1})";
    out.event_key = "delete:p1";
    out.sort_at = 5;
    REQUIRE(must(repos.outbox->enqueue({out})) == 1);
    std::optional<msteams::store::OutboxItem> claimed_out;
    claimed_out = must(repos.outbox->claim(100, 100, 60'000));
    REQUIRE(claimed_out);
    REQUIRE(repos.outbox->dead_letter(*claimed_out, "Graph answered 403", 60));
    CHECK(must(repos.outbox->size()) == 0);

    CHECK(must(repos.dead_letters->count()) == 3);
    auto const listed = must(repos.dead_letters->newest(2));
    REQUIRE(listed.size() == 2);  // newest first
    CHECK(listed[0].direction == msteams::store::Direction::outbound);
    CHECK(listed[0].thread_id == "dm-1");
    CHECK(listed[0].error == "Graph answered 403");
    CHECK(listed[0].attempts == 1);
    CHECK(listed[1].thread_id == "chat-b");
    auto const all = must(repos.dead_letters->newest(10));
    REQUIRE(all.size() == 3);
    CHECK(all[2].thread_id == "chat-a");
    CHECK(all[2].attempts == 2);
    CHECK(all[2].first_failed_at > 0);
    CHECK(all[2].last_failed_at == 30);

    // One by id: back in the inbox as it was.
    CHECK(must(repos.dead_letters->retry(all[2].id, 70)) == 1);
    CHECK(must(repos.dead_letters->retry(all[2].id, 70)) == 0);
    auto const back = must(repos.inbox->claim(70, 60'000, 10));
    REQUIRE(back.size() == 1);
    CHECK(back[0].thread_id == "chat-a");
    CHECK(back[0].change_type == msteams::store::Change::deleted);
    CHECK(back[0].message_id == "m1");
    CHECK(back[0].attempts == 1);
    // The rest: the message back in its chat's inbox, the outbox item back in its channel's outbox.
    CHECK(must(repos.dead_letters->retry(std::nullopt, 80)) == 2);
    CHECK(must(repos.dead_letters->count()) == 0);
    auto const msg = must(repos.inbox->claim(80, 60'000, 10));
    REQUIRE(msg.size() == 1);
    CHECK(msg[0].thread_id == "chat-b");
    CHECK(msg[0].message_id == "m9");
    claimed_out = must(repos.outbox->claim(100, 100, 60'000));
    REQUIRE(claimed_out);
    CHECK(claimed_out->event_key == "delete:p1");
    CHECK(claimed_out->payload == R"({"x":1})");
    CHECK(claimed_out->kind == msteams::store::OutboxKind::remove);
    CHECK(claimed_out->sort_at == 5);
}
}  // namespace

STORE_CONTRACT("store: inbox and outbox items that keep failing become dead letters, listed and put back by id or all",
               dead_letters_set_aside_and_retried)

namespace {
void dead_letters_discarded(msteams::store::Repositories const& repos) {
    for (auto const* chat : {"chat-a", "chat-b", "chat-c"}) {
        REQUIRE(repos.inbox->enqueue(
            {msteams::store::InboxItem{0, 10, msteams::SubscriptionId("sub"), msteams::store::Change::created,
                                       msteams::TeamsThreadId(chat), msteams::TeamsMessageId("m1"), 0}}));
    }
    std::vector<msteams::store::InboxItem> items;  // a claim takes one chat's items
    for (int i = 0; i < 3; ++i) {
        auto const claimed = must(repos.inbox->claim(10, 60'000, 10));
        items.insert(items.end(), claimed.begin(), claimed.end());
    }
    REQUIRE(items.size() == 3);
    for (auto const& item : items) {
        REQUIRE(repos.db->transact(
            [&](msteams::store::Tx& tx) { return repos.inbox->dead_letter(tx, {item}, "failed", 20); }));
    }
    auto const all = must(repos.dead_letters->newest(10));
    REQUIRE(all.size() == 3);
    CHECK(must(repos.dead_letters->discard(all[0].id)) == 1);
    CHECK(must(repos.dead_letters->discard(all[0].id)) == 0);
    CHECK(must(repos.dead_letters->count()) == 2);
    CHECK(must(repos.dead_letters->discard(std::nullopt)) == 2);
    CHECK(must(repos.dead_letters->count()) == 0);
    // gone for good: nothing came back to the inbox
    CHECK(must(repos.inbox->claim(30, 60'000, 10)).empty());
}
}  // namespace

STORE_CONTRACT("store: dead letters are discarded by id or all, and nothing of them comes back", dead_letters_discarded)

namespace {
void notices_claimed_once(msteams::store::Repositories const& repos) {
    CHECK(must(repos.notices->claim("secret-expiry:2027-01-01:30", 10)));
    CHECK_FALSE(must(repos.notices->claim("secret-expiry:2027-01-01:30", 20)));
    CHECK(must(repos.notices->claim("secret-expiry:2027-01-01:7", 30)));
}
}  // namespace

STORE_CONTRACT("store: a notice is claimed once, whoever asks again", notices_claimed_once)

namespace {
void message_map_links(msteams::store::Repositories const& repos) {
    msteams::store::MessageLink link{msteams::TeamsThreadId("chat-a"),
                                     msteams::TeamsMessageId("m1"),
                                     msteams::MmPostId(""),
                                     msteams::MmChannelId("channel-1"),
                                     msteams::store::Origin::teams,
                                     0,
                                     123,
                                     false};
    REQUIRE(repos.messages->mark_pending(link));
    REQUIRE(repos.db->transact([&](msteams::store::Tx& tx) -> msteams::Status {
        auto const pending =
            must(repos.messages->find(tx, msteams::TeamsThreadId("chat-a"), msteams::TeamsMessageId("m1")));
        REQUIRE(pending);
        CHECK(pending->mm_post_id.empty());
        CHECK(pending->pending_since == 123);
        link.mm_post_id = msteams::MmPostId("post-1");
        link.teams_modified_at = 55;
        return repos.messages->put(tx, link);
    }));
    auto const found = must(repos.messages->by_post(msteams::MmPostId("post-1")));
    REQUIRE(found);
    CHECK(found->teams_message_id == "m1");
    CHECK(found->pending_since == 0);
    CHECK(found->teams_modified_at == 55);
    // Another Teams message cannot claim the same post.
    auto const twin = repos.db->transact([&](msteams::store::Tx& tx) -> msteams::Status {
        return repos.messages->put(
            tx, {msteams::TeamsThreadId("chat-a"), msteams::TeamsMessageId("m2"), msteams::MmPostId("post-1"),
                 msteams::MmChannelId("channel-1"), msteams::store::Origin::teams, 1, 0, false});
    });
    CHECK_FALSE(twin.has_value());
}
}  // namespace

STORE_CONTRACT("store: the message map is unique on both sides and pending links become real ones", message_map_links)

namespace {
void leases_one_holder(msteams::store::Repositories const& repos) {
    CHECK(must(repos.leases->hold("subscriptions", "node-a", std::chrono::seconds(30))));
    CHECK_FALSE(must(repos.leases->hold("subscriptions", "node-b", std::chrono::seconds(30))));
    CHECK(must(repos.leases->hold("subscriptions", "node-a", std::chrono::seconds(30))));  // renewal
    REQUIRE(repos.leases->release("subscriptions", "node-a"));
    // A lease that lapsed (its expiry is already behind the database's clock: no real wait needed) is free.
    CHECK(must(repos.leases->hold("subscriptions", "node-b", std::chrono::seconds(-1))));
    CHECK(must(repos.leases->hold("subscriptions", "node-a", std::chrono::seconds(30))));
    CHECK_FALSE(must(repos.leases->hold("subscriptions", "node-b", std::chrono::seconds(30))));
}
}  // namespace

STORE_CONTRACT("store: one lease holder at a time, until it lapses or is released", leases_one_holder)

namespace {
void portals_unique(msteams::store::Repositories const& repos) {
    auto const p = must(repos.portals->add({msteams::TeamsThreadId("chat-a"),
                                            msteams::store::PortalKind::chat,
                                            "",
                                            msteams::MmChannelId("channel-1"),
                                            {},
                                            1,
                                            0}));
    CHECK(p.mm_channel_id == "channel-1");
    // The same thread again returns the existing portal; another thread on the same channel is a conflict.
    CHECK(must(repos.portals->add({msteams::TeamsThreadId("chat-a"),
                                   msteams::store::PortalKind::chat,
                                   "",
                                   msteams::MmChannelId("channel-2"),
                                   {},
                                   2,
                                   0}))
              .mm_channel_id == "channel-1");
    auto const clash = repos.portals->add({msteams::TeamsThreadId("chat-b"),
                                           msteams::store::PortalKind::chat,
                                           "",
                                           msteams::MmChannelId("channel-1"),
                                           {},
                                           3,
                                           0});
    REQUIRE_FALSE(clash);
    CHECK(clash.error().code == msteams::ErrorCode::conflict);
    REQUIRE(repos.db->transact([&](msteams::store::Tx& tx) {
        return repos.portals->advance_cursor(tx, msteams::TeamsThreadId("chat-a"), 500);
    }));
    REQUIRE(repos.db->transact([&](msteams::store::Tx& tx) {
        return repos.portals->advance_cursor(tx, msteams::TeamsThreadId("chat-a"), 400);
    }));
    CHECK(must(repos.portals->by_channel(msteams::MmChannelId("channel-1")))->cursor_ms == 500);  // never backwards
}
}  // namespace

STORE_CONTRACT("store: portals are unique per thread and per channel", portals_unique)

namespace {
// The outbox's next item at `now` (posts need not have settled), which must exist.
msteams::store::OutboxItem next_out(msteams::store::Repositories const& repos, std::int64_t now) {
    auto const item = must(repos.outbox->claim(now, 0, 60'000));
    REQUIRE(item);
    return *item;
}

// An item sent: removed from the outbox.
void remove_sent(msteams::store::Repositories const& repos, std::int64_t id) {
    REQUIRE(repos.db->transact([&](msteams::store::Tx& tx) { return repos.outbox->remove(tx, id); }));
}

void outbox_in_order(msteams::store::Repositories const& repos) {
    auto out = [](std::string const& key, std::int64_t sort_at) { return outbox_post("dm-1", key, sort_at); };
    // Hooks arrived as 2, 1 (Mattermost runs them concurrently); 1 happened first. A replay adds nothing.
    CHECK(must(repos.outbox->enqueue({out("p2", 200), out("p1", 100)})) == 2);
    CHECK(must(repos.outbox->enqueue({out("p2", 200)})) == 0);
    std::vector<std::string> order;
    for (int i = 0; i < 3; ++i) {
        auto const item = must(repos.outbox->claim(1000, 99, 60'000));  // posts need not have settled
        if (item) {
            order.push_back(item->post_id.str());
            remove_sent(repos, item->id);
        }
    }
    CHECK(order == std::vector<std::string>{"p1", "p2"});
    // Other changes go once settled, and their channel's later posts wait behind them.
    CHECK(must(repos.outbox->enqueue({out("p3", 400), outbox_edit("dm-1", "p2", 300)})) == 2);
    CHECK_FALSE(must(repos.outbox->claim(1000, 299, 60'000)).has_value());
    auto const edit = must(repos.outbox->claim(1000, 300, 60'000));
    REQUIRE(edit);
    CHECK(edit->kind == msteams::store::OutboxKind::edit);
    remove_sent(repos, edit->id);
    auto const p3 = must(repos.outbox->claim(1000, 300, 60'000));
    REQUIRE(p3);
    CHECK(p3->post_id == "p3");
    remove_sent(repos, p3->id);
    CHECK(must(repos.outbox->size()) == 0);
}

void outbox_holds(msteams::store::Repositories const& repos) {
    CHECK(must(repos.outbox->enqueue(
              {outbox_post("dm-1", "p2", 200), outbox_post("dm-1", "p3", 300), outbox_post("dm-2", "q1", 250)})) == 3);
    auto const p2 = next_out(repos, 1000);
    CHECK(p2.post_id == "p2");
    REQUIRE(repos.outbox->hold(p2.id, 1100));
    // Held, it holds back its channel; other channels go on.
    auto const q1 = next_out(repos, 1000);
    CHECK(q1.post_id == "q1");
    CHECK_FALSE(must(repos.outbox->claim(1099, 0, 60'000)).has_value());
    // Its time over, it comes back with no attempt counted.
    auto const again = next_out(repos, 1100);
    CHECK(again.id == p2.id);
    CHECK(again.attempts == 0);
    // Held again, the post it waits for arrives: the hold ends at once, and that post goes first.
    REQUIRE(repos.outbox->hold(p2.id, 5000));
    CHECK(must(repos.outbox->enqueue({outbox_post("dm-1", "p1", 100)})) == 1);
    auto const p1 = next_out(repos, 1200);
    CHECK(p1.post_id == "p1");
    // A hold that began while that post was being sent ends when it is sent.
    REQUIRE(repos.outbox->hold(p2.id, 5000));
    remove_sent(repos, p1.id);
    CHECK(next_out(repos, 1200).post_id == "p2");
    // A postponed retry is not a hold: a new item of its channel does not bring it forward.
    REQUIRE(repos.outbox->postpone(q1.id, 9000, "Graph answered 503"));
    CHECK(must(repos.outbox->enqueue({outbox_post("dm-2", "q2", 260)})) == 1);
    CHECK_FALSE(must(repos.outbox->claim(1300, 0, 60'000)).has_value());
    // An item sent once its hold ran out is gone for good.
    remove_sent(repos, p2.id);
    auto const p3 = next_out(repos, 1300);
    CHECK(p3.post_id == "p3");
    REQUIRE(repos.outbox->hold(p3.id, 1400));
    CHECK(next_out(repos, 1400).id == p3.id);
    remove_sent(repos, p3.id);
    CHECK(must(repos.outbox->size()) == 2);  // q1 and q2, which waits behind it
}
}  // namespace

STORE_CONTRACT(
    "store: the outbox sends a channel's items in the order they happened, one at a time, edits once settled",
    outbox_in_order)
STORE_CONTRACT("store: a held outbox item waits for its time or for its channel to change, holding its channel back",
               outbox_holds)

TEST_CASE("store: a claimed outbox item is leased with no transaction open and holds back its channel", "[pg]") {
    TempDatabase temp;
    auto repos = msteams::store::postgres_repositories(temp.open_migrated(4));
    CHECK(must(repos.outbox->enqueue(
              {outbox_post("dm-1", "a1", 100), outbox_post("dm-1", "a2", 200), outbox_post("dm-2", "b1", 150)})) == 3);
    auto const first = must(repos.outbox->claim(1000, 1000, 5000));
    REQUIRE(first);
    CHECK(first->post_id == "a1");
    // Claimed and committed: nobody else gets it or its channel's next item while the lease runs; other channels go on.
    auto const other = must(repos.outbox->claim(1000, 1000, 100'000));
    REQUIRE(other);
    CHECK(other->post_id == "b1");
    CHECK_FALSE(must(repos.outbox->claim(4999, 4999, 9000)).has_value());
    CHECK(temp.admin().run("SELECT count(*) FROM pg_stat_activity WHERE datname = '" + temp.name() +
                           "' AND state LIKE 'idle in transaction%'") == "0");
    // Renewed, it stays; lapsed (a crashed worker), it comes back, still first in its channel.
    REQUIRE(repos.outbox->renew(first->id, 8000));
    CHECK_FALSE(must(repos.outbox->claim(7000, 7000, 9000)).has_value());
    auto const again = must(repos.outbox->claim(8000, 8000, 12'000));
    REQUIRE(again);
    CHECK(again->id == first->id);
    // Postponed, it is released at its new time; the channel's next item still waits behind it.
    REQUIRE(repos.outbox->postpone(first->id, 10'000, "Graph answered 503"));
    CHECK_FALSE(must(repos.outbox->claim(9000, 9000, 20'000)).has_value());
    auto const retried = must(repos.outbox->claim(10'000, 10'000, 20'000));
    REQUIRE(retried);
    CHECK(retried->id == first->id);
    CHECK(retried->attempts == 1);
}

namespace {
void thread_writes_announced(msteams::store::Repositories const& repos) {
    msteams::store::AutoCommit tx(*repos.db);
    // Without a portal there is nothing to wait for.
    CHECK(must(repos.portals->unchanged(tx, msteams::TeamsThreadId("19:none"), 0, 1000)));
    REQUIRE(
        repos.portals->add(msteams::store::Portal{msteams::TeamsThreadId("19:chat"), msteams::store::PortalKind::chat,
                                                  "", msteams::MmChannelId("dm-1"), msteams::MmUserId("alice"), 1, 1}));
    auto const v0 = must(repos.portals->version(tx, msteams::TeamsThreadId("19:chat")));
    CHECK(must(repos.portals->unchanged(tx, msteams::TeamsThreadId("19:chat"), v0, 1000)));

    // Announced: what the inbound side read before, or while it is in flight, is possibly stale.
    REQUIRE(repos.portals->begin_write(msteams::TeamsThreadId("19:chat"), 5000));
    auto const v1 = must(repos.portals->version(tx, msteams::TeamsThreadId("19:chat")));
    CHECK(v1 != v0);
    CHECK_FALSE(must(repos.portals->unchanged(tx, msteams::TeamsThreadId("19:chat"), v0, 1000)));
    CHECK_FALSE(
        must(repos.portals->unchanged(tx, msteams::TeamsThreadId("19:chat"), v1, 1000)));  // read during the write
    REQUIRE(repos.portals->renew_write(msteams::TeamsThreadId("19:chat"), 9000));
    CHECK_FALSE(must(repos.portals->unchanged(tx, msteams::TeamsThreadId("19:chat"), v1, 6000)));
    CHECK(must(
        repos.portals->unchanged(tx, msteams::TeamsThreadId("19:chat"), v1, 9000)));  // a crashed sender's write lapses

    // Ended with what it recorded: a read that started during the write is stale, a read after it is not.
    REQUIRE(repos.db->transact(
        [&](msteams::store::Tx& t) { return repos.portals->end_write(t, msteams::TeamsThreadId("19:chat")); }));
    CHECK_FALSE(must(repos.portals->unchanged(tx, msteams::TeamsThreadId("19:chat"), v1, 6000)));
    auto const v2 = must(repos.portals->version(tx, msteams::TeamsThreadId("19:chat")));
    CHECK(must(repos.portals->unchanged(tx, msteams::TeamsThreadId("19:chat"), v2, 6000)));
    REQUIRE(repos.portals->renew_write(msteams::TeamsThreadId("19:chat"), 20'000));  // too late: the write is over
    CHECK(must(repos.portals->unchanged(tx, msteams::TeamsThreadId("19:chat"), v2, 6000)));
}
}  // namespace

STORE_CONTRACT("store: a write to a Teams chat is announced, renewed and ended, and lapses on its own",
               thread_writes_announced)

namespace {
void users_added_once(msteams::store::Repositories const& repos) {
    msteams::store::TeamsUser const bob{
        msteams::TeamsUserId("t-bob"), msteams::MmUserId("mm-bob"), true, "Bob", "bob@example.com", 10, 0};
    CHECK(must(repos.users->add(bob)).mm_user_id == "mm-bob");
    // Another node adding the same Teams user gets the row that is there.
    auto twin = bob;
    twin.mm_user_id = msteams::MmUserId("mm-bob-2");
    CHECK(must(repos.users->add(twin)).mm_user_id == "mm-bob");
    CHECK(must(repos.users->by_mm_id(msteams::MmUserId("mm-bob")))->teams_user_id == "t-bob");
    CHECK_FALSE(must(repos.users->by_teams_id(msteams::TeamsUserId("t-nobody"))).has_value());
    REQUIRE(repos.users->mark_promoted(msteams::MmUserId("mm-bob"), 99));
    auto const promoted = must(repos.users->by_teams_id(msteams::TeamsUserId("t-bob")));
    REQUIRE(promoted);
    CHECK_FALSE(promoted->synthetic);
    CHECK(promoted->promoted_at == 99);
    auto const unknown = repos.users->mark_promoted(msteams::MmUserId("mm-nobody"), 1);
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().code == msteams::ErrorCode::not_found);
}
}  // namespace

STORE_CONTRACT("store: a Teams user is added once and promoted by its Mattermost id", users_added_once)

namespace {
template <class E>
void round_trips(std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
        auto const e = static_cast<E>(i);
        CHECK(msteams::store::parse<E>(msteams::store::text(e)) == e);
    }
    CHECK_FALSE(msteams::store::parse<E>("").has_value());
    CHECK_FALSE(msteams::store::parse<E>("Created").has_value());
}
}  // namespace

TEST_CASE("store: each closed set's words read back as themselves, and no other word does", "[store]") {
    using namespace msteams::store;
    round_trips<PortalKind>(2);
    round_trips<Origin>(2);
    round_trips<Change>(4);
    round_trips<OutboxKind>(5);
    round_trips<Direction>(2);
    round_trips<SubscriptionKind>(3);
    round_trips<SubscriptionState>(4);
    CHECK(text(OutboxKind::remove) == "delete");  // the word already stored by earlier versions
}

TEST_CASE("store: the tables refuse a word outside its closed set", "[pg]") {
    TempDatabase temp;
    auto const repos = msteams::store::postgres_repositories(temp.open_migrated());
    // What a notification with an unknown change type would have stored before migration 006.
    auto const inbox = repos.db->exec(
        "INSERT INTO msteams_inbox (received_at, subscription_id, change_type, thread_id, "
        "message_id) VALUES (1, 's', 'renamed', '19:c', 'm')");
    CHECK_FALSE(inbox.has_value());
    auto const state = repos.db->exec(
        "INSERT INTO msteams_subscriptions (id, kind, resource, owner, expires_at, "
        "created_at, state, client_state_hash) VALUES ('s', 'chats', 'r', '', 1, 1, "
        "'paused', '')");
    CHECK_FALSE(state.has_value());
    REQUIRE(repos.subscriptions->put({msteams::SubscriptionId("s"), msteams::store::SubscriptionKind::chats, "r", "", 1,
                                      1, msteams::store::SubscriptionState::missed, ""}));
    CHECK(repos.subscriptions->list()->at(0).state == msteams::store::SubscriptionState::missed);
}

namespace {
void outbox_keys_seen_once(msteams::store::Repositories const& repos) {
    // Keys as any text may be: quotes, backslashes, commas and braces are taken as they are.
    std::vector<std::string> const odd{"post:a\"b", "post:c,d", "post:e\\f", "post:{g}", "post:h i"};
    std::vector<msteams::store::OutboxItem> items;
    for (auto const& key : odd) {
        auto i = outbox_post("dm-9", key.substr(5), 500);
        i.event_key = key;
        items.push_back(i);
    }
    CHECK(must(repos.outbox->enqueue(items)) == static_cast<std::int64_t>(odd.size()));
    auto found = must(repos.outbox->seen(odd));
    CHECK(found.size() == odd.size());

    CHECK(must(repos.outbox->enqueue({outbox_post("dm-1", "p1", 100)})) == 1);
    auto const p1 = must(repos.outbox->claim(1000, 1000, 60'000));
    REQUIRE(p1);
    REQUIRE(p1->channel_id == "dm-1");
    // Given once, while queued.
    found = must(repos.outbox->seen({"post:p1", "post:p2"}));
    REQUIRE(found.size() == 1);
    CHECK(found[0].event_key == "post:p1");
    CHECK(found[0].queued);
    // Sent and removed: still known, so the same hook again (or the hook of a recovered post) adds nothing.
    remove_sent(repos, p1->id);
    CHECK(must(repos.outbox->enqueue({outbox_post("dm-1", "p1", 100)})) == 0);
    CHECK(must(repos.outbox->size()) == static_cast<std::int64_t>(odd.size()));
    found = must(repos.outbox->seen({"post:p1"}));
    REQUIRE(found.size() == 1);
    CHECK_FALSE(found[0].queued);
    CHECK(must(repos.outbox->seen({})).empty());

    // Forgotten once old (those still queued are kept): then it is queued again.
    auto p2 = outbox_post("dm-1", "p2", 200);
    p2.created_at = 5'000;
    CHECK(must(repos.outbox->enqueue({p2})) == 1);
    CHECK(must(repos.outbox->forget_seen(2)) == 1);  // p1 (given at 1); the odd ones are still queued
    CHECK(must(repos.outbox->seen({"post:p1"})).empty());
    CHECK(must(repos.outbox->seen(odd)).size() == odd.size());
    CHECK(must(repos.outbox->forget_seen(5'001)) == 0);  // p2 is queued
    CHECK(must(repos.outbox->enqueue({outbox_post("dm-1", "p1", 100)})) == 1);
}

void posts_linked_in_one_query(msteams::store::Repositories const& repos) {
    CHECK(must(repos.messages->linked({})).empty());
    REQUIRE(repos.db->transact([&](msteams::store::Tx& tx) {
        return repos.messages->put(
            tx, {msteams::TeamsThreadId("chat-a"), msteams::TeamsMessageId("m1"), msteams::MmPostId("post-1"),
                 msteams::MmChannelId("dm-1"), msteams::store::Origin::mattermost, 1, 0, false});
    }));
    // A send in flight has no post yet.
    REQUIRE(repos.messages->mark_pending({msteams::TeamsThreadId("chat-a"),
                                          msteams::TeamsMessageId("pending:post-2"),
                                          {},
                                          msteams::MmChannelId("dm-1"),
                                          msteams::store::Origin::mattermost,
                                          0,
                                          5,
                                          false}));
    auto const linked = must(repos.messages->linked(
        {msteams::MmPostId("post-1"), msteams::MmPostId("post-2"), msteams::MmPostId("post-\"3")}));
    REQUIRE(linked.size() == 1);
    CHECK(linked[0] == "post-1");
}

void portals_paged(msteams::store::Repositories const& repos) {
    for (auto const* id : {"19:e", "19:b", "19:d", "19:a", "19:c"}) {
        REQUIRE(repos.portals->add({msteams::TeamsThreadId(id),
                                    msteams::store::PortalKind::chat,
                                    "",
                                    msteams::MmChannelId(std::string("channel-") + id),
                                    {},
                                    1,
                                    0}));
    }
    REQUIRE(repos.portals->add({msteams::TeamsThreadId("19:bb"),
                                msteams::store::PortalKind::channel,
                                "team",
                                msteams::MmChannelId("channel-linked"),
                                {},
                                1,
                                0}));
    std::vector<std::string> seen;
    msteams::TeamsThreadId after;
    for (int pages = 0; pages < 10; ++pages) {
        auto const page = must(repos.portals->list_page(msteams::store::PortalKind::chat, after, 2));
        for (auto const& p : page) {
            seen.push_back(p.teams_thread_id.str());
        }
        if (page.size() < 2) {
            break;
        }
        after = page.back().teams_thread_id;
    }
    CHECK(seen == std::vector<std::string>{"19:a", "19:b", "19:c", "19:d", "19:e"});
}

void nodes_beat_and_lost(msteams::store::Repositories const& repos) {
    REQUIRE(repos.nodes->beat("node-a"));
    REQUIRE(repos.nodes->beat("node-b"));
    REQUIRE(repos.nodes->beat("node-c"));
    CHECK(must(repos.nodes->silent(std::chrono::seconds(30))).empty());
    // Stopped cleanly: gone, never silent.
    REQUIRE(repos.nodes->remove("node-b"));
    // As silent as can be (the ttl already behind the database's clock: no real wait needed).
    auto silent = must(repos.nodes->silent(std::chrono::seconds(-1)));
    REQUIRE(silent.size() == 2);
    CHECK(silent[0].seen_at > 0);
    auto const c = *std::find_if(silent.begin(), silent.end(), [](auto const& n) { return n.node_id == "node-c"; });
    // A node that beat again since it was read is not forgotten.
    REQUIRE(repos.nodes->forget({"node-c", c.seen_at - 1}));
    CHECK(must(repos.nodes->silent(std::chrono::seconds(-1))).size() == 2);
    REQUIRE(repos.nodes->forget(c));
    silent = must(repos.nodes->silent(std::chrono::seconds(-1)));
    REQUIRE(silent.size() == 1);
    CHECK(silent[0].node_id == "node-a");
    // A forgotten node that beats again is back.
    REQUIRE(repos.nodes->beat("node-c"));
    CHECK(must(repos.nodes->silent(std::chrono::seconds(-1))).size() == 2);
}
}  // namespace

STORE_CONTRACT("store: an outbox event key is queued once, even after its item was sent, until it is forgotten",
               outbox_keys_seen_once)
STORE_CONTRACT("store: which of many posts have a Teams message is one query, sends in flight left out",
               posts_linked_in_one_query)
STORE_CONTRACT("store: portals of a kind are listed page by page after a thread id", portals_paged)
STORE_CONTRACT("store: a node that stopped beating is found until forgotten, one that stopped cleanly never is",
               nodes_beat_and_lost)
