#pragma once

// Helpers for the [pg] tests: each test gets its own database, created on the server named by the standard PG*
// environment (tests/with-postgres.sh sets it) and dropped at the end, so tests can run in parallel.

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>

#include "store/database.hpp"
#include "store/detail/pq.hpp"

namespace msteams::test {

// Fails the test, loudly, when no PostgreSQL server is configured (Catch2 v2 cannot skip).
inline void require_postgres_env() {
    INFO(
        "[pg] tests need PostgreSQL through PGHOST/PGPORT/PGUSER/PGDATABASE: run them under tests/with-postgres.sh,"
        " or exclude them with the filter \"~[pg]\"");
    REQUIRE(std::getenv("PGHOST") != nullptr);
}

// An administrative connection through libpq directly, to the server's maintenance database, for what the store
// itself must not do (CREATE/DROP DATABASE) or must not see (killing its own connections).
class AdminConnection {
public:
    AdminConnection() {
        require_postgres_env();
        conn_.reset(PQconnectdb("dbname=postgres application_name=msteams-test-admin"));
        INFO("admin connection: " << (conn_ ? PQerrorMessage(conn_.get()) : "out of memory"));
        REQUIRE((conn_ && PQstatus(conn_.get()) == CONNECTION_OK));
    }

    // Runs one statement; returns the first column of the first row ("" if none). Fails the test on error.
    std::string run(std::string const& sql) {
        store::detail::PgResultPtr result(PQexec(conn_.get(), sql.c_str()));
        auto const status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
        INFO(sql << ": " << PQerrorMessage(conn_.get()));
        REQUIRE((status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK));
        if (status == PGRES_TUPLES_OK && PQntuples(result.get()) > 0 && PQnfields(result.get()) > 0) {
            return PQgetvalue(result.get(), 0, 0);
        }
        return {};
    }

    // Like run(), without failing the test (for destructors).
    void try_run(std::string const& sql) noexcept {
        store::detail::PgResultPtr result(PQexec(conn_.get(), sql.c_str()));
    }

    // Terminates a backend and waits until it is gone.
    void terminate(std::string const& pid) { REQUIRE(run("SELECT pg_terminate_backend(" + pid + ", 5000)") == "t"); }

private:
    store::detail::PgConnPtr conn_;
};

inline std::string random_suffix() {
    std::random_device device;
    std::mt19937_64 generator((static_cast<std::uint64_t>(device()) << 32) ^ device());
    char const* digits = "0123456789abcdefghijklmnopqrstuvwxyz";
    std::string out;
    for (int i = 0; i < 12; ++i) {
        out.push_back(digits[generator() % 36]);
    }
    return out;
}

// A fresh database for one test, dropped (with its connections) when the test ends.
class TempDatabase {
public:
    TempDatabase() : name_("msteams_test_" + random_suffix()) { admin_.run("CREATE DATABASE " + name_); }
    TempDatabase(TempDatabase const&) = delete;
    TempDatabase& operator=(TempDatabase const&) = delete;
    ~TempDatabase() { admin_.try_run("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)"); }

    [[nodiscard]] std::string const& name() const { return name_; }
    // libpq keyword/value form; host, port and user come from the environment.
    [[nodiscard]] std::string data_source() const { return "dbname=" + name_; }

    [[nodiscard]] std::shared_ptr<store::Database> open(
        std::size_t pool_size = 4, std::chrono::milliseconds acquire_timeout = std::chrono::seconds(10)) const {
        store::Options options;
        options.data_source = data_source();
        options.pool_size = pool_size;
        options.acquire_timeout = acquire_timeout;
        auto db = store::Database::open(options);
        INFO("open: " << (db ? std::string("ok") : db.error().message));
        REQUIRE(db.has_value());
        return *db;
    }

    // Opens and migrates.
    [[nodiscard]] std::shared_ptr<store::Database> open_migrated(std::size_t pool_size = 4) const {
        auto db = open(pool_size);
        auto migrated = db->migrate();
        INFO("migrate: " << (migrated ? std::string("ok") : migrated.error().message));
        REQUIRE(migrated.has_value());
        return db;
    }

    AdminConnection& admin() { return admin_; }

private:
    AdminConnection admin_;
    std::string name_;
};

}  // namespace msteams::test
