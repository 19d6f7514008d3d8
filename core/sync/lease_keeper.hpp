#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stop_token>
#include <thread>

namespace msteams::sync {

// How long a worker's claim on queued work (an inbox batch, an outbox item, an announced write to a Teams chat) lasts
// unless renewed, and how often the worker's keeper renews it. A crashed worker's claim comes back after at most the
// lease; a worker that is only slow (waiting for Graph) keeps it.
inline constexpr std::chrono::milliseconds k_claim_lease{30'000};
inline constexpr std::chrono::milliseconds k_claim_renew_every{10'000};

// Calls `renew` every `every`, from a thread of its own, until destroyed (which waits for a renewal in progress).
class LeaseKeeper {
public:
    LeaseKeeper(std::chrono::milliseconds every, std::function<void()> renew)
        : every_(every),
          renew_(std::move(renew)),
          thread_([this](std::stop_token const& stop) { loop(stop); }) {}
    ~LeaseKeeper() {
        thread_.request_stop();
        thread_.join();
    }
    LeaseKeeper(LeaseKeeper const&) = delete;
    LeaseKeeper& operator=(LeaseKeeper const&) = delete;

private:
    void loop(std::stop_token const& stop) {
        std::unique_lock lock(mutex_);
        while (true) {
            // Returns at the period or as soon as a stop is requested (the predicate never holds on its own).
            (void)cv_.wait_for(lock, stop, every_, [] { return false; });
            if (stop.stop_requested()) {
                return;
            }
            lock.unlock();
            renew_();
            lock.lock();
        }
    }

    std::chrono::milliseconds every_;
    std::function<void()> renew_;
    std::mutex mutex_;
    std::condition_variable_any cv_;
    std::jthread thread_;  // last: started once the rest is ready
};

}  // namespace msteams::sync
