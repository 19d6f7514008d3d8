#include "http/detail/url.hpp"

#include <arpa/inet.h>

#include <charconv>

#include "common/strings.hpp"

namespace msteams::http::detail {
namespace {

std::unexpected<Error> bad_url(std::string const& why) { return fail(ErrorCode::invalid_argument, "bad URL: " + why); }

bool is_host_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

bool is_ipv4(std::string const& host) noexcept {
    in_addr a{};
    return inet_pton(AF_INET, host.c_str(), &a) == 1;
}

bool is_ipv6(std::string const& host) noexcept {
    in6_addr a{};
    return inet_pton(AF_INET6, host.c_str(), &a) == 1;
}

}  // namespace

std::string Url::authority() const {
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return h + ":" + std::to_string(port);
}

std::string Url::host_header() const {
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    if (port == (tls ? 443 : 80)) {
        return h;
    }
    return h + ":" + std::to_string(port);
}

// Long (over 80 lines) on purpose: a single-pass parser (scheme, authority, IPv6 literal, port, path, query), each
// step checking what the previous one left.
// NOLINTNEXTLINE(readability-function-size)
Result<Url> parse_url(std::string_view url) {
    if (url.size() > k_max_url) {
        return bad_url("longer than 32 KiB");
    }
    for (unsigned char c : url) {
        if (c <= 0x20 || c >= 0x7F) {
            return bad_url("contains white space, control or non-ASCII characters (percent-encode them)");
        }
    }
    Url out;
    auto const scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos) {
        return bad_url("no scheme");
    }
    auto const scheme = strings::to_lower(url.substr(0, scheme_end));
    if (scheme == "https") {
        out.tls = true;
        out.port = 443;
    } else if (scheme == "http") {
        out.tls = false;
        out.port = 80;
    } else {
        return bad_url("scheme '" + scheme + "' is not http or https");
    }
    url.remove_prefix(scheme_end + 3);

    auto const authority_end = url.find_first_of("/?#");
    std::string_view authority = url.substr(0, authority_end);
    std::string_view rest = authority_end == std::string_view::npos ? std::string_view{} : url.substr(authority_end);
    if (authority.find('@') != std::string_view::npos) {
        return bad_url("user information is not supported");
    }

    std::string_view port_text;
    if (authority.starts_with('[')) {
        auto const close = authority.find(']');
        if (close == std::string_view::npos) {
            return bad_url("unterminated IPv6 literal");
        }
        out.host = strings::to_lower(authority.substr(1, close - 1));
        auto const after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') {
                return bad_url("unexpected characters after the IPv6 literal");
            }
            port_text = after.substr(1);
            if (port_text.empty()) {
                return bad_url("empty port");
            }
        }
        if (!is_ipv6(out.host)) {
            return bad_url("'" + out.host + "' is not an IPv6 address");
        }
        out.host_is_ip = true;
    } else {
        auto const colon = authority.rfind(':');
        if (colon != std::string_view::npos) {
            port_text = authority.substr(colon + 1);
            authority = authority.substr(0, colon);
            if (port_text.empty()) {
                return bad_url("empty port");
            }
        }
        out.host = strings::to_lower(authority);
        if (out.host.empty()) {
            return bad_url("no host");
        }
        if (out.host.size() > 253) {
            return bad_url("host name longer than 253 characters");
        }
        for (char c : out.host) {
            if (!is_host_char(c)) {
                return bad_url("invalid character in host '" + out.host + "'");
            }
        }
        if (out.host.front() == '.' || out.host.front() == '-' || out.host.find("..") != std::string::npos) {
            return bad_url("malformed host '" + out.host + "'");
        }
        out.host_is_ip = is_ipv4(out.host);
    }
    if (!port_text.empty()) {
        unsigned value = 0;
        auto const [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
        if (ec != std::errc{} || end != port_text.data() + port_text.size() || value == 0 || value > 65535) {
            return bad_url("invalid port '" + std::string(port_text) + "'");
        }
        out.port = static_cast<std::uint16_t>(value);
    }

    auto const fragment = rest.find('#');
    if (fragment != std::string_view::npos) {
        rest = rest.substr(0, fragment);
    }
    if (rest.empty() || rest.front() == '?') {
        out.target = "/" + std::string(rest);
    } else {
        out.target = std::string(rest);
    }
    return out;
}

}  // namespace msteams::http::detail
