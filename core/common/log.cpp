#include "common/log.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include "common/result.hpp"
#include "common/strings.hpp"

namespace msteams {

char const* to_string(ErrorCode code) noexcept {
    switch (code) {
        case ErrorCode::invalid_argument: return "invalid_argument";
        case ErrorCode::not_found: return "not_found";
        case ErrorCode::permission_denied: return "permission_denied";
        case ErrorCode::unauthenticated: return "unauthenticated";
        case ErrorCode::conflict: return "conflict";
        case ErrorCode::too_large: return "too_large";
        case ErrorCode::unavailable: return "unavailable";
        case ErrorCode::internal: return "internal";
    }
    return "unknown";
}

}  // namespace msteams

namespace msteams::log {
namespace {

std::atomic<std::shared_ptr<Sink>> g_sink;
std::mutex g_stderr_mutex;
std::atomic<int> g_min_level{static_cast<int>(Level::debug)};

}  // namespace

char const* to_string(Level level) noexcept {
    switch (level) {
        case Level::debug: return "DEBUG";
        case Level::info: return "INFO";
        case Level::warn: return "WARN";
        case Level::error: return "ERROR";
    }
    return "INFO";
}

std::string format_line(Level level, std::string_view message, Fields const& fields) {
    std::string line;
    line.reserve(message.size() + 16 + fields.size() * 24);
    line += '[';
    line += to_string(level);
    line += "] ";
    for (char c : message) {
        line += (c == '\n' || c == '\r') ? ' ' : c;
    }
    for (auto const& [key, value] : fields) {
        line += ' ';
        line += key;
        line += '=';
        bool const quote = value.empty() || value.find_first_of(" \"=") != std::string::npos;
        if (quote) {
            line += '"';
        }
        for (char c : value) {
            if (c == '"') {
                line += "\\\"";
            } else if (c == '\n' || c == '\r') {
                line += ' ';
            } else {
                line += c;
            }
        }
        if (quote) {
            line += '"';
        }
    }
    return line;
}

void set_sink(std::shared_ptr<Sink> sink) { g_sink.store(std::move(sink)); }

bool flush(std::chrono::milliseconds within) noexcept {
    auto sink = g_sink.load();
    return !sink || sink->flush(within);
}

void set_min_level(Level level) noexcept { g_min_level.store(static_cast<int>(level)); }

bool enabled(Level level) noexcept { return static_cast<int>(level) >= g_min_level.load(std::memory_order_relaxed); }

Level level_from_name(std::string_view name) noexcept {
    std::string upper;
    for (char c : name.substr(0, 16)) {
        upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    if (upper == "INFO") {
        return Level::info;
    }
    if (upper == "WARN" || upper == "WARNING") {
        return Level::warn;
    }
    if (upper == "ERROR" || upper == "CRITICAL" || upper == "FATAL") {
        return Level::error;
    }
    return Level::debug;
}

struct AsyncSink::State {
    struct Line {
        Level level;
        std::string message;
        Fields fields;
    };
    std::shared_ptr<Sink> inner;
    std::size_t capacity;
    std::mutex mutex;
    std::condition_variable wake;  // the writer: a line or stop
    std::condition_variable idle;  // flush(), stop(): the queue drained and nothing being written
    std::deque<Line> queue;
    bool writing = false;
    bool stopping = false;
    bool done = false;
    std::uint64_t dropped = 0;
    std::uint64_t dropped_unreported = 0;

    void run() {
        std::unique_lock lock(mutex);
        while (true) {
            wake.wait(lock, [&] { return stopping || !queue.empty(); });
            if (queue.empty()) {
                break;  // stopping, everything written
            }
            Line line = std::move(queue.front());
            queue.pop_front();
            writing = true;
            auto const lost = std::exchange(dropped_unreported, 0);
            lock.unlock();
            if (lost > 0) {
                inner->write(Level::warn, "log lines were dropped: the log could not keep up",
                             {{"dropped", std::to_string(lost)}});
            }
            inner->write(line.level, line.message, line.fields);
            lock.lock();
            writing = false;
            if (queue.empty()) {
                idle.notify_all();
            }
        }
        done = true;
        idle.notify_all();
    }
};

AsyncSink::AsyncSink(std::shared_ptr<Sink> inner, std::size_t capacity) : state_(std::make_shared<State>()) {
    state_->inner = std::move(inner);
    state_->capacity = std::max<std::size_t>(1, capacity);
    // The thread owns the state too: if stop() gives up on it (a sink that hangs), it ends on its own later.
    std::thread([state = state_] { state->run(); }).detach();
}

AsyncSink::~AsyncSink() { stop(std::chrono::seconds(2)); }

void AsyncSink::write(Level level, std::string_view message, Fields const& fields) noexcept {
    try {
        std::lock_guard lock(state_->mutex);
        if (state_->stopping || state_->queue.size() >= state_->capacity) {
            ++state_->dropped;
            ++state_->dropped_unreported;
            return;
        }
        state_->queue.push_back(State::Line{level, std::string(message), fields});
    } catch (...) {
        return;  // out of memory: the line is lost, the caller goes on
    }
    state_->wake.notify_one();
}

bool AsyncSink::flush(std::chrono::milliseconds within) noexcept {
    std::unique_lock lock(state_->mutex);
    return state_->idle.wait_for(lock, within,
                                 [&] { return state_->done || (state_->queue.empty() && !state_->writing); });
}

void AsyncSink::stop(std::chrono::milliseconds within) noexcept {
    std::unique_lock lock(state_->mutex);
    state_->stopping = true;
    state_->wake.notify_all();
    state_->idle.wait_for(lock, within, [&] { return state_->done; });
    state_->queue.clear();  // what was not written in time
}

std::uint64_t AsyncSink::dropped() const noexcept {
    std::lock_guard lock(state_->mutex);
    return state_->dropped;
}

void write(Level level, std::string_view message, Fields fields) noexcept {
    if (!enabled(level)) {
        return;
    }
    // Every line is valid UTF-8 whatever it quotes (a truncated or hostile value): the API sink's protobuf strings
    // refuse anything else, and so would the server log's readers.
    std::string valid_message;
    try {
        if (!strings::is_valid_utf8(message)) {
            valid_message = strings::to_valid_utf8(message);
            message = valid_message;
        }
        for (auto& [key, value] : fields) {
            if (!strings::is_valid_utf8(key)) {
                key = strings::to_valid_utf8(key);
            }
            if (!strings::is_valid_utf8(value)) {
                value = strings::to_valid_utf8(value);
            }
        }
    } catch (...) {
        return;  // out of memory: logging must never take the process down
    }
    if (auto sink = g_sink.load()) {
        sink->write(level, message, fields);
        return;
    }
    try {
        auto const line = format_line(level, message, fields);
        std::lock_guard lock(g_stderr_mutex);
        std::fprintf(stderr, "%s\n", line.c_str());
        std::fflush(stderr);
    } catch (...) {
        std::fputs("msteams-core: a log line could not be written\n", stderr);  // logging never takes the process down
    }
}

}  // namespace msteams::log
