#pragma once

#include <chrono>
#include <cstdint>

namespace msteams {

// Wall-clock Unix milliseconds: what the bridge stores and compares with Graph's and Mattermost's timestamps.
// Components whose timing tests must control take a clock function instead (e.g. MonitorSettings::clock_ms).
[[nodiscard]] inline std::int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace msteams
