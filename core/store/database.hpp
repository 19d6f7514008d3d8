#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ids.hpp"
#include "common/result.hpp"

// The Mattermost database, reached with libpq. libpq stays behind this header.
namespace msteams::store {

// A query parameter in libpq's text format; nullopt is SQL NULL. An id is its text.
struct Param : std::optional<std::string> {
    using std::optional<std::string>::optional;
    template <class Tag>
    Param(Id<Tag> const& id) : std::optional<std::string>(id.str()) {}  // NOLINT(google-explicit-constructor)
};

// Query results as text, NULL as nullopt.
class Rows {
public:
    Rows() = default;
    Rows(std::vector<std::string> columns, std::vector<std::vector<std::optional<std::string>>> values,
         std::int64_t affected);

    [[nodiscard]] std::size_t size() const noexcept { return values_.size(); }
    [[nodiscard]] bool empty() const noexcept { return values_.empty(); }
    [[nodiscard]] std::int64_t affected() const noexcept { return affected_; }
    // Throws std::out_of_range for a row or column that does not exist (a programming error).
    [[nodiscard]] std::optional<std::string> const& at(std::size_t row, std::string_view column) const;
    [[nodiscard]] std::string text(std::size_t row, std::string_view column) const;      // NULL → ""
    [[nodiscard]] std::int64_t integer(std::size_t row, std::string_view column) const;  // NULL → 0
    // An id the bridge stored (NULL → empty).
    template <class I>
    [[nodiscard]] I id(std::size_t row, std::string_view column) const {
        return I(text(row, column));
    }

private:
    std::vector<std::string> columns_;
    std::vector<std::vector<std::optional<std::string>>> values_;
    std::int64_t affected_ = 0;
};

// One transaction on one pooled connection. Statements are prepared once per connection and reused.
class Database;

class Tx {
public:
    virtual ~Tx() = default;
    [[nodiscard]] virtual Result<Rows> exec(std::string_view sql, std::vector<Param> const& params = {}) = 0;
};

// Each statement in its own transaction, for code that holds no transaction open across a network call and writes
// only what is idempotent (or writes the rest through Database::transact).
class AutoCommit final : public Tx {
public:
    explicit AutoCommit(Database& db) : db_(db) {}
    [[nodiscard]] Result<Rows> exec(std::string_view sql, std::vector<Param> const& params = {}) override;

private:
    Database& db_;
};

struct Options {
    // Mattermost's SqlSettings.DataSource (a postgres:// URL as lib/pq accepts it). Parameters libpq does not
    // know are dropped. Secret: never logged.
    std::string data_source;
    std::size_t pool_size = 4;
    std::chrono::milliseconds acquire_timeout{10'000};
    std::chrono::seconds connect_timeout{10};
};

class Database {
public:
    // Connects once to check the database is reachable and is PostgreSQL.
    [[nodiscard]] static Result<std::shared_ptr<Database>> open(Options options);
    virtual ~Database() = default;

    // Runs the numbered msteams_ migrations that are missing, under a PostgreSQL advisory lock so that several
    // nodes starting together run each migration once. Idempotent.
    [[nodiscard]] virtual Status migrate() = 0;
    [[nodiscard]] virtual Result<int> schema_version() = 0;

    // Runs `work` in a transaction: committed when it returns success, rolled back otherwise. A lost connection
    // (before or during the transaction) is replaced and the whole transaction retried, up to 3 times.
    [[nodiscard]] virtual Status transact(std::function<Status(Tx&)> const& work) = 0;
    // One statement in its own transaction, retried the same way.
    [[nodiscard]] virtual Result<Rows> exec(std::string_view sql, std::vector<Param> const& params = {}) = 0;
};

// What an observed database reports of each statement: how long it took and whether it succeeded.
using QueryObserver = std::function<void(std::chrono::nanoseconds took, bool ok)>;

// `db` with every statement (inside transactions too) reported to `observe`, for metrics (a null `db` stays null).
[[nodiscard]] std::shared_ptr<Database> observed(std::shared_ptr<Database> db, QueryObserver observe);

// Converts Mattermost's DataSource into a libpq connection string (exposed for tests).
[[nodiscard]] Result<std::string> to_libpq_conninfo(std::string_view data_source, std::chrono::seconds connect_timeout);

}  // namespace msteams::store
