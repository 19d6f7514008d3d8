#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "store/detail/connection.hpp"

namespace msteams::store::detail {

// At most `size` connections, opened on demand and kept while idle. acquire() waits up to `acquire_timeout` for one
// to be free (ErrorCode::unavailable "database pool exhausted" after that). Thread-safe.
class Pool {
public:
    class Lease;

    Pool(std::string conninfo, std::chrono::seconds connect_timeout, std::size_t size,
         std::chrono::milliseconds acquire_timeout);
    Pool(Pool const&) = delete;
    Pool& operator=(Pool const&) = delete;
    ~Pool() = default;

    [[nodiscard]] Result<Lease> acquire();

    // For tests and metrics.
    [[nodiscard]] std::size_t open_connections() const;
    [[nodiscard]] std::size_t idle_connections() const;

private:
    void release(std::unique_ptr<Connection> conn, bool keep) noexcept;

    std::string const conninfo_;  // secret: never logged
    std::chrono::seconds const connect_timeout_;
    std::size_t const size_;
    std::chrono::milliseconds const acquire_timeout_;

    mutable std::mutex mutex_;
    std::condition_variable freed_;
    std::vector<std::unique_ptr<Connection>> idle_;
    std::size_t open_ = 0;  // idle + leased + being opened
};

// A connection borrowed from the pool, returned on destruction: kept if it is idle (healthy, no transaction open),
// closed otherwise or after discard().
class Pool::Lease {
public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&& other) noexcept;
    Lease(Lease const&) = delete;
    Lease& operator=(Lease const&) = delete;
    ~Lease();

    [[nodiscard]] Connection& operator*() const noexcept { return *conn_; }
    [[nodiscard]] Connection* operator->() const noexcept { return conn_.get(); }
    // Closes the connection instead of returning it (it is broken, or holds session state such as a lock).
    void discard() noexcept { keep_ = false; }

private:
    friend class Pool;
    Lease(Pool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
    void give_back() noexcept;

    Pool* pool_ = nullptr;
    std::unique_ptr<Connection> conn_;
    bool keep_ = true;
};

}  // namespace msteams::store::detail
