#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/log.hpp"

namespace msteams::test {

// Collects log lines, formatted as on stderr, while it is installed.
class CapturedLog : public log::Sink {
public:
    void write(log::Level level, std::string_view message, log::Fields const& fields) noexcept override {
        std::lock_guard lock(mutex_);
        text_ += log::format_line(level, message, fields) + "\n";
    }
    std::string text() const {
        std::lock_guard lock(mutex_);
        return text_;
    }

private:
    mutable std::mutex mutex_;
    std::string text_;
};

// Installs a CapturedLog for its lifetime.
struct LogCapture {
    std::shared_ptr<CapturedLog> sink = std::make_shared<CapturedLog>();
    LogCapture() { log::set_sink(sink); }
    ~LogCapture() { log::set_sink(nullptr); }
    LogCapture(LogCapture const&) = delete;
    LogCapture& operator=(LogCapture const&) = delete;
};

}  // namespace msteams::test
