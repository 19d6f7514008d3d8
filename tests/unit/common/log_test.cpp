#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/log.hpp"
#include "log_capture.hpp"

using msteams::log::AsyncSink;
using msteams::log::Level;

namespace {

// A sink that blocks every write until released, as a stalled shim would; records what it was given.
class GatedSink : public msteams::log::Sink {
public:
    void write(Level, std::string_view message, msteams::log::Fields const& fields) noexcept override {
        std::unique_lock lock(mutex_);
        ++entered_;
        changed_.notify_all();
        changed_.wait(lock, [&] { return open_; });
        std::string line(message);
        for (auto const& [k, v] : fields) {
            line += " " + k + "=" + v;
        }
        lines_.push_back(line);
        changed_.notify_all();
    }
    void open() {
        std::lock_guard lock(mutex_);
        open_ = true;
        changed_.notify_all();
    }
    void wait_entered(int n) {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return entered_ >= n; });
    }
    void wait_lines(std::size_t n) {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return lines_.size() >= n; });
    }
    std::vector<std::string> lines() {
        std::lock_guard lock(mutex_);
        return lines_;
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    bool open_ = false;
    int entered_ = 0;
    std::vector<std::string> lines_;
};

}  // namespace

TEST_CASE("log: a stalled sink never blocks a caller — lines keep their order and overflow is counted", "[log]") {
    auto gated = std::make_shared<GatedSink>();
    auto async = std::make_shared<AsyncSink>(gated, 3);
    async->write(Level::info, "one", {});
    gated->wait_entered(1);  // the writer holds "one" inside the stalled sink; the queue is empty
    // Returning at all shows the caller does not wait: the sink is closed.
    for (auto const* m : {"two", "three", "four", "five", "six"}) {
        async->write(Level::info, m, {});
    }
    CHECK(async->dropped() == 2);                             // "five" and "six": three lines fit in the queue
    CHECK_FALSE(async->flush(std::chrono::milliseconds(1)));  // the sink is still stalled
    gated->open();
    CHECK(async->flush(std::chrono::seconds(30)));  // returns as soon as all is out
    CHECK(gated->lines().size() == 5);
    CHECK(gated->lines() == std::vector<std::string>{"one",
                                                     "log lines were dropped: the log could not keep up dropped=2",
                                                     "two", "three", "four"});
    async->stop(std::chrono::seconds(5));
    async->write(Level::info, "after stop", {});
    CHECK(async->dropped() == 3);
}

TEST_CASE("log: lines below the server's level cost nothing and never reach the sink", "[log]") {
    msteams::test::LogCapture capture;
    msteams::log::set_min_level(msteams::log::level_from_name("warn"));
    msteams::log::debug("hidden debug");
    msteams::log::info("hidden info");
    msteams::log::warn("shown warning");
    CHECK_FALSE(msteams::log::enabled(Level::info));
    msteams::log::set_min_level(msteams::log::level_from_name(""));  // unknown: everything, as before
    msteams::log::debug("shown debug");
    auto const text = capture.sink->text();
    CHECK(text.find("hidden") == std::string::npos);
    CHECK(text.find("shown warning") != std::string::npos);
    CHECK(text.find("shown debug") != std::string::npos);
    CHECK(msteams::log::level_from_name("ERROR") == Level::error);
    CHECK(msteams::log::level_from_name("Info") == Level::info);
    CHECK(msteams::log::level_from_name("TRACE") == Level::debug);
}
