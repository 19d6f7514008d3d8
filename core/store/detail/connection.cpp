#include "store/detail/connection.hpp"

#include <poll.h>

#include <array>
#include <charconv>
#include <climits>
#include <string>
#include <utility>

#include "common/log.hpp"
#include "common/strings.hpp"

namespace msteams::store::detail {
namespace {

// Beyond this many distinct statements on one connection, further ones run unprepared: SQL text is meant to be
// constant with parameters, so reaching it means a caller builds SQL dynamically, and the cache must not grow
// without bound.
constexpr std::size_t k_max_prepared = 256;
constexpr std::size_t k_sql_excerpt = 60;

std::string one_line(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    bool space = false;
    for (char c : text) {
        if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
            space = !out.empty();
            continue;
        }
        if (space) {
            out.push_back(' ');
            space = false;
        }
        out.push_back(c);
    }
    return out;
}

std::string sql_excerpt(std::string_view sql) {
    auto text = one_line(sql);
    if (text.size() > k_sql_excerpt) {
        text = strings::utf8_prefix(text, k_sql_excerpt) + "…";
    }
    return text;
}

std::string field(PGresult const* result, int code) {
    char const* value = PQresultErrorField(result, code);
    return value == nullptr ? std::string() : std::string(value);
}

std::string connection_message(PGconn const* conn) {
    char const* message = conn == nullptr ? nullptr : PQerrorMessage(conn);
    auto text = message == nullptr ? std::string() : one_line(message);
    return text.empty() ? std::string("no details from libpq") : text;
}

std::int64_t affected_rows(PGresult* result) {
    char const* tuples = PQcmdTuples(result);
    std::int64_t value = 0;
    if (tuples != nullptr && *tuples != '\0') {
        std::string_view text(tuples);
        std::from_chars(text.data(), text.data() + text.size(), value);
    }
    return value;
}

Rows to_rows(PGresult* result) {
    int const fields = PQnfields(result);
    int const tuples = PQntuples(result);
    std::vector<std::string> columns;
    columns.reserve(static_cast<std::size_t>(fields));
    for (int f = 0; f < fields; ++f) {
        columns.emplace_back(PQfname(result, f));
    }
    std::vector<std::vector<std::optional<std::string>>> values;
    values.reserve(static_cast<std::size_t>(tuples));
    for (int t = 0; t < tuples; ++t) {
        std::vector<std::optional<std::string>> row;
        row.reserve(static_cast<std::size_t>(fields));
        for (int f = 0; f < fields; ++f) {
            if (PQgetisnull(result, t, f) != 0) {
                row.emplace_back(std::nullopt);
            } else {
                row.emplace_back(
                    std::string(PQgetvalue(result, t, f), static_cast<std::size_t>(PQgetlength(result, t, f))));
            }
        }
        values.push_back(std::move(row));
    }
    return Rows(std::move(columns), std::move(values), affected_rows(result));
}

// Server notices (NOTICE, WARNING…) would otherwise go to stderr unformatted. NOTICE and below are routine
// ("relation already exists, skipping"); warnings are logged, without DETAIL (it may quote values).
void on_notice(void* /*unused*/, PGresult const* notice) {
    auto const severity = field(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (severity == "WARNING") {
        log::warn("database warning", {{"sqlstate", field(notice, PG_DIAG_SQLSTATE)},
                                       {"message", one_line(field(notice, PG_DIAG_MESSAGE_PRIMARY))}});
    }
}

}  // namespace

bool is_connection_sqlstate(std::string_view sqlstate) noexcept {
    return sqlstate.starts_with("08") || sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03";
}

ErrorCode code_for_sqlstate(std::string_view sqlstate) noexcept {
    if (sqlstate == "23505") {
        return ErrorCode::conflict;
    }
    if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "57014" || sqlstate == "55P03" ||
        is_connection_sqlstate(sqlstate)) {
        return ErrorCode::unavailable;
    }
    return ErrorCode::internal;
}

std::string describe_failure(PGresult const* result, std::string_view sql) {
    auto const sqlstate = field(result, PG_DIAG_SQLSTATE);
    std::string message = "database error";
    if (!sqlstate.empty()) {
        message += " SQLSTATE " + sqlstate;
    }
    // Data exceptions (class 22) quote the offending input ("invalid input syntax for type bigint: \"…\""), which
    // may be a parameter: leave their text out. DETAIL is never used, for the same reason (it holds key values).
    if (!sqlstate.starts_with("22")) {
        auto const primary = one_line(field(result, PG_DIAG_MESSAGE_PRIMARY));
        if (!primary.empty()) {
            message += ": " + primary;
        }
    } else {
        message += ": data exception";
    }
    auto const constraint = field(result, PG_DIAG_CONSTRAINT_NAME);
    if (!constraint.empty()) {
        message += " [constraint " + constraint + "]";
    }
    message += " (in: " + sql_excerpt(sql) + ")";
    return message;
}

