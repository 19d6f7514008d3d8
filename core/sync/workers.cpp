#include "sync/workers.hpp"

#include <algorithm>

#include "common/log.hpp"

namespace msteams::sync {

Workers::Workers(std::string name, int count, std::chrono::milliseconds poll, std::function<Result<bool>()> step,
                 std::atomic<std::uint64_t>* exceptions)
    : name_(std::move(name)),
      count_(std::max(1, count)),
      poll_(poll),
      step_(std::move(step)),
      exceptions_(exceptions != nullptr ? exceptions : &own_exceptions_) {}

Workers::~Workers() { stop(); }

void Workers::start() {
    std::lock_guard lock(mutex_);
    if (!threads_.empty()) {
        return;
    }
    stopping_ = false;
    for (int i = 0; i < count_; ++i) {
        threads_.emplace_back([this] { loop(); });
    }
}

void Workers::stop() {
    std::vector<std::thread> threads;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        threads.swap(threads_);
    }
    cv_.notify_all();
    for (auto& t : threads) {
        t.join();
    }
}

void Workers::wake() {
    {
        std::lock_guard lock(mutex_);
        ++wakes_;
    }
    cv_.notify_all();
}

void Workers::loop() {
    while (true) {
        std::uint64_t seen = 0;
        {
            std::lock_guard lock(mutex_);
            if (stopping_) {
                return;
            }
            seen = wakes_;
        }
        // An exception leaving a thread is std::terminate: a bug in one step must not end the core. It is
        // logged, counted and treated as idle (no tight loop on the same item).
        Result<bool> const did = guarded(*exceptions_, step_);
        if (did && *did) {
            continue;
        }
        if (!did) {
            log::warn("a worker could not read its queue", {{"queue", name_}, {"error", did.error().message}});
        }
        std::unique_lock lock(mutex_);
        cv_.wait_for(lock, poll_, [&] { return stopping_ || wakes_ != seen; });
    }
}

}  // namespace msteams::sync
