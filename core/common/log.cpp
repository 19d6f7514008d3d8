#include "common/log.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>

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

void write(Level level, std::string_view message, Fields fields) noexcept {
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
        // Logging must never take the process down.
    }
}

}  // namespace msteams::log
