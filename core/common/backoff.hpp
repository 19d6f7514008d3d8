#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace msteams {

// Exponential backoff: `base` doubled per attempt (attempt 0 waits `base`), never more than `cap`.
[[nodiscard]] constexpr std::chrono::milliseconds backoff(int attempt, std::chrono::milliseconds base,
                                                          std::chrono::milliseconds cap) noexcept {
    auto const doubled = base.count() << std::clamp(attempt, 0, 30);
    return std::chrono::milliseconds(std::min<std::int64_t>(cap.count(), doubled));
}

// How long an inbox or outbox item that failed `attempts` times waits before the next try, unless Graph said
// longer (Retry-After): 1 s doubling to 5 minutes.
[[nodiscard]] constexpr std::chrono::milliseconds retry_delay(int attempts, std::chrono::seconds retry_after) noexcept {
    using namespace std::chrono_literals;
    return std::max<std::chrono::milliseconds>(backoff(attempts, 1s, 5min), retry_after);
}

}  // namespace msteams
