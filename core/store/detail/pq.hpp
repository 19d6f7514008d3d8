#pragma once

// libpq, for the store module's own sources only: no header outside core/store/ includes this one.
// Debian installs libpq-fe.h under /usr/include/postgresql, which the static build does not put on the include path.
#if __has_include(<libpq-fe.h>)
#include <libpq-fe.h>
#else
#include <postgresql/libpq-fe.h>
#endif

#include <memory>

namespace msteams::store::detail {

struct PgConnDeleter {
    void operator()(PGconn* conn) const noexcept { PQfinish(conn); }
};
struct PgResultDeleter {
    void operator()(PGresult* result) const noexcept { PQclear(result); }
};

// Owns a connection: PQfinish on destruction (which also releases the session's advisory locks server-side).
using PgConnPtr = std::unique_ptr<PGconn, PgConnDeleter>;
// Owns a result: PQclear on destruction.
using PgResultPtr = std::unique_ptr<PGresult, PgResultDeleter>;

}  // namespace msteams::store::detail
