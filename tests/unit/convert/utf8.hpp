#pragma once

#include <cstddef>
#include <string>

namespace msteams::convert::test {

// True if s is well-formed UTF-8 (no overlong two-byte forms, no bytes past U+10FFFF's lead).
inline bool valid_utf8(std::string const& s) {
    for (std::size_t i = 0; i < s.size();) {
        auto const b = static_cast<unsigned char>(s[i]);
        std::size_t const len = b < 0x80                 ? 1
                                : b >= 0xC2 && b <= 0xDF ? 2
                                : b >= 0xE0 && b <= 0xEF ? 3
                                : b >= 0xF0 && b <= 0xF4 ? 4
                                                         : 0;
        if (len == 0 || i + len > s.size()) {
            return false;
        }
        for (std::size_t k = 1; k < len; ++k) {
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) {
                return false;
            }
        }
        i += len;
    }
    return true;
}

}  // namespace msteams::convert::test
