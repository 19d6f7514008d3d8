#include <catch2/catch.hpp>

#include <atomic>
#include <barrier>
#include <cstdio>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "pg_support.hpp"
#include "store/database.hpp"
#include "store/detail/migrations.hpp"

using msteams::store::detail::migrations;
using msteams::test::TempDatabase;

namespace {

int latest_version() { return migrations().back().version; }

}  // namespace

TEST_CASE("store: migrations are numbered 1, 2, 3… and named after their number", "[store]") {
    auto const all = migrations();
    REQUIRE_FALSE(all.empty());
    for (std::size_t i = 0; i < all.size(); ++i) {
        INFO(all[i].name);
        CHECK(all[i].version == static_cast<int>(i) + 1);
        char prefix[8];
        std::snprintf(prefix, sizeof prefix, "%03d-", all[i].version);
        CHECK(all[i].name.starts_with(prefix));
        CHECK_FALSE(all[i].sql.empty());
        CHECK(all[i].checksum.size() == 64);
    }
    // The lock key is fixed: other nodes and older builds must agree on it.
    CHECK(msteams::store::detail::k_migration_lock_key == msteams::store::detail::lock_key("com.mattermost.msteams"));
    CHECK(msteams::store::detail::lock_key("a") != msteams::store::detail::lock_key("b"));
}

// Every step that has landed, with the SHA-256 of its file. A landed step is never edited (databases in the field
// already ran it): change the schema with a new step, and add its checksum here when it lands.
TEST_CASE("store: landed migrations are unchanged, byte for byte", "[store]") {
    std::vector<std::pair<std::string, std::string>> const landed = {
        {"001-accounts-and-oauth-states", "454deff07296496b74c0f682808786974e0823177f7f12351680e7e2c56ecb49"},
        {"002-bridge", "d9903bae71cc3f93a22a9ccd4d9a05e43a1349737f869e680a47649f5d4d3e6b"},
        {"003-dead-letters-and-inbox-leases", "657327815308b87a73cdaea171be8e18d4b16bd73c767826832e8fc5ee9a8c42"},
        {"004-outbox-leases-and-thread-writes", "8a136816397d018f99e6344a91060f71a2c5d3261564eeff5455d3cffba21f44"},
        {"005-user-photos", "a2501e370b29e2c682bb1a116bc7b2165b493755f31618e78e724cf1c3cb112c"},
        {"006-closed-sets-checked", "d21abedc2c22228ae89e42fb672fb7c1b0fc7af12d71ba4dba429815da440800"},
        {"007-notices", "e76125bf6cfb0590b563b77a4dad897d53855b436d40f54f356f4c54e4c973a0"},
        {"008-outbox-seen-and-nodes", "3f212490a0f351a6519f7dde8ecea4dacc1cdf7965bd10a7622f3ad52c5df234"},
        {"009-rich-notifications", "c1e8272e9be6fa76f4bbc7db4d6089b70cbc660068e7b905bcb325ec2fe88020"},
        {"010-subscription-planner", "1f8a0866f5bb31ed4f66453507e74d45fd127bce6595a668dd1119252bcbfec2"},
        {"011-legacy-import", "75c1b7455a5a15e84698ea95c799e65facbdea64bf55333f526cf6cc3d0d5e2b"},
        {"012-rollout", "98e86178d7ec178281b91d8db677efcec2b1cf567d3f157e98fc0d9fad4fd120"},
        {"013-user-sync", "8616aeea966764089c6e6439d7827f6564d16214a222630a2092cfc50d65e459"},
        {"014-activity-feed", "96150677e429a0137e99f54029b88dcb4e17b8183244a8f68a483c1aca69d78a"},
        {"015-feed-bulk-sends", "7d7dd930cb6f9144dbeb1d6b48f553aa56e4b3ceb0672a9dbe3a6438bcd8e3da"},
    };
    auto const all = migrations();
    REQUIRE(all.size() >= landed.size());
    for (std::size_t i = 0; i < landed.size(); ++i) {
        INFO(landed[i].first);
        CHECK(all[i].name == landed[i].first);
        CHECK(all[i].checksum == landed[i].second);
    }
}

TEST_CASE("store: a database whose applied step differs from this build's is refused, naming the step", "[pg]") {
    TempDatabase temp;
    auto db = temp.open(1);
    REQUIRE(db->migrate().has_value());
    // As a build that edited step 2 after it landed would find it.
    REQUIRE(db->exec("UPDATE msteams_schema_migrations SET checksum = 'edited' WHERE version = 2").has_value());
    auto const refused = db->migrate();
    REQUIRE_FALSE(refused.has_value());
    CHECK_THAT(refused.error().message, Catch::Contains("002-bridge") && Catch::Contains("never be edited"));
    // The lock is released: another node can start (and is refused the same way, not stuck).
    auto const again = temp.open(1)->migrate();
    REQUIRE_FALSE(again.has_value());

    // Steps recorded by builds before checksums existed get theirs on the next start.
    REQUIRE(db->exec("UPDATE msteams_schema_migrations SET checksum = ''").has_value());
    REQUIRE(db->migrate().has_value());
    auto const recorded = db->exec("SELECT checksum FROM msteams_schema_migrations ORDER BY version");
    REQUIRE(recorded.has_value());
    for (std::size_t i = 0; i < recorded->size(); ++i) {
        CHECK(recorded->text(i, "checksum") == migrations()[i].checksum);
    }
}

