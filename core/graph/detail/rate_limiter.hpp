#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>

// Token buckets keyed by name (per chat and kind, per tenant and kind) that hand out turns: a caller reserves one
// token in every bucket that governs its request and learns how long to wait before sending it. Reservations may
// drive a bucket below zero, so callers queue up in order instead of polling.
namespace msteams::graph::detail {

class RateLimiter {
public:
    using Clock = std::chrono::steady_clock;

    struct Want {
        std::string key;
        double per_second = 0;  // 0 or less: no limit
    };

    struct Turn {
        bool granted = false;
        // Granted: how long to wait before sending. Refused: how long the wait would have been.
        std::chrono::milliseconds wait{0};
    };

    // Reserves one token in each wanted bucket, all or nothing: refused (nothing reserved) when the wait would be
    // longer than `max_wait`. A bucket's burst is max(1, per_second) tokens.
    [[nodiscard]] Turn reserve(std::span<Want const> wants, Clock::time_point now, std::chrono::milliseconds max_wait);

    // Graph refused a request of this bucket for throttling until `until` (its Retry-After): the next reservation
    // waits until then, and later ones follow at the bucket's rate. Graph counts requests as they arrive, which this
    // bucket can only estimate; its answer sets the estimate right.
    void hold(Want const& want, Clock::time_point now, Clock::time_point until);

    // Buckets currently held. Buckets that have refilled completely are forgotten (they are indistinguishable from
    // new ones), so idle chats cost nothing.
    [[nodiscard]] std::size_t size() const;

private:
    struct Bucket {
        double tokens = 0;
        double capacity = 1;
        double rate = 1;
        Clock::time_point last;
    };

    void refill(Bucket& b, Clock::time_point now) const;
    void sweep(Clock::time_point now);

    mutable std::mutex mutex_;
    std::unordered_map<std::string, Bucket> buckets_;
    std::size_t sweep_at_ = 64;
};

}  // namespace msteams::graph::detail
