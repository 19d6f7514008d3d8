#include <catch2/catch.hpp>

#include <atomic>
#include <barrier>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "pg_support.hpp"
#include "store/database.hpp"

using msteams::ErrorCode;
using msteams::fail;
using msteams::Status;
using msteams::store::Database;
using msteams::store::Options;
using msteams::store::Rows;
using msteams::store::Tx;
using msteams::test::TempDatabase;
using namespace std::chrono_literals;

namespace {

Rows must(msteams::Result<Rows> r) {
    INFO((r ? std::string("ok") : r.error().message));
    REQUIRE(r.has_value());
    return *r;
}

void must(Status s) {
    INFO((s ? std::string("ok") : s.error().message));
    REQUIRE(s.has_value());
}

std::int64_t count(Database& db, std::string const& table) {
    return must(db.exec("SELECT count(*) AS n FROM " + table)).integer(0, "n");
}

}  // namespace

TEST_CASE("store: rows give text, integers and NULLs by column name", "[store]") {
    Rows const rows({"a", "b"}, {{std::string("x"), std::nullopt}, {std::string("42"), std::string("-7")}}, 2);
    CHECK(rows.size() == 2);
    CHECK(rows.affected() == 2);
    CHECK(rows.text(0, "a") == "x");
    CHECK(rows.text(0, "b").empty());
    CHECK_FALSE(rows.at(0, "b").has_value());
    CHECK(rows.integer(0, "b") == 0);
    CHECK(rows.integer(1, "a") == 42);
    CHECK(rows.integer(1, "b") == -7);
    CHECK_THROWS_AS(rows.at(2, "a"), std::out_of_range);
    CHECK_THROWS_AS(rows.at(0, "c"), std::out_of_range);
    CHECK_THROWS_AS(rows.integer(0, "a"), std::invalid_argument);
    CHECK(Rows().empty());
}

TEST_CASE("store: statements take text parameters and NULLs and return text", "[pg]") {
    TempDatabase temp;
    auto db = temp.open();
    auto rows = must(db->exec("SELECT $1::text AS a, $2::bigint AS b, $3::text AS c, 'é✓' AS d",
                              {std::string("it's"), std::string("9007199254740993"), std::nullopt}));
    REQUIRE(rows.size() == 1);
    CHECK(rows.text(0, "a") == "it's");
    CHECK(rows.integer(0, "b") == 9007199254740993);
    CHECK_FALSE(rows.at(0, "c").has_value());
    CHECK(rows.text(0, "d") == "é✓");
    must(db->exec("CREATE TABLE t (k text PRIMARY KEY)"));
    CHECK(must(db->exec("INSERT INTO t VALUES ('a'), ('b'), ('c')")).affected() == 3);
    CHECK(must(db->exec("DELETE FROM t WHERE k <> $1", {std::string("a")})).affected() == 2);
}

TEST_CASE("store: a statement is prepared once per connection and reused", "[pg]") {
    TempDatabase temp;
    auto db = temp.open(1);
    for (int i = 0; i < 3; ++i) {
        CHECK(must(db->exec("SELECT $1::int + 1 AS x", {std::to_string(i)})).integer(0, "x") == i + 1);
    }
    auto const prepared =
        must(db->exec("SELECT count(*) AS n FROM pg_prepared_statements WHERE statement = 'SELECT $1::int + 1 AS x'"));
    CHECK(prepared.integer(0, "n") == 1);
}

TEST_CASE("store: a transaction commits on success and rolls back on failure", "[pg]") {
    TempDatabase temp;
    auto db = temp.open();
    must(db->exec("CREATE TABLE t (k text PRIMARY KEY)"));

    must(db->transact([](Tx& tx) -> Status {
        MSTEAMS_TRY(tx.exec("INSERT INTO t VALUES ($1)", {std::string("one")}));
        MSTEAMS_TRY(tx.exec("INSERT INTO t VALUES ($1)", {std::string("two")}));
        return {};
    }));
    CHECK(count(*db, "t") == 2);

    auto const failed = db->transact([](Tx& tx) -> Status {
        MSTEAMS_TRY(tx.exec("INSERT INTO t VALUES ($1)", {std::string("three")}));
        return fail(ErrorCode::invalid_argument, "changed my mind");
    });
    REQUIRE_FALSE(failed.has_value());
    CHECK(failed.error().code == ErrorCode::invalid_argument);
    CHECK(failed.error().message == "changed my mind");
    CHECK(count(*db, "t") == 2);

    // A failed statement whose error `work` ignores still aborts the transaction; it is not reported as committed.
    auto const ignored = db->transact([](Tx& tx) -> Status {
        (void)tx.exec("INSERT INTO t VALUES ($1)", {std::string("four")});
        (void)tx.exec("INSERT INTO t VALUES ($1)", {std::string("one")});  // duplicate
        return {};
    });
    REQUIRE_FALSE(ignored.has_value());
    CHECK(ignored.error().code == ErrorCode::internal);
    CHECK_THAT(ignored.error().message, Catch::Contains("rolled back"));
    CHECK(count(*db, "t") == 2);

    // The connections are clean for the next user.
    CHECK(count(*db, "t") == 2);
    CHECK(must(db->exec("SELECT 1 AS one")).integer(0, "one") == 1);
}

