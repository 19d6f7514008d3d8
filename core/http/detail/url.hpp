#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"

// URL handling for the HTTP client: only the absolute http(s) URLs a client sends, nothing more.
namespace msteams::http::detail {

struct Url {
    bool tls = true;
    std::string host;  // lower-cased; an IPv6 literal without its brackets
    std::uint16_t port = 443;
    std::string target;  // path and query, at least "/"; the fragment is dropped
    bool host_is_ip = false;

    // The Host header value: host[:port] with the port only when it is not the scheme's default.
    [[nodiscard]] std::string host_header() const;
    // host:port for messages and pool keys, IPv6 literals bracketed.
    [[nodiscard]] std::string authority() const;
};

inline constexpr std::size_t k_max_url = 32 * 1024;

// invalid_argument for anything else than scheme://host[:port][/path][?query][#fragment] with scheme http or https,
// user info, control characters or white space, an empty or malformed host, or a port outside 1..65535.
[[nodiscard]] Result<Url> parse_url(std::string_view url);

}  // namespace msteams::http::detail