Result<std::unique_ptr<Connection>> Connection::open(std::string const& conninfo,
                                                     std::chrono::seconds connect_timeout) {
    // Entries before the expanded dbname are defaults that the connection string itself may override.
    auto const timeout = std::to_string(connect_timeout.count() > 0 ? connect_timeout.count() : 0);
    std::array<char const*, 4> keywords{"connect_timeout", "application_name", "dbname", nullptr};
    std::array<char const*, 4> values{connect_timeout.count() > 0 ? timeout.c_str() : nullptr, "msteams-core",
                                      conninfo.c_str(), nullptr};
    PgConnPtr conn(PQconnectdbParams(keywords.data(), values.data(), 1));
    if (!conn) {
        return fail(ErrorCode::unavailable, "cannot connect to the database: out of memory");
    }
    if (PQstatus(conn.get()) != CONNECTION_OK) {
        return fail(ErrorCode::unavailable, "cannot connect to the database: " + connection_message(conn.get()));
    }
    PQsetNoticeReceiver(conn.get(), on_notice, nullptr);
    if (PQsetClientEncoding(conn.get(), "UTF8") != 0) {
        return fail(ErrorCode::unavailable,
                    "cannot set the database client encoding to UTF8: " + connection_message(conn.get()));
    }
    return std::unique_ptr<Connection>(new Connection(std::move(conn)));
}

bool Connection::idle() const noexcept {
    return !lost_ && PQstatus(conn_.get()) == CONNECTION_OK && PQtransactionStatus(conn_.get()) == PQTRANS_IDLE;
}

bool Connection::alive() noexcept {
    if (lost_) {
        return false;
    }
    // Read whatever has arrived, without waiting (libpq keeps its socket non-blocking). A terminated backend leaves
    // an error message and then end-of-file: PQconsumeInput reports the end only on the read after the message, so
    // read while the socket stays readable.
    for (int reads = 0; reads < 8; ++reads) {
        if (PQconsumeInput(conn_.get()) == 0 || PQstatus(conn_.get()) != CONNECTION_OK) {
            lost_ = true;
            return false;
        }
        pollfd fd{PQsocket(conn_.get()), POLLIN, 0};
        if (fd.fd < 0 || ::poll(&fd, 1, 0) <= 0) {
            break;
        }
    }
    return idle();
}

int Connection::backend_pid() const noexcept { return PQbackendPID(conn_.get()); }

int Connection::server_version() const noexcept { return PQserverVersion(conn_.get()); }

Result<PgResultPtr> Connection::check(PgResultPtr result, std::string_view sql) {
    auto const status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY) {
        return result;
    }
    std::string const sqlstate = result ? field(result.get(), PG_DIAG_SQLSTATE) : std::string();
    if (PQstatus(conn_.get()) == CONNECTION_BAD || is_connection_sqlstate(sqlstate) || !result) {
        lost_ = true;
        auto message = "database connection lost: " + connection_message(conn_.get());
        if (!sqlstate.empty()) {
            message += " (SQLSTATE " + sqlstate + ")";
        }
        return fail(ErrorCode::unavailable, std::move(message));
    }
    if (status != PGRES_FATAL_ERROR && status != PGRES_NONFATAL_ERROR) {
        // COPY and friends: nothing in this module starts them.
        return fail(ErrorCode::internal, std::string("unexpected database result ") + PQresStatus(status) +
                                             " (in: " + sql_excerpt(sql) + ")");
    }
    return fail(code_for_sqlstate(sqlstate), describe_failure(result.get(), sql));
}

Result<Rows> Connection::exec(std::string_view sql, std::vector<Param> const& params) {
    if (lost_) {
        return fail(ErrorCode::unavailable, "database connection lost");
    }
    if (params.size() > 65535) {
        return fail(ErrorCode::invalid_argument, "too many query parameters");
    }
    std::vector<char const*> values;
    values.reserve(params.size());
    for (auto const& param : params) {
        values.push_back(param ? param->c_str() : nullptr);
    }
    int const count = static_cast<int>(values.size());
    std::string const text(sql);

    PgResultPtr result;
    auto const found = statements_.find(text);
    if (found != statements_.end()) {
        result.reset(PQexecPrepared(conn_.get(), found->second.c_str(), count, values.data(), nullptr, nullptr, 0));
    } else if (statements_.size() >= k_max_prepared) {
        result.reset(PQexecParams(conn_.get(), text.c_str(), count, nullptr, values.data(), nullptr, nullptr, 0));
    } else {
        auto name = "msteams_" + std::to_string(next_statement_++);
        PgResultPtr prepared(PQprepare(conn_.get(), name.c_str(), text.c_str(), count, nullptr));
        auto checked = check(std::move(prepared), sql);
        if (!checked) {
            return std::unexpected(checked.error());
        }
        auto const inserted = statements_.emplace(text, std::move(name)).first;
        result.reset(PQexecPrepared(conn_.get(), inserted->second.c_str(), count, values.data(), nullptr, nullptr, 0));
    }
    auto checked = check(std::move(result), sql);
    if (!checked) {
        return std::unexpected(checked.error());
    }
    return to_rows(checked->get());
}

Result<std::string> Connection::command(std::string_view sql) {
    if (lost_) {
        return fail(ErrorCode::unavailable, "database connection lost");
    }
    std::string const text(sql);
    auto checked = check(PgResultPtr(PQexec(conn_.get(), text.c_str())), sql);
    if (!checked) {
        return std::unexpected(checked.error());
    }
    char const* tag = PQcmdStatus(checked->get());
    return std::string(tag == nullptr ? "" : tag);
}

}  // namespace msteams::store::detail
