#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>

namespace msteams {

// Wall-clock Unix milliseconds: what the bridge stores and compares with Graph's and Mattermost's timestamps.
// Components whose timing tests must control take a clock function instead (e.g. MonitorSettings::clock_ms).
[[nodiscard]] inline std::int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// A Unix-ms time as admins read it, e.g. "2027-01-31 14:05:09 UTC" (without seconds: "2027-01-31 14:05 UTC").
[[nodiscard]] inline std::string utc_text(std::int64_t unix_ms, bool seconds = true) {
    std::time_t const t = static_cast<std::time_t>(unix_ms / 1000);
    std::tm parts{};
    gmtime_r(&t, &parts);
    char buf[32];
    std::strftime(buf, sizeof buf, seconds ? "%Y-%m-%d %H:%M:%S UTC" : "%Y-%m-%d %H:%M UTC", &parts);
    return buf;
}

}  // namespace msteams
