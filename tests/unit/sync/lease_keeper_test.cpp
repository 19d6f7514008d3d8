#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "sync/lease_keeper.hpp"

using msteams::sync::LeaseKeeper;
using namespace std::chrono_literals;

TEST_CASE("lease keeper: renews on its own thread until destroyed, then never again", "[sync]") {
    std::mutex mutex;
    std::condition_variable cv;
    int renewals = 0;
    {
        LeaseKeeper const keeper(1ms, [&] {
            std::lock_guard lock(mutex);
            ++renewals;
            cv.notify_all();
        });
        std::unique_lock lock(mutex);
        REQUIRE(cv.wait_for(lock, 10s, [&] { return renewals >= 3; }));
    }
    int const at_destruction = renewals;  // the destructor waited for a renewal in progress
    std::atomic<bool> called{false};
    {
        LeaseKeeper const idle(1h, [&] { called = true; });
    }  // destroyed at once, without waiting for its period
    CHECK_FALSE(called);
    std::lock_guard lock(mutex);
    CHECK(renewals == at_destruction);
}
