#include "store/database.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "common/backoff.hpp"
#include "common/log.hpp"
#include "store/detail/connection.hpp"
#include "store/detail/migrations.hpp"
#include "store/detail/pool.hpp"

namespace msteams::store {

// --- Rows -----------------------------------------------------------------------------------------------------------

Rows::Rows(std::vector<std::string> columns, std::vector<std::vector<std::optional<std::string>>> values,
           std::int64_t affected)
    : columns_(std::move(columns)),
      values_(std::move(values)),
      affected_(affected) {}

std::optional<std::string> const& Rows::at(std::size_t row, std::string_view column) const {
    auto const found = std::find(columns_.begin(), columns_.end(), column);
    if (found == columns_.end()) {
        throw std::out_of_range("no column " + std::string(column) + " in the result");
    }
    if (row >= values_.size()) {
        throw std::out_of_range("row " + std::to_string(row) + " is beyond the result's " +
                                std::to_string(values_.size()) + " rows");
    }
    return values_[row][static_cast<std::size_t>(found - columns_.begin())];
}

std::string Rows::text(std::size_t row, std::string_view column) const {
    auto const& value = at(row, column);
    return value ? *value : std::string();
}

std::int64_t Rows::integer(std::size_t row, std::string_view column) const {
    auto const& value = at(row, column);
    if (!value) {
        return 0;
    }
    std::int64_t number = 0;
    auto const* end = value->data() + value->size();
    auto const [ptr, ec] = std::from_chars(value->data(), end, number);
    if (ec != std::errc() || ptr != end) {
        throw std::invalid_argument("column " + std::string(column) + " is not an integer");
    }
    return number;
}

namespace {

using detail::Connection;
using detail::Pool;

constexpr int k_max_retries = 3;
constexpr int k_min_server_version = 100000;  // PostgreSQL 10

std::chrono::milliseconds reconnect_pause(int attempt) {
    return msteams::backoff(attempt, std::chrono::milliseconds(50), std::chrono::seconds(1));
}

class ConnectionTx final : public Tx {
public:
    explicit ConnectionTx(Connection& conn) : conn_(conn) {}
    Result<Rows> exec(std::string_view sql, std::vector<Param> const& params) override {
        return conn_.exec(sql, params);
    }

private:
    Connection& conn_;
};

// How one attempt ended: `retry` when the connection was lost before anything could have been committed.
struct Attempt {
    Status status;
    bool retry = false;
};

Attempt run_transaction(Connection& conn, std::function<Status(Tx&)> const& work) {
    if (auto begun = conn.command("BEGIN"); !begun) {
        return {std::unexpected(begun.error()), conn.lost()};
    }
    ConnectionTx tx(conn);
    Status status;
    try {
        status = work(tx);
    } catch (...) {
        // A programming error in `work`: roll back so the connection can be reused, and let it propagate.
        (void)conn.command("ROLLBACK");
        throw;
    }
    if (conn.lost()) {
        return {status ? Status(fail(ErrorCode::unavailable, "database connection lost")) : status, true};
    }
    if (!status) {
        (void)conn.command("ROLLBACK");  // on failure the pool closes the connection (it is not idle)
        return {status, false};
    }
    auto committed = conn.command("COMMIT");
    if (!committed) {
        if (conn.lost()) {
            // The server may or may not have committed: retrying could apply the work twice.
            return {fail(ErrorCode::unavailable, "database connection lost during COMMIT; the outcome is unknown"),
                    false};
        }
        return {std::unexpected(committed.error()), false};
    }
    if (*committed != "COMMIT") {
        // PostgreSQL answers COMMIT with ROLLBACK when a statement failed and `work` returned success regardless.
        return {fail(ErrorCode::internal, "the transaction was rolled back: a statement in it failed"), false};
    }
    return {Status(), false};
}

class PgDatabase final : public Database {
public:
    PgDatabase(std::string conninfo, Options const& options)
        : pool_(std::move(conninfo), options.connect_timeout, options.pool_size, options.acquire_timeout) {}

    Result<int> check_server() {
        auto lease = pool_.acquire();
        if (!lease) {
            return std::unexpected(lease.error());
        }
        return (*lease)->server_version();
    }

