#include <catch2/catch.hpp>

#include "http/detail/url.hpp"

using msteams::ErrorCode;
using msteams::http::detail::parse_url;

TEST_CASE("http: parse_url splits scheme, host, port and target", "[http]") {
    auto const u = parse_url("https://Graph.Microsoft.com/v1.0/me/chats?$top=50#frag");
    REQUIRE(u.has_value());
    CHECK(u->tls);
    CHECK(u->host == "graph.microsoft.com");
    CHECK(u->port == 443);
    CHECK(u->target == "/v1.0/me/chats?$top=50");
    CHECK_FALSE(u->host_is_ip);
    CHECK(u->host_header() == "graph.microsoft.com");
    CHECK(u->authority() == "graph.microsoft.com:443");

    auto const p = parse_url("http://localhost:8080");
    REQUIRE(p.has_value());
    CHECK_FALSE(p->tls);
    CHECK(p->port == 8080);
    CHECK(p->target == "/");
    CHECK(p->host_header() == "localhost:8080");

    auto const q = parse_url("https://login.microsoftonline.com?x=1");
    REQUIRE(q.has_value());
    CHECK(q->target == "/?x=1");
}

TEST_CASE("http: parse_url recognises IP literals", "[http]") {
    auto const v4 = parse_url("https://127.0.0.1:8443/x");
    REQUIRE(v4.has_value());
    CHECK(v4->host_is_ip);
    CHECK(v4->host == "127.0.0.1");
    CHECK(v4->host_header() == "127.0.0.1:8443");

    auto const v6 = parse_url("https://[::1]:8443/x");
    REQUIRE(v6.has_value());
    CHECK(v6->host_is_ip);
    CHECK(v6->host == "::1");
    CHECK(v6->host_header() == "[::1]:8443");
    CHECK(v6->authority() == "[::1]:8443");

    auto const v6_default = parse_url("https://[::1]/");
    REQUIRE(v6_default.has_value());
    CHECK(v6_default->host_header() == "[::1]");

    // A name that only looks numeric-ish is still a name.
    auto const name = parse_url("https://127.0.0.1.example.com/");
    REQUIRE(name.has_value());
    CHECK_FALSE(name->host_is_ip);
}

TEST_CASE("http: parse_url rejects malformed URLs", "[http]") {
    char const* const bad[] = {
        "",
        "graph.microsoft.com/v1.0",
        "ftp://example.com/",
        "https://",
        "https:///path",
        "https://user:pass@example.com/",
        "https://example.com:0/",
        "https://example.com:65536/",
        "https://example.com:/",
        "https://example.com:12ab/",
        "https://exa mple.com/",
        "https://example.com/a b",
        "https://example.com/\r\nX-Injected: 1",
        "https://[::1/",
        "https://[nothex]/",
        "https://[::1]x/",
        "https://ex%61mple.com/",
        "https://.example.com/",
        "https://example..com/",
        "https://example.com/\xc3\xa9",
    };
    for (auto const* url : bad) {
        INFO(url);
        auto const r = parse_url(url);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == ErrorCode::invalid_argument);
    }
    CHECK_FALSE(parse_url("https://example.com/" + std::string(40000, 'a')).has_value());
}
