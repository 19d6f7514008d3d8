#pragma once

#include <string_view>

namespace msteams::convert::detail {

// True for the link targets either side may carry: http, https and mailto URLs (scheme case-insensitive).
// Anything else (javascript:, data:, relative paths, schemes hidden behind control characters) is not a link.
[[nodiscard]] inline bool is_allowed_link(std::string_view url) noexcept {
    auto const colon = url.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > 6) {
        return false;
    }
    auto const is = [&](std::string_view scheme) {
        if (scheme.size() != colon) {
            return false;
        }
        for (std::size_t i = 0; i < colon; ++i) {
            char c = url[i];
            if (c >= 'A' && c <= 'Z') {
                c = static_cast<char>(c - 'A' + 'a');
            }
            if (c != scheme[i]) {
                return false;
            }
        }
        return true;
    };
    if (is("mailto")) {
        return url.size() > colon + 1;
    }
    // http(s) needs an authority: "https:foo" is not a usable link.
    return (is("http") || is("https")) && url.substr(colon + 1).starts_with("//") && url.size() > colon + 3;
}

}  // namespace msteams::convert::detail
