#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/ids.hpp"

// Logging for the whole core. Until the Mattermost API is connected, lines go to stderr (which the shim forwards to
// the server log); afterwards they go through the API, so they land in the Mattermost server log with their level
// and fields. Never pass secrets: values are logged as given.
namespace msteams::log {

enum class Level { debug, info, warn, error };

// One field of a log line: a key and its text; an id is its text.
struct Field : std::pair<std::string, std::string> {
    using std::pair<std::string, std::string>::pair;
    template <class Tag>
    Field(std::string key, Id<Tag> const& id) : std::pair<std::string, std::string>(std::move(key), id.str()) {}
};
using Fields = std::vector<Field>;

class Sink {
public:
    virtual ~Sink() = default;
    virtual void write(Level level, std::string_view message, Fields const& fields) noexcept = 0;
    // Waits, at most `within`, until every line written so far is out; false if that did not happen in time.
    virtual bool flush(std::chrono::milliseconds /*within*/) noexcept { return true; }
};

// Replaces the current sink; nullptr restores stderr.
void set_sink(std::shared_ptr<Sink> sink);

// Flushes the current sink (see Sink::flush).
bool flush(std::chrono::milliseconds within) noexcept;

// Lines below this level are dropped before they cost anything (the server's own log level; debug until told).
void set_min_level(Level level) noexcept;
[[nodiscard]] bool enabled(Level level) noexcept;
// "DEBUG", "INFO", "WARN"/"WARNING", "ERROR" in any case; anything else (an unknown level, "") is debug.
[[nodiscard]] Level level_from_name(std::string_view name) noexcept;

// Hands lines to `inner` on a thread of its own, in order, so a log call never waits for the sink (the API sink is
// a gRPC round trip to the shim). At most `capacity` lines wait; beyond that lines are dropped, counted, and a
// warning says how many once there is room again.
class AsyncSink final : public Sink {
public:
    explicit AsyncSink(std::shared_ptr<Sink> inner, std::size_t capacity = 10'000);
    ~AsyncSink() override;  // stop(2 s)
    AsyncSink(AsyncSink const&) = delete;
    AsyncSink& operator=(AsyncSink const&) = delete;

    void write(Level level, std::string_view message, Fields const& fields) noexcept override;
    bool flush(std::chrono::milliseconds within) noexcept override;
    // Writes what is queued, for at most `within`; lines still queued then are abandoned. Later writes are dropped.
    void stop(std::chrono::milliseconds within) noexcept;
    [[nodiscard]] std::uint64_t dropped() const noexcept;

    struct State;

private:
    std::shared_ptr<State> state_;
};

void write(Level level, std::string_view message, Fields fields = {}) noexcept;

inline void debug(std::string_view m, Fields f = {}) noexcept { write(Level::debug, m, std::move(f)); }
inline void info(std::string_view m, Fields f = {}) noexcept { write(Level::info, m, std::move(f)); }
inline void warn(std::string_view m, Fields f = {}) noexcept { write(Level::warn, m, std::move(f)); }
inline void error(std::string_view m, Fields f = {}) noexcept { write(Level::error, m, std::move(f)); }

char const* to_string(Level level) noexcept;

// The stderr format: "[LEVEL] message key=value ...", which Mattermost's plugin supervisor maps to log levels.
std::string format_line(Level level, std::string_view message, Fields const& fields);

}  // namespace msteams::log
