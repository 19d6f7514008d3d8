#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>

#include "pg_support.hpp"
#include "store/database.hpp"
#include "store/overview.hpp"

using msteams::test::TempDatabase;

namespace {

void run(msteams::store::Database& db, std::string const& sql) {
    auto r = db.exec(sql);
    INFO(sql << ": " << (r ? std::string("ok") : r.error().message));
    REQUIRE(r.has_value());
}

}  // namespace

TEST_CASE("store: the overview counts queues, dead letters, accounts and subscriptions by kind", "[pg]") {
    TempDatabase temp;
    auto db = temp.open_migrated();

    SECTION("empty: nothing queued, and the global subscription listed as missing") {
        auto const o = msteams::store::read_overview(*db);
        REQUIRE(o);
        CHECK(o->inbox_items == 0);
        CHECK(o->inbox_oldest_at == 0);
        CHECK(o->outbox_items == 0);
        CHECK(o->dead_letters == 0);
        REQUIRE(o->subscriptions.size() == 1);
        CHECK(o->subscriptions[0].kind == "chats");
        CHECK(o->subscriptions[0].count == 0);
    }

    SECTION("filled") {
        run(*db,
            "INSERT INTO msteams_inbox (received_at, subscription_id, change_type, thread_id, message_id) VALUES "
            "(5000, 's', 'created', 't1', 'm1'), (3000, 's', 'created', 't2', 'm2'), (9000, 's', 'created', 't1', "
            "'m3')");
        run(*db,
            "INSERT INTO msteams_outbox (created_at, channel_id, kind, post_id, user_id, payload, event_key, sort_at) "
            "VALUES (7000, 'c', 'post', 'p', 'u', '{}', 'k1', 7000)");
        run(*db,
            "INSERT INTO msteams_dead_letters (direction, thread_id, payload, first_failed_at, last_failed_at) VALUES "
            "('inbound', 't', '{}', 1, 1), ('outbound', 'c', '{}', 1, 1)");
        run(*db,
            "INSERT INTO msteams_accounts (mm_user_id, teams_user_id, token_sealed) VALUES ('a', 'ta', 'x'), ('b', "
            "'tb', 'y'), ('c', 'tc', NULL)");
        run(*db,
            "INSERT INTO msteams_subscriptions (id, kind, resource, expires_at, created_at, state) VALUES "
            "('s1', 'chats', 'chats/getAllMessages', 60000, 1, 'active'), "
            "('s2', 'user', 'users/1/chats/getAllMessages', 90000, 1, 'active'), "
            "('s3', 'user', 'users/2/chats/getAllMessages', 80000, 1, 'reauthorize')");
        auto const o = msteams::store::read_overview(*db);
        REQUIRE(o);
        CHECK(o->inbox_items == 3);
        CHECK(o->inbox_oldest_at == 3000);
        CHECK(o->outbox_items == 1);
        CHECK(o->outbox_oldest_at == 7000);
        CHECK(o->dead_letters == 2);
        CHECK(o->connected_users == 2);
        CHECK(o->disconnected_users == 1);
        REQUIRE(o->subscriptions.size() == 2);
        CHECK(o->subscriptions[0].kind == "chats");
        CHECK(o->subscriptions[0].soonest_expiry == 60000);
        CHECK(o->subscriptions[1].kind == "user");
        CHECK(o->subscriptions[1].count == 2);
        CHECK(o->subscriptions[1].soonest_expiry == 80000);
        CHECK(o->subscriptions[1].not_active == 1);
    }
}

TEST_CASE("store: an observed database reports every statement, in transactions too, and its failures", "[pg]") {
    TempDatabase temp;
    std::atomic<int> ok{0};
    std::atomic<int> failed{0};
    auto db = msteams::store::observed(temp.open(), [&](std::chrono::nanoseconds took, bool success) {
        CHECK(took.count() > 0);
        ++(success ? ok : failed);
    });
    run(*db, "SELECT 1");
    auto const tx = db->transact([](msteams::store::Tx& t) -> msteams::Status {
        MSTEAMS_TRY(t.exec("SELECT 2"));
        MSTEAMS_TRY(t.exec("SELECT 3"));
        return {};
    });
    CHECK(tx.has_value());
    CHECK_FALSE(db->exec("SELECT * FROM no_such_table").has_value());
    CHECK(ok == 3);
    CHECK(failed == 1);
}
