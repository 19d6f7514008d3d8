#include "graph/detail/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace msteams::graph::detail {
namespace {

constexpr std::size_t k_min_sweep = 64;

}  // namespace

void RateLimiter::refill(Bucket& b, Clock::time_point now) const {
    if (now > b.last) {
        double const seconds = std::chrono::duration<double>(now - b.last).count();
        b.tokens = std::min(b.capacity, b.tokens + seconds * b.rate);
        b.last = now;
    }
}

void RateLimiter::sweep(Clock::time_point now) {
    for (auto it = buckets_.begin(); it != buckets_.end();) {
        refill(it->second, now);
        if (it->second.tokens >= it->second.capacity) {
            it = buckets_.erase(it);
        } else {
            ++it;
        }
    }
    sweep_at_ = std::max(k_min_sweep, buckets_.size() * 2);
}

RateLimiter::Turn RateLimiter::reserve(std::span<Want const> wants, Clock::time_point now,
                                       std::chrono::milliseconds max_wait) {
    std::lock_guard lock(mutex_);
    std::vector<Bucket*> taken;
    taken.reserve(wants.size());
    double wait_seconds = 0;
    for (auto const& want : wants) {
        if (!(want.per_second > 0)) {
            continue;
        }
        auto [it, fresh] = buckets_.try_emplace(want.key);
        Bucket& b = it->second;
        double const capacity = std::max(1.0, want.per_second);
        if (fresh) {
            b.tokens = capacity;
            b.last = now;
        }
        // The limits may change between calls (a new Client shares nothing, but keep the bucket coherent anyway).
        b.rate = want.per_second;
        b.capacity = capacity;
        refill(b, now);
        double const after = b.tokens - 1.0;
        if (after < 0) {
            wait_seconds = std::max(wait_seconds, -after / b.rate);
        }
        taken.push_back(&b);
    }
    auto const wait = std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(wait_seconds * 1000.0)));
    if (wait > max_wait) {
        return Turn{false, wait};
    }
    for (Bucket* b : taken) {
        b->tokens -= 1.0;
    }
    if (buckets_.size() > sweep_at_) {
        sweep(now);
    }
    return Turn{true, wait};
}

void RateLimiter::hold(Want const& want, Clock::time_point now, Clock::time_point until) {
    if (!(want.per_second > 0) || until <= now) {
        return;
    }
    std::lock_guard lock(mutex_);
    auto [it, fresh] = buckets_.try_emplace(want.key);
    Bucket& b = it->second;
    b.rate = want.per_second;
    b.capacity = std::max(1.0, want.per_second);
    if (fresh) {
        b.tokens = b.capacity;
        b.last = now;
    }
    refill(b, now);
    // A reservation leaves tokens - 1 and waits -(tokens - 1) / rate: the next one waits until `until`.
    double const seconds = std::chrono::duration<double>(until - now).count();
    b.tokens = std::min(b.tokens, 1.0 - (seconds * b.rate));
}

std::size_t RateLimiter::size() const {
    std::lock_guard lock(mutex_);
    return buckets_.size();
}

}  // namespace msteams::graph::detail