TEST_CASE("store: an exception from the work rolls back and propagates", "[pg]") {
    TempDatabase temp;
    auto db = temp.open(1);
    must(db->exec("CREATE TABLE t (k text PRIMARY KEY)"));
    CHECK_THROWS_AS(db->transact([](Tx& tx) -> Status {
        (void)tx.exec("INSERT INTO t VALUES ('x')");
        throw std::logic_error("bug");
    }),
                    std::logic_error);
    CHECK(count(*db, "t") == 0);
}

TEST_CASE("store: a unique violation is a conflict — errors carry SQLSTATE but never values", "[pg]") {
    TempDatabase temp;
    auto db = temp.open();
    must(db->exec("CREATE TABLE t (k text PRIMARY KEY)"));
    must(db->exec("INSERT INTO t VALUES ($1)", {std::string("secret-token-123")}));
    auto const dup = db->exec("INSERT INTO t VALUES ($1)", {std::string("secret-token-123")});
    REQUIRE_FALSE(dup.has_value());
    CHECK(dup.error().code == ErrorCode::conflict);
    CHECK_THAT(dup.error().message, Catch::Contains("23505") && Catch::Contains("t_pkey"));
    CHECK_THAT(dup.error().message, !Catch::Contains("secret-token-123"));

    auto const bad = db->exec("SELECT $1::bigint AS n", {std::string("secret-abc")});
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().code == ErrorCode::internal);
    CHECK_THAT(bad.error().message, Catch::Contains("22P02"));
    CHECK_THAT(bad.error().message, !Catch::Contains("secret-abc"));

    auto const syntax = db->exec("SELEC 1");
    REQUIRE_FALSE(syntax.has_value());
    CHECK(syntax.error().code == ErrorCode::internal);
    CHECK_THAT(syntax.error().message, Catch::Contains("42601"));
}

TEST_CASE("store: a pooled connection killed while idle is replaced transparently", "[pg]") {
    TempDatabase temp;
    auto db = temp.open(1);
    auto const pid = must(db->exec("SELECT pg_backend_pid() AS pid")).text(0, "pid");
    temp.admin().terminate(pid);
    auto const next = db->exec("SELECT pg_backend_pid() AS pid");
    INFO((next ? std::string("ok") : next.error().message));
    REQUIRE(next.has_value());
    CHECK(next->text(0, "pid") != pid);
}