    Status migrate() override {
        for (int attempt = 0;; ++attempt) {
            auto lease = pool_.acquire();
            if (!lease) {
                return std::unexpected(lease.error());
            }
            auto status = migrate_on(**lease);
            if (status) {
                return status;
            }
            // On any failure close the connection: it may still hold the session advisory lock or a transaction.
            lease->discard();
            if (!(*lease)->lost() || attempt >= k_max_retries) {
                return status;
            }
            log::warn("database connection lost while migrating; retrying", {{"attempt", std::to_string(attempt + 1)}});
            std::this_thread::sleep_for(reconnect_pause(attempt));
        }
    }

    Result<int> schema_version() override {
        Result<int> version = 0;
        auto status = transact([&](Tx& tx) -> Status {
            Rows exists;
            MSTEAMS_TRY_ASSIGN(exists,
                               tx.exec("SELECT to_regclass('msteams_schema_migrations') IS NOT NULL AS present"));
            if (exists.text(0, "present") != "t") {
                version = 0;
                return {};
            }
            Rows rows;
            MSTEAMS_TRY_ASSIGN(rows,
                               tx.exec("SELECT coalesce(max(version), 0) AS version FROM msteams_schema_migrations"));
            version = static_cast<int>(rows.integer(0, "version"));
            return {};
        });
        if (!status) {
            return std::unexpected(status.error());
        }
        return version;
    }

    Status transact(std::function<Status(Tx&)> const& work) override {
        for (int attempt = 0;; ++attempt) {
            auto lease = pool_.acquire();
            if (!lease) {
                return std::unexpected(lease.error());
            }
            auto outcome = run_transaction(**lease, work);
            if ((*lease)->lost()) {
                lease->discard();
            }
            if (!outcome.retry || attempt >= k_max_retries) {
                return outcome.status;
            }
            log::warn("database connection lost; retrying the transaction on a new connection",
                      {{"attempt", std::to_string(attempt + 1)}});
            std::this_thread::sleep_for(reconnect_pause(attempt));
        }
    }

