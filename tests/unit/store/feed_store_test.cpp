// The activity-feed tables (migrations 014 and 015) on PostgreSQL: the queue's leases and uniqueness, the rows
// claimed together for one bulk request, and each Teams-primary user's state (blocked and told once; muted with
// their settings kept; reached alone lately).
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "store/feed.hpp"
#include "store/pg_support.hpp"

using msteams::MmPostId;
using msteams::MmUserId;
using msteams::store::FeedBatch;
using msteams::store::FeedItem;
using msteams::store::FeedKind;
using msteams::store::FeedState;
using msteams::store::FeedStore;

namespace {

MmUserId user(char c) { return MmUserId(std::string(25, 'u') + c); }
MmPostId post(char c) { return MmPostId(std::string(25, 'p') + c); }

FeedItem post_row(char c, std::int64_t at) {
    return FeedItem{0, post(c), MmUserId(), FeedKind::post, "{}", at, 0, 0, false};
}

FeedItem recipient(char p, char u, std::int64_t due) {
    return FeedItem{0, post(p), user(u), FeedKind::mention, R"({"n":1})", 100, due, 0, false};
}

}  // namespace

TEST_CASE("feed store: a post is queued once, even after it was handled", "[pg]") {
    msteams::test::TempDatabase temp;
    FeedStore store(temp.open_migrated());
    CHECK(store.enqueue({post_row('a', 100), post_row('a', 100), post_row('b', 101)}).value() == 2);
    auto const first = store.claim(1000, 61'000).value();
    REQUIRE(first);
    CHECK(first->post_id == post('a'));
    CHECK(first->attempts == 1);
    REQUIRE(store.expand(first->id, {recipient('a', 'x', 500)}, 1000).has_value());
    CHECK(store.enqueue({post_row('a', 100)}).value() == 0);  // a hook delivered again adds nothing
    auto const counts = store.counts().value();
    CHECK(counts.queued == 1);  // the recipient; post rows are not counted
}

TEST_CASE("feed store: a claimed row is the worker's until its lease ends, then another's", "[pg]") {
    msteams::test::TempDatabase temp;
    FeedStore store(temp.open_migrated());
    REQUIRE(store.enqueue({post_row('a', 100)}).has_value());
    auto const row = store.claim(1000, 5000).value();
    REQUIRE(row);
    CHECK_FALSE(store.claim(2000, 6000).value());        // leased
    auto const again = store.claim(5000, 9000).value();  // the first worker died: its lease ran out
    REQUIRE(again);
    CHECK(again->id == row->id);
    CHECK(again->attempts == 2);
}

TEST_CASE("feed store: recipients wait until they are due, are added once and settle as sent, dropped or failed",
          "[pg]") {
    msteams::test::TempDatabase temp;
    FeedStore store(temp.open_migrated());
    REQUIRE(store.enqueue({post_row('a', 100)}).has_value());
    auto const row = store.claim(100, 60'100).value();
    REQUIRE(row);
    std::vector<FeedItem> const rows{recipient('a', 'x', 5000), recipient('a', 'y', 5000), recipient('a', 'z', 5000)};
    CHECK(store.expand(row->id, rows, 200).value() == 3);
    CHECK(store.expand(row->id, rows, 200).value() == 0);  // an expansion run again (after a crash) adds nothing
    CHECK_FALSE(store.claim(4999, 70'000).value());        // not due yet

    std::vector<std::int64_t> ids;
    for (int i = 0; i < 3; ++i) {
        auto const r = store.claim(5000, 70'000).value();
        REQUIRE(r);
        CHECK(r->mm_user_id.str().size() == 26);
        CHECK(r->payload == R"({"n":1})");
        ids.push_back(r->id);
    }
    CHECK_FALSE(store.claim(5000, 70'000).value());
    REQUIRE(store.finish(ids[0], FeedState::sent, "", 6000).has_value());
    REQUIRE(store.finish(ids[1], FeedState::dropped, "read in Mattermost", 6000).has_value());
    REQUIRE(store.postpone(ids[2], 9000, "throttled").has_value());
    CHECK_FALSE(store.claim(8999, 80'000).value());
    auto const retried = store.claim(9000, 80'000).value();
    REQUIRE(retried);
    CHECK(retried->id == ids[2]);
    CHECK(retried->attempts == 2);
    REQUIRE(store.finish(ids[2], FeedState::failed, "refused", 9100).has_value());

    auto const counts = store.counts().value();
    CHECK(counts.queued == 0);
    CHECK(counts.sent == 1);
    CHECK(counts.dropped == 1);
    CHECK(counts.failed == 1);
    CHECK(store.purge(6001).value() == 3);  // the post row and two recipients handled before 6001
    CHECK(store.counts().value().failed == 1);
}

TEST_CASE("feed store: a blocked user is told once per block and counted", "[pg]") {
    msteams::test::TempDatabase temp;
    FeedStore store(temp.open_migrated());
    CHECK_FALSE(store.claim_telling(user('a'), 10).value());  // not blocked
    REQUIRE(store.set_blocked(user('a'), true, "403 not installed", 10).has_value());
    REQUIRE(store.set_blocked(user('b'), true, "403", 10).has_value());
    CHECK(store.blocked_count().value() == 2);
    CHECK(store.claim_telling(user('a'), 11).value());
    CHECK_FALSE(store.claim_telling(user('a'), 12).value());
    REQUIRE(store.set_blocked(user('a'), true, "403 again", 13).has_value());
    CHECK_FALSE(store.claim_telling(user('a'), 14).value());  // still the same block
    REQUIRE(store.set_blocked(user('a'), false, "", 15).has_value());
    CHECK(store.blocked_count().value() == 1);
    REQUIRE(store.set_blocked(user('a'), true, "403", 16).has_value());
    CHECK(store.claim_telling(user('a'), 17).value());  // a new block is told again
    auto const state = store.user(user('a')).value();
    CHECK(state.blocked);
    CHECK(state.blocked_reason == "403");
    CHECK(state.told_at == 17);
}

TEST_CASE("feed store: muting keeps the settings from before the first muting until they are taken back", "[pg]") {
    msteams::test::TempDatabase temp;
    FeedStore store(temp.open_migrated());
    CHECK_FALSE(store.take_muted(user('a'), 1).value());
    REQUIRE(store.set_muted(user('a'), "true", "all", 2).has_value());
    REQUIRE(store.set_muted(user('a'), "false", "none", 3).has_value());  // muted already: the originals stay
    CHECK(store.user(user('a')).value().muted);
    auto const saved = store.take_muted(user('a'), 4).value();
    REQUIRE(saved);
    CHECK(saved->saved_email == "true");
    CHECK(saved->saved_push == "all");
    CHECK_FALSE(store.user(user('a')).value().muted);
    CHECK_FALSE(store.take_muted(user('a'), 5).value());  // restored once
}

TEST_CASE("feed store: the rows of one post and kind whose recipients were reached alone lately are claimed together",
          "[pg]") {
    msteams::test::TempDatabase temp;
    FeedStore store(temp.open_migrated());
    REQUIRE(store.enqueue({post_row('a', 100)}).has_value());
    auto const post_row_claimed = store.claim_batch(100, 60'100, FeedBatch{100, 1}).value();
    REQUIRE(post_row_claimed.size() == 1);  // a post row is never grouped
    auto thread_reply = recipient('a', 'w', 5000);
    thread_reply.kind = FeedKind::thread_reply;
    std::vector<FeedItem> rows{recipient('a', 'x', 5000), recipient('a', 'y', 5000), recipient('a', 'z', 5000),
                               recipient('a', 'v', 5000), thread_reply};
    REQUIRE(store.expand(post_row_claimed.front().id, rows, 200).value() == 5);
    // x, y and w were reached alone at 1000, z long ago, v never; y is blocked since.
    for (char u : {'x', 'y', 'w'}) {
        REQUIRE(store.reached(user(u), 1000).has_value());
    }
    REQUIRE(store.reached(user('z'), 10).has_value());
    REQUIRE(store.set_blocked(user('y'), true, "403", 1100).has_value());
    CHECK(store.user(user('x')).value().reached_at == 1000);

    auto const bulk = store.claim_batch(5000, 20'000, FeedBatch{3, 500}).value();
    std::vector<MmUserId> got;
    for (auto const& r : bulk) {
        got.push_back(r.mm_user_id);
        CHECK(r.attempts == 1);
    }
    CHECK(got == std::vector<MmUserId>{user('x')});  // y blocked, z not lately, v never, w another kind
    REQUIRE(store.send_alone({bulk.front().id}, 5000, "403 for the bulk request").has_value());
    // One at a time from now on: x's row is alone, the others were not reached lately.
    std::vector<MmUserId> singles;
    for (int i = 0; i < 5; ++i) {
        auto const one = store.claim_batch(5000, 20'000, FeedBatch{3, 500}).value();
        REQUIRE(one.size() == 1);
        singles.push_back(one.front().mm_user_id);
        if (one.front().mm_user_id == user('x')) {
            CHECK(one.front().alone);
            CHECK(one.front().attempts == 2);
        }
    }
    std::sort(singles.begin(), singles.end());
    CHECK(singles == std::vector<MmUserId>{user('v'), user('w'), user('x'), user('y'), user('z')});
    CHECK(store.claim_batch(5000, 20'000, FeedBatch{3, 500}).value().empty());
}

TEST_CASE("feed store: a bulk claim takes at most its size, skips rows held by another, and settles them alike",
          "[pg]") {
    msteams::test::TempDatabase temp;
    FeedStore store(temp.open_migrated());
    REQUIRE(store.enqueue({post_row('a', 100)}).has_value());
    auto const p = store.claim(100, 60'100).value();
    std::vector<FeedItem> rows;
    for (char u = 'a'; u <= 'g'; ++u) {
        rows.push_back(recipient('a', u, 5000));
        REQUIRE(store.reached(user(u), 1000).has_value());
    }
    REQUIRE(store.expand(p->id, rows, 200).has_value());
    auto const first = store.claim_batch(5000, 20'000, FeedBatch{3, 500}).value();
    REQUIRE(first.size() == 3);
    CHECK(first.front().mm_user_id == user('a'));
    auto const second = store.claim_batch(5000, 20'000, FeedBatch{100, 500}).value();
    REQUIRE(second.size() == 4);  // the rest, not those the first holds
    CHECK(second.front().mm_user_id == user('d'));
    CHECK(store.claim_batch(5000, 20'000, FeedBatch{100, 500}).value().empty());
    std::vector<std::int64_t> ids;
    for (auto const& r : first) {
        ids.push_back(r.id);
    }
    REQUIRE(store.finish(ids[0], FeedState::dropped, "read", 6000).has_value());
    REQUIRE(store.finish_all(ids, FeedState::sent, "", 6000).has_value());  // the dropped one stays dropped
    auto const counts = store.counts().value();
    CHECK(counts.sent == 2);
    CHECK(counts.dropped == 1);
    // The second worker died: its rows come back together once the lease is over.
    CHECK(store.claim_batch(20'000, 40'000, FeedBatch{100, 500}).value().size() == 4);
}
