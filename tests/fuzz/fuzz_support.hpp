#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "common/strings.hpp"

namespace msteams::fuzz {

// A property the target checks beyond "no crash": a violation aborts, which libFuzzer reports as a crash.
inline void require(bool ok, char const* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz property violated: %s\n", what);
        std::abort();
    }
}

inline bool valid_utf8(std::string_view s) { return strings::is_valid_utf8(s); }

inline bool has_controls(std::string_view s) {
    for (char c : s) {
        auto const u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\t' && c != '\n') || u == 0x7F) {
            return true;
        }
    }
    return false;
}

}  // namespace msteams::fuzz