    Result<Rows> exec(std::string_view sql, std::vector<Param> const& params) override {
        Rows rows;
        auto status = transact([&](Tx& tx) -> Status {
            MSTEAMS_TRY_ASSIGN(rows, tx.exec(sql, params));
            return {};
        });
        if (!status) {
            return std::unexpected(status.error());
        }
        return rows;
    }

private:
    static Status migrate_on(Connection& conn) {
        auto const key = std::to_string(detail::k_migration_lock_key);
        // Session-level lock: concurrent callers (other nodes, other threads) queue here until the holder is done.
        MSTEAMS_TRY(conn.exec("SELECT pg_advisory_lock($1::bigint)", {key}));
        MSTEAMS_TRY(conn.command(
            "CREATE TABLE IF NOT EXISTS msteams_schema_migrations ("
            " version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());"
            // Steps applied by builds before checksums were recorded have '' until the next start fills it in.
            "ALTER TABLE msteams_schema_migrations ADD COLUMN IF NOT EXISTS checksum text NOT NULL DEFAULT ''"));
        Rows rows;
        MSTEAMS_TRY_ASSIGN(rows,
                           conn.exec("SELECT version, checksum FROM msteams_schema_migrations ORDER BY version", {}));
        std::map<std::int64_t, std::string> applied;  // version → recorded checksum
        for (std::size_t i = 0; i < rows.size(); ++i) {
            applied[rows.integer(i, "version")] = rows.text(i, "checksum");
        }
        auto const known = detail::migrations();
        // A step that was edited after it was applied means this database's schema is not what the code expects.
        for (auto const& migration : known) {
            auto const it = applied.find(migration.version);
            if (it == applied.end()) {
                continue;
            }
            if (it->second.empty()) {
                MSTEAMS_TRY(conn.exec("UPDATE msteams_schema_migrations SET checksum = $2 WHERE version = $1",
                                      {std::to_string(migration.version), std::string(migration.checksum)}));
            } else if (it->second != migration.checksum) {
                (void)conn.exec("SELECT pg_advisory_unlock($1::bigint)", {key});
                return fail(ErrorCode::internal,
                            "database migration " + std::string(migration.name) +
                                " differs from the one applied to this database (checksum " + it->second + ", now " +
                                std::string(migration.checksum) +
                                "): a landed migration must never be edited; restore it and add a new step");
            }
        }
        if (!applied.empty() && !known.empty() && applied.rbegin()->first > known.back().version) {
            log::warn("the database schema is newer than this build of the plugin",
                      {{"database_version", std::to_string(applied.rbegin()->first)},
                       {"known_version", std::to_string(known.back().version)}});
        }
        for (auto const& migration : known) {
            if (applied.contains(migration.version)) {
                continue;
            }
            MSTEAMS_TRY(conn.command("BEGIN"));
            auto applied_ok = [&]() -> Status {
                MSTEAMS_TRY(conn.command(migration.sql));
                MSTEAMS_TRY(conn.exec(
                    "INSERT INTO msteams_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    {std::to_string(migration.version), std::string(migration.name), std::string(migration.checksum)}));
                std::string tag;
                MSTEAMS_TRY_ASSIGN(tag, conn.command("COMMIT"));
                if (tag != "COMMIT") {
                    return fail(ErrorCode::internal, "migration was rolled back");
                }
                return {};
            }();
            if (!applied_ok) {
                (void)conn.command("ROLLBACK");
                return fail(applied_ok.error().code, "database migration " + std::string(migration.name) +
                                                         " failed: " + applied_ok.error().message);
            }
            log::info("applied database migration",
                      {{"version", std::to_string(migration.version)}, {"name", std::string(migration.name)}});
        }
        MSTEAMS_TRY(conn.exec("SELECT pg_advisory_unlock($1::bigint)", {key}));
        return {};
    }

    Pool pool_;
};

}  // namespace

Result<std::shared_ptr<Database>> Database::open(Options options) {
    std::string conninfo;
    MSTEAMS_TRY_ASSIGN(conninfo, to_libpq_conninfo(options.data_source, options.connect_timeout));
    options.data_source.clear();
    auto db = std::make_shared<PgDatabase>(std::move(conninfo), options);
    int version = 0;
    MSTEAMS_TRY_ASSIGN(version, db->check_server());
    if (version < k_min_server_version) {
        return fail(ErrorCode::invalid_argument,
                    "PostgreSQL " + std::to_string(version / 10000) + " is too old: version 10 or later is needed");
    }
    return std::shared_ptr<Database>(std::move(db));
}

namespace {

class ObservedTx final : public Tx {
public:
    ObservedTx(Tx& inner, QueryObserver const& observe) : inner_(inner), observe_(observe) {}
    Result<Rows> exec(std::string_view sql, std::vector<Param> const& params) override {
        auto const started = std::chrono::steady_clock::now();
        auto rows = inner_.exec(sql, params);
        observe_(std::chrono::steady_clock::now() - started, rows.has_value());
        return rows;
    }

private:
    Tx& inner_;
    QueryObserver const& observe_;
};

class ObservedDatabase final : public Database {
public:
    ObservedDatabase(std::shared_ptr<Database> inner, QueryObserver observe)
        : inner_(std::move(inner)),
          observe_(std::move(observe)) {}
    Status migrate() override { return inner_->migrate(); }
    Result<int> schema_version() override { return inner_->schema_version(); }
    Status transact(std::function<Status(Tx&)> const& work) override {
        return inner_->transact([&](Tx& tx) {
            ObservedTx observed(tx, observe_);
            return work(observed);
        });
    }
    Result<Rows> exec(std::string_view sql, std::vector<Param> const& params) override {
        auto const started = std::chrono::steady_clock::now();
        auto rows = inner_->exec(sql, params);
        observe_(std::chrono::steady_clock::now() - started, rows.has_value());
        return rows;
    }

private:
    std::shared_ptr<Database> inner_;
    QueryObserver observe_;
};

}  // namespace

std::shared_ptr<Database> observed(std::shared_ptr<Database> db, QueryObserver observe) {
    if (!db || !observe) {
        return db;
    }
    return std::make_shared<ObservedDatabase>(std::move(db), std::move(observe));
}

Result<Rows> AutoCommit::exec(std::string_view sql, std::vector<Param> const& params) { return db_.exec(sql, params); }

}  // namespace msteams::store
