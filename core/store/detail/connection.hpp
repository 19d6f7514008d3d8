#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.hpp"
#include "store/database.hpp"
#include "store/detail/pq.hpp"

namespace msteams::store::detail {

// One libpq connection, used by one thread at a time (the pool hands it out). Statements run with the extended
// protocol, parameters and results in text format, and are prepared once per connection, keyed by their SQL text.
//
// Once libpq reports the connection broken (CONNECTION_BAD, SQLSTATE class 08, or the server terminating the
// session), lost() turns true and every further call fails with ErrorCode::unavailable: the owner drops it.
class Connection {
public:
    // `conninfo` is a libpq keyword/value string. connect_timeout and application_name are applied unless it sets
    // them itself. Errors are ErrorCode::unavailable, with libpq's reason (which never includes the password).
    [[nodiscard]] static Result<std::unique_ptr<Connection>> open(std::string const& conninfo,
                                                                  std::chrono::seconds connect_timeout);

    Connection(Connection const&) = delete;
    Connection& operator=(Connection const&) = delete;
    ~Connection() = default;

    // A single statement with parameters, prepared on first use.
    [[nodiscard]] Result<Rows> exec(std::string_view sql, std::vector<Param> const& params);
    // Simple-protocol text (one or several statements, no parameters), e.g. BEGIN, COMMIT, a migration script.
    // Returns the command tag of the last statement ("COMMIT", "ROLLBACK", "CREATE TABLE", …).
    [[nodiscard]] Result<std::string> command(std::string_view sql);

    [[nodiscard]] bool lost() const noexcept { return lost_; }
    // Usable and outside any transaction: the only state in which the pool takes it back.
    [[nodiscard]] bool idle() const noexcept;
    // idle(), after reading whatever the server sent meanwhile without waiting: false (and lost() true) if the
    // server closed the connection.
    [[nodiscard]] bool alive() noexcept;
    [[nodiscard]] int backend_pid() const noexcept;
    [[nodiscard]] int server_version() const noexcept;
    [[nodiscard]] std::size_t prepared_count() const noexcept { return statements_.size(); }

private:
    explicit Connection(PgConnPtr conn) : conn_(std::move(conn)) {}

    // Converts a finished result; marks the connection lost when that is what the failure means.
    [[nodiscard]] Result<PgResultPtr> check(PgResultPtr result, std::string_view sql);

    PgConnPtr conn_;
    std::unordered_map<std::string, std::string> statements_;  // SQL text → prepared statement name
    std::uint64_t next_statement_ = 1;
    bool lost_ = false;
};

// The message for a failed statement: SQLSTATE, the server's primary message (omitted for data exceptions, whose
// messages quote input values), the constraint if any, and the start of the SQL text. Never parameter values.
[[nodiscard]] std::string describe_failure(PGresult const* result, std::string_view sql);

// unique_violation → conflict; serialization failure, deadlock, cancellation, lost connection → unavailable;
// anything else → internal.
[[nodiscard]] ErrorCode code_for_sqlstate(std::string_view sqlstate) noexcept;

// SQLSTATEs that mean the session is gone: class 08 and the 57P0x shutdown codes.
[[nodiscard]] bool is_connection_sqlstate(std::string_view sqlstate) noexcept;

}  // namespace msteams::store::detail
