#pragma once

#include <cstddef>
#include <string_view>

namespace msteams::json_limits {

// Whether the JSON text nests arrays and objects at most `max_depth` deep, by a linear scan that skips strings.
// nlohmann::json parses recursively: run this before parsing input from outside, which could otherwise nest deep
// enough to overflow the stack. Malformed text passes if it is shallow (the parser then reports it).
[[nodiscard]] inline bool nesting_within(std::string_view text, std::size_t max_depth) noexcept {
    std::size_t depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char const c = text[i];
        if (in_string) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) {
                return false;
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return true;
}

// Deep enough for any message, notification or setting this bridge reads.
inline constexpr std::size_t k_max_json_depth = 64;

}  // namespace msteams::json_limits
