#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.hpp"

namespace msteams::sync {

// A few threads that call `step` until it says there is nothing to do, then sleep until woken or until `poll`
// passes (work from other nodes and postponed work is found by polling).
class Workers {
public:
    // `step` returns true when it did something, false when idle; errors are logged and count as idle. An exception
    // from `step` is caught, logged and counted in `exceptions` (when given), and counts as idle: never fatal.
    Workers(std::string name, int count, std::chrono::milliseconds poll, std::function<Result<bool>()> step,
            std::atomic<std::uint64_t>* exceptions = nullptr);
    ~Workers();
    Workers(Workers const&) = delete;
    Workers& operator=(Workers const&) = delete;

    void start();
    void stop();
    void wake();

private:
    void loop();

    std::string name_;
    int count_;
    std::chrono::milliseconds poll_;
    std::function<Result<bool>()> step_;
    std::atomic<std::uint64_t> own_exceptions_{0};  // when the caller counts none
    std::atomic<std::uint64_t>* exceptions_;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::uint64_t wakes_ = 0;
    std::vector<std::thread> threads_;
};

}  // namespace msteams::sync
