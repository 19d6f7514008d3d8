// libFuzzer target: the HTTP client's URL parser (core/http/detail/url). An accepted URL has a host, a port in
// 1..65535 and no control characters or white space anywhere.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "http/detail/url.hpp"

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    std::string_view const text(reinterpret_cast<char const*>(data), size);
    auto const url = msteams::http::detail::parse_url(text);
    if (url) {
        auto const host = url->host_header();
        auto const authority = url->authority();
        msteams::fuzz::require(!host.empty() && !authority.empty(), "an accepted URL without a host");
        for (char c : host + authority) {
            msteams::fuzz::require(static_cast<unsigned char>(c) > 0x20 && c != 0x7F, "control character in host");
        }
    }
    return 0;
}
