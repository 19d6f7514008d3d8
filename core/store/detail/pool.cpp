#include "store/detail/pool.hpp"

#include <utility>

namespace msteams::store::detail {

Pool::Pool(std::string conninfo, std::chrono::seconds connect_timeout, std::size_t size,
           std::chrono::milliseconds acquire_timeout)
    : conninfo_(std::move(conninfo)),
      connect_timeout_(connect_timeout),
      size_(size == 0 ? 1 : size),
      acquire_timeout_(acquire_timeout) {}

Result<Pool::Lease> Pool::acquire() {
    auto const deadline = std::chrono::steady_clock::now() + acquire_timeout_;
    while (true) {
        std::unique_ptr<Connection> conn;
        {
            std::unique_lock lock(mutex_);
            bool const available =
                freed_.wait_until(lock, deadline, [this] { return !idle_.empty() || open_ < size_; });
            if (!available) {
                return fail(ErrorCode::unavailable, "database pool exhausted");
            }
            if (idle_.empty()) {
                ++open_;  // reserve the slot, then connect without holding the lock
                break;
            }
            conn = std::move(idle_.back());
            idle_.pop_back();
        }
        // An idle connection whose server went away (restart, pg_terminate_backend) is noticed here, without a
        // round trip, rather than costing the caller one of its retries.
        if (conn->alive()) {
            return Lease(this, std::move(conn));
        }
        conn.reset();
        {
            std::lock_guard lock(mutex_);
            --open_;
        }
        freed_.notify_one();
    }
    auto conn = Connection::open(conninfo_, connect_timeout_);
    if (!conn) {
        {
            std::lock_guard lock(mutex_);
            --open_;
        }
        freed_.notify_one();
        return std::unexpected(conn.error());
    }
    return Lease(this, std::move(*conn));
}

void Pool::release(std::unique_ptr<Connection> conn, bool keep) noexcept {
    bool const reuse = keep && conn && conn->idle();
    std::unique_ptr<Connection> closing;
    {
        std::lock_guard lock(mutex_);
        if (reuse) {
            idle_.push_back(std::move(conn));
        } else {
            closing = std::move(conn);
            --open_;
        }
    }
    freed_.notify_one();
    // `closing` is finished here, outside the lock (PQfinish may send a Terminate message).
}

std::size_t Pool::open_connections() const {
    std::lock_guard lock(mutex_);
    return open_;
}

std::size_t Pool::idle_connections() const {
    std::lock_guard lock(mutex_);
    return idle_.size();
}

Pool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      conn_(std::move(other.conn_)),
      keep_(other.keep_) {}

Pool::Lease& Pool::Lease::operator=(Lease&& other) noexcept {
    if (this != &other) {
        give_back();
        pool_ = std::exchange(other.pool_, nullptr);
        conn_ = std::move(other.conn_);
        keep_ = other.keep_;
    }
    return *this;
}

Pool::Lease::~Lease() { give_back(); }

void Pool::Lease::give_back() noexcept {
    if (pool_ != nullptr) {
        pool_->release(std::move(conn_), keep_);
        pool_ = nullptr;
    }
}

}  // namespace msteams::store::detail