TEST_CASE("store: migrate creates the schema, records each step once and is idempotent", "[pg]") {
    TempDatabase temp;
    auto db = temp.open();
    auto version = db->schema_version();
    REQUIRE(version.has_value());
    CHECK(*version == 0);

    REQUIRE(db->migrate().has_value());
    version = db->schema_version();
    REQUIRE(version.has_value());
    CHECK(*version == latest_version());

    REQUIRE(db->migrate().has_value());
    auto const recorded = db->exec("SELECT version, name, applied_at FROM msteams_schema_migrations ORDER BY version");
    REQUIRE(recorded.has_value());
    REQUIRE(recorded->size() == migrations().size());
    for (std::size_t i = 0; i < recorded->size(); ++i) {
        CHECK(recorded->integer(i, "version") == migrations()[i].version);
        CHECK(recorded->text(i, "name") == migrations()[i].name);
        CHECK_FALSE(recorded->text(i, "applied_at").empty());
    }

    auto const tables =
        db->exec("SELECT count(*) AS n FROM pg_tables WHERE tablename IN ('msteams_accounts', 'msteams_oauth_states')");
    REQUIRE(tables.has_value());
    CHECK(tables->integer(0, "n") == 2);
    auto const index = db->exec("SELECT indexdef FROM pg_indexes WHERE indexname = 'msteams_accounts_connected_idx'");
    REQUIRE(index.has_value());
    REQUIRE(index->size() == 1);
    CHECK_THAT(index->text(0, "indexdef"), Catch::Contains("WHERE (token_sealed IS NOT NULL)"));

    // The advisory lock is released although the connection went back to the pool.
    auto const locks = db->exec(
        "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())");
    REQUIRE(locks.has_value());
    CHECK(locks->integer(0, "n") == 0);
}

TEST_CASE("store: four processes migrating at once apply each step exactly once", "[pg]") {
    TempDatabase temp;
    constexpr int k_nodes = 4;
    // One Database per thread: separate pools, separate connections, as separate nodes would have.
    std::vector<std::shared_ptr<msteams::store::Database>> nodes;
    for (int i = 0; i < k_nodes; ++i) {
        nodes.push_back(temp.open(1));
    }
    std::barrier start(k_nodes);
    std::atomic<int> ok{0};
    std::vector<std::string> errors(k_nodes);
    std::vector<std::thread> threads;
    for (int i = 0; i < k_nodes; ++i) {
        threads.emplace_back([&, i] {
            start.arrive_and_wait();
            auto const status = nodes[static_cast<std::size_t>(i)]->migrate();
            if (status) {
                ++ok;
            } else {
                errors[static_cast<std::size_t>(i)] = status.error().message;
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    for (auto const& error : errors) {
        CHECK(error.empty());
    }
    CHECK(ok == k_nodes);
    auto const recorded = nodes[0]->exec(
        "SELECT count(*) AS n, count(DISTINCT version) AS d FROM "
        "msteams_schema_migrations");
    REQUIRE(recorded.has_value());
    CHECK(recorded->integer(0, "n") == static_cast<std::int64_t>(migrations().size()));
    CHECK(recorded->integer(0, "d") == static_cast<std::int64_t>(migrations().size()));
    for (auto const& node : nodes) {
        auto const version = node->schema_version();
        REQUIRE(version.has_value());
        CHECK(*version == latest_version());
    }
}

TEST_CASE("store: a failing migration leaves no trace and releases the lock", "[pg]") {
    TempDatabase temp;
    auto db = temp.open(1);
    // A table in the way of migration 1: its CREATE TABLE fails, and the whole step rolls back.
    REQUIRE(db->exec("CREATE TABLE msteams_oauth_states (x int)").has_value());
    auto const status = db->migrate();
    REQUIRE_FALSE(status.has_value());
    CHECK_THAT(status.error().message, Catch::Contains("001-") && Catch::Contains("42P07"));
    auto const accounts = db->exec("SELECT to_regclass('msteams_accounts') IS NULL AS absent");
    REQUIRE(accounts.has_value());
    CHECK(accounts->text(0, "absent") == "t");
    auto const version = db->schema_version();
    REQUIRE(version.has_value());
    CHECK(*version == 0);
    auto const locks = db->exec(
        "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())");
    REQUIRE(locks.has_value());
    CHECK(locks->integer(0, "n") == 0);

    // Once the obstacle is gone, migrating works.
    REQUIRE(db->exec("DROP TABLE msteams_oauth_states").has_value());
    REQUIRE(db->migrate().has_value());
    CHECK(db->schema_version().value_or(-1) == latest_version());
}
