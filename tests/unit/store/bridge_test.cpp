#include <catch2/catch.hpp>

#include <thread>

#include "pg_support.hpp"
#include "store/bridge.hpp"

using msteams::store::Bridge;
using msteams::store::InboxItem;
using msteams::test::TempDatabase;

namespace {

InboxItem item(std::string const& thread, std::string const& message, std::string const& change = "created") {
    return InboxItem{0, 1, "sub", change, thread, message, 0};
}

template <class T>
T must(msteams::Result<T> r) {
    INFO((r ? std::string() : r.error().message));
    REQUIRE(r.has_value());
    return std::move(*r);
}

}  // namespace

TEST_CASE("store: the inbox hands out one thread at a time, in order, to one worker", "[pg]") {
    TempDatabase temp;
    auto bridge = std::make_shared<Bridge>(temp.open_migrated(6));
    REQUIRE(bridge->enqueue({item("chat-a", "1"), item("chat-b", "1"), item("chat-a", "2"), item("chat-a", "3")}));

    // Worker 1 holds chat-a (all of its ready items, in order) while worker 2 gets chat-b only.
    std::vector<InboxItem> first;
    std::vector<InboxItem> second;
    bool second_ran = false;
    auto const outer = bridge->db().transact([&](msteams::store::Tx& tx) -> msteams::Status {
        first = must(bridge->claim(tx, 10, 100));
        std::thread other([&] {
            auto const inner = bridge->db().transact([&](msteams::store::Tx& tx2) -> msteams::Status {
                second = must(bridge->claim(tx2, 10, 100));
                second_ran = true;
                return {};
            });
            CHECK(inner.has_value());
        });
        other.join();
        return {};
    });
    REQUIRE(outer.has_value());
    REQUIRE(second_ran);
    REQUIRE(first.size() == 3);
    CHECK(first[0].thread_id == "chat-a");
    CHECK(first[0].message_id == "1");
    CHECK(first[2].message_id == "3");
    REQUIRE(second.size() == 1);
    CHECK(second[0].thread_id == "chat-b");
}

TEST_CASE("store: postponed inbox items wait, and removed ones are gone", "[pg]") {
    TempDatabase temp;
    auto bridge = std::make_shared<Bridge>(temp.open_migrated());
    REQUIRE(bridge->enqueue({item("chat-a", "1"), item("chat-a", "2")}));
    std::vector<std::int64_t> ids;
    REQUIRE(bridge->db().transact([&](msteams::store::Tx& tx) -> msteams::Status {
        for (auto const& i : must(bridge->claim(tx, 10, 100))) {
            ids.push_back(i.id);
        }
        return {};
    }));
    REQUIRE(ids.size() == 2);
    REQUIRE(bridge->postpone(ids, 1000, "Graph answered 503"));
    REQUIRE(bridge->db().transact([&](msteams::store::Tx& tx) -> msteams::Status {
        CHECK(must(bridge->claim(tx, 999, 100)).empty());  // not yet
        auto const later = must(bridge->claim(tx, 1000, 100));
        CHECK(later.size() == 2);
        CHECK(later.at(0).attempts == 1);
        return bridge->remove(tx, ids);
    }));
    CHECK(must(bridge->inbox_size()) == 0);
}

TEST_CASE("store: the message map is unique on both sides and pending links become real ones", "[pg]") {
    TempDatabase temp;
    auto bridge = std::make_shared<Bridge>(temp.open_migrated());
    msteams::store::MessageLink link{"chat-a", "m1", "", "channel-1", "teams", 0, 123, false};
    REQUIRE(bridge->mark_pending(link));
    REQUIRE(bridge->db().transact([&](msteams::store::Tx& tx) -> msteams::Status {
        auto const pending = must(bridge->message(tx, "chat-a", "m1"));
        REQUIRE(pending);
        CHECK(pending->mm_post_id.empty());
        CHECK(pending->pending_since == 123);
        link.mm_post_id = "post-1";
        link.teams_modified_at = 55;
        return bridge->put_message(tx, link);
    }));
    auto const found = must(bridge->message_by_post("post-1"));
    REQUIRE(found);
    CHECK(found->teams_message_id == "m1");
    CHECK(found->pending_since == 0);
    CHECK(found->teams_modified_at == 55);
    // Another Teams message cannot claim the same post.
    auto const twin = bridge->db().transact([&](msteams::store::Tx& tx) -> msteams::Status {
        return bridge->put_message(tx, {"chat-a", "m2", "post-1", "channel-1", "teams", 1, 0, false});
    });
    CHECK_FALSE(twin.has_value());
}