TEST_CASE("store: after a server-side restart every dead idle connection is replaced without failing", "[pg]") {
    TempDatabase temp;
    constexpr int k_size = 4;
    auto db = temp.open(k_size);
    // Fill the pool: four transactions holding their connections at the same time.
    std::barrier together(k_size);
    std::atomic<int> filled{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < k_size; ++i) {
        threads.emplace_back([&] {
            bool arrived = false;
            auto const s = db->transact([&](Tx& tx) -> Status {
                MSTEAMS_TRY(tx.exec("SELECT 1"));
                arrived = true;
                together.arrive_and_wait();
                return {};
            });
            if (!arrived) {
                together.arrive_and_drop();  // do not leave the others waiting
            }
            if (s) {
                ++filled;
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    REQUIRE(filled == k_size);
    auto const killed = temp.admin().run(
        "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
        "WHERE datname = '" +
        temp.name() + "'");
    CHECK(killed == std::to_string(k_size));
    // More dead connections than retries: they must be noticed before use.
    int attempts = 0;
    must(db->transact([&](Tx& tx) -> Status {
        ++attempts;
        MSTEAMS_TRY(tx.exec("SELECT 1"));
        return {};
    }));
    CHECK(attempts == 1);
}

TEST_CASE("store: a connection lost inside a transaction retries the whole transaction once", "[pg]") {
    TempDatabase temp;
    auto db = temp.open(1);
    must(db->exec("CREATE TABLE t (k text PRIMARY KEY)"));
    int attempts = 0;
    auto const status = db->transact([&](Tx& tx) -> Status {
        ++attempts;
        MSTEAMS_TRY(tx.exec("INSERT INTO t VALUES ($1)", {std::string("once")}));
        if (attempts == 1) {
            Rows pid;
            MSTEAMS_TRY_ASSIGN(pid, tx.exec("SELECT pg_backend_pid() AS pid"));
            temp.admin().terminate(pid.text(0, "pid"));
        }
        MSTEAMS_TRY(tx.exec("INSERT INTO t VALUES ($1)", {std::string("twice")}));
        return {};
    });
    INFO((status ? std::string("ok") : status.error().message));
    REQUIRE(status.has_value());
    CHECK(attempts == 2);
    CHECK(count(*db, "t") == 2);
}

TEST_CASE("store: a connection lost on every attempt gives up after 3 retries", "[pg]") {
    TempDatabase temp;
    auto db = temp.open(1);
    int attempts = 0;
    auto const status = db->transact([&](Tx& tx) -> Status {
        ++attempts;
        Rows pid;
        MSTEAMS_TRY_ASSIGN(pid, tx.exec("SELECT pg_backend_pid() AS pid"));
        temp.admin().terminate(pid.text(0, "pid"));
        MSTEAMS_TRY(tx.exec("SELECT 1"));
        return {};
    });
    REQUIRE_FALSE(status.has_value());
    CHECK(status.error().code == ErrorCode::unavailable);
    CHECK(attempts == 4);
    // And the pool recovers afterwards.
    CHECK(must(db->exec("SELECT 1 AS one")).integer(0, "one") == 1);
}

TEST_CASE("store: an exhausted pool answers unavailable after acquire_timeout", "[pg]") {
    TempDatabase temp;
    auto db = temp.open(1, 300ms);
    msteams::Result<Rows> inner = Rows();
    auto elapsed = 0ms;
    must(db->transact([&](Tx&) -> Status {
        auto const start = std::chrono::steady_clock::now();
        inner = db->exec("SELECT 1");  // the only connection is held by this transaction
        elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
        return {};
    }));
    REQUIRE_FALSE(inner.has_value());
    CHECK(inner.error().code == ErrorCode::unavailable);
    CHECK(inner.error().message == "database pool exhausted");
    CHECK(elapsed >= 250ms);
    CHECK(elapsed < 3s);
    // Free again once the transaction ended.
    CHECK(must(db->exec("SELECT 1 AS one")).integer(0, "one") == 1);
}

TEST_CASE("store: the pool shares at most pool_size connections between threads", "[pg]") {
    TempDatabase temp;
    auto db = temp.open(2);
    must(db->exec("CREATE TABLE t (n int)"));
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 20; ++i) {
                auto const s = db->transact([&](Tx& tx) -> Status {
                    MSTEAMS_TRY(tx.exec("INSERT INTO t VALUES ($1)", {std::to_string(t * 100 + i)}));
                    return {};
                });
                if (!s) {
                    ++failures;
                }
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    CHECK(failures == 0);
    CHECK(count(*db, "t") == 120);
    auto const sessions = temp.admin().run("SELECT count(*) FROM pg_stat_activity WHERE datname = '" + temp.name() +
                                           "' AND application_name = 'msteams-core'");
    CHECK(std::stoi(sessions) >= 1);
    CHECK(std::stoi(sessions) <= 2);
}

TEST_CASE("store: open accepts Mattermost's URL form and refuses unreachable servers without the password", "[pg]") {
    TempDatabase temp;
    std::string const host = std::getenv("PGHOST");
    std::string const port = std::getenv("PGPORT") != nullptr ? std::getenv("PGPORT") : "5432";
    std::string const user = std::getenv("PGUSER") != nullptr ? std::getenv("PGUSER") : "postgres";
    std::string encoded_host;
    for (char c : host) {
        encoded_host += c == '/' ? std::string("%2F") : std::string(1, c);
    }
    Options options;
    options.data_source = "postgres://" + user + ":unused@" + encoded_host + ":" + port + "/" + temp.name() +
                          "?sslmode=disable&binary_parameters=yes&connect_timeout=5";
    auto db = Database::open(options);
    INFO((db ? std::string("ok") : db.error().message));
    REQUIRE(db.has_value());
    CHECK(must((*db)->exec("SELECT current_database() AS d")).text(0, "d") == temp.name());

    options.data_source = "postgres://mmuser:hunter2secret@127.0.0.1:1/mattermost?sslmode=disable";
    auto const refused = Database::open(options);
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().code == ErrorCode::unavailable);
    CHECK_THAT(refused.error().message, Catch::Contains("cannot connect"));
    CHECK_THAT(refused.error().message, !Catch::Contains("hunter2secret"));
}
