#pragma once

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// Logging for the whole core. Until the Mattermost API is connected, lines go to stderr (which the shim forwards to
// the server log); afterwards they go through the API, so they land in the Mattermost server log with their level
// and fields. Never pass secrets: values are logged as given.
namespace msteams::log {

enum class Level { debug, info, warn, error };

using Fields = std::vector<std::pair<std::string, std::string>>;

class Sink {
public:
    virtual ~Sink() = default;
    virtual void write(Level level, std::string_view message, Fields const& fields) noexcept = 0;
};

// Replaces the current sink; nullptr restores stderr.
void set_sink(std::shared_ptr<Sink> sink);

void write(Level level, std::string_view message, Fields fields = {}) noexcept;

inline void debug(std::string_view m, Fields f = {}) noexcept { write(Level::debug, m, std::move(f)); }
inline void info(std::string_view m, Fields f = {}) noexcept { write(Level::info, m, std::move(f)); }
inline void warn(std::string_view m, Fields f = {}) noexcept { write(Level::warn, m, std::move(f)); }
inline void error(std::string_view m, Fields f = {}) noexcept { write(Level::error, m, std::move(f)); }

char const* to_string(Level level) noexcept;

// The stderr format: "[LEVEL] message key=value ...", which Mattermost's plugin supervisor maps to log levels.
std::string format_line(Level level, std::string_view message, Fields const& fields);

}  // namespace msteams::log
