#pragma once

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace msteams::sync {

// The creation times the bridge gives the posts it makes, strictly increasing per channel. Mattermost orders a
// channel's posts by creation time alone, to the millisecond, and leaves ties in no defined order: two Teams
// messages applied in the same millisecond would show in either order. Each post gets its channel's previous time
// + 1 when the clock has not moved on (a post time is at most a few ms ahead of the wall clock, and only in a burst).
class PostClock {
public:
    // The time to create the next post of `channel` with, at wall-clock `now_ms`.
    [[nodiscard]] std::int64_t next(std::string const& channel, std::int64_t now_ms) {
        std::lock_guard const lock(mutex_);
        if (last_.size() >= k_max_channels) {
            // Only channels posted to in the last minute can still tie with the clock; the rest are forgotten.
            std::erase_if(last_, [&](auto const& e) { return e.second < now_ms - 60'000; });
        }
        auto& last = last_[channel];
        last = std::max(now_ms, last + 1);
        return last;
    }

private:
    static constexpr std::size_t k_max_channels = 4096;
    std::mutex mutex_;
    std::unordered_map<std::string, std::int64_t> last_;
};

}  // namespace msteams::sync