TEST_CASE("store: one lease holder at a time, until it lapses or is released", "[pg]") {
    TempDatabase temp;
    auto bridge = std::make_shared<Bridge>(temp.open_migrated());
    CHECK(must(bridge->hold_lease("subscriptions", "node-a", std::chrono::seconds(30))));
    CHECK_FALSE(must(bridge->hold_lease("subscriptions", "node-b", std::chrono::seconds(30))));
    CHECK(must(bridge->hold_lease("subscriptions", "node-a", std::chrono::seconds(30))));  // renewal
    REQUIRE(bridge->release_lease("subscriptions", "node-a"));
    // A lease that lapsed (its expiry is already behind the database's clock: no real wait needed) is free.
    CHECK(must(bridge->hold_lease("subscriptions", "node-b", std::chrono::seconds(-1))));
    CHECK(must(bridge->hold_lease("subscriptions", "node-a", std::chrono::seconds(30))));
    CHECK_FALSE(must(bridge->hold_lease("subscriptions", "node-b", std::chrono::seconds(30))));
}

TEST_CASE("store: portals are unique per thread and per channel", "[pg]") {
    TempDatabase temp;
    auto bridge = std::make_shared<Bridge>(temp.open_migrated());
    auto const p = must(bridge->add_portal({"chat-a", "chat", "", "channel-1", "", 1, 0}));
    CHECK(p.mm_channel_id == "channel-1");
    // The same thread again returns the existing portal; another thread on the same channel is a conflict.
    CHECK(must(bridge->add_portal({"chat-a", "chat", "", "channel-2", "", 2, 0})).mm_channel_id == "channel-1");
    auto const clash = bridge->add_portal({"chat-b", "chat", "", "channel-1", "", 3, 0});
    REQUIRE_FALSE(clash);
    CHECK(clash.error().code == msteams::ErrorCode::conflict);
    REQUIRE(bridge->db().transact([&](msteams::store::Tx& tx) { return bridge->advance_cursor(tx, "chat-a", 500); }));
    REQUIRE(bridge->db().transact([&](msteams::store::Tx& tx) { return bridge->advance_cursor(tx, "chat-a", 400); }));
    CHECK(must(bridge->portal_by_channel("channel-1"))->cursor_ms == 500);  // never backwards
}

TEST_CASE("store: the outbox sends a channel's items in the order they happened, once settled, one at a time",
          "[pg]") {
    TempDatabase temp;
    auto bridge = std::make_shared<Bridge>(temp.open_migrated());
    auto out = [](std::string const& key, std::int64_t sort_at) {
        msteams::store::OutboxItem i;
        i.created_at = 1;
        i.channel_id = "dm-1";
        i.kind = "post";
        i.post_id = key;
        i.user_id = "alice";
        i.payload = "{}";
        i.event_key = "post:" + key;
        i.sort_at = sort_at;
        return i;
    };
    // Hooks arrived as 2, 1 (Mattermost runs them concurrently); 1 happened first. A replay adds nothing.
    CHECK(must(bridge->enqueue_outbox({out("p2", 200), out("p1", 100)})) == 2);
    CHECK(must(bridge->enqueue_outbox({out("p2", 200)})) == 0);
    std::vector<std::string> order;
    for (int i = 0; i < 3; ++i) {
        REQUIRE(bridge->db().transact([&](msteams::store::Tx& tx) -> msteams::Status {
            auto const early = must(bridge->claim_outbox(tx, 1000, 99));  // nothing settled yet
            CHECK_FALSE(early.has_value());
            auto const item = must(bridge->claim_outbox(tx, 1000, 1000));
            if (item) {
                order.push_back(item->post_id);
                return bridge->remove_outbox(tx, item->id);
            }
            return {};
        }));
    }
    CHECK(order == std::vector<std::string>{"p1", "p2"});
    CHECK(must(bridge->outbox_size()) == 0);
}
