#include "http/tls_server.hpp"  // first: it includes <utility> before Asio

#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <future>

#include "log_capture.hpp"
#include "common/log.hpp"
#include "http/client.hpp"

using msteams::ErrorCode;
using msteams::http::Client;
using msteams::http::Request;
using msteams::http::TlsOptions;
using msteams::test::Action;
using msteams::test::Reply;
using msteams::test::Seen;
using msteams::test::TestPki;
using msteams::test::TlsServer;
using namespace std::chrono_literals;

namespace {

using Steady = std::chrono::steady_clock;

struct Fixture {
    TestPki pki;
    msteams::test::Identity leaf = pki.issue("localhost", "DNS:localhost,IP:127.0.0.1");

    TlsOptions trusting() const { return TlsOptions{pki.ca_pem(), false}; }
};

Request get(std::string url) {
    Request r;
    r.url = std::move(url);
    r.timeout = 5s;
    return r;
}

Reply ok(std::string body) {
    Reply r;
    r.body = std::move(body);
    r.headers = {{"Content-Type", "text/plain"}};
    return r;
}

bool contains(std::string const& haystack, std::string const& needle) {
    return haystack.find(needle) != std::string::npos;
}

using msteams::test::LogCapture;

}  // namespace

TEST_CASE("http: GET and POST round-trip headers and bodies", "[http]") {
    Fixture f;
    TlsServer server(f.leaf, [](Seen const& s) {
        Reply r = ok(s.method + " " + s.target + " " + s.body);
        r.status = s.method == "POST" ? 201 : 200;
        r.headers.emplace_back("X-Echo", s.header("x-test"));
        return r;
    });
    Client client(f.trusting());

    Request g = get(server.url("/v1.0/me?$select=id"));
    g.headers = {{"X-Test", "one"}, {"Authorization", "Bearer secret"}};
    auto const got = client.send(g);
    REQUIRE(got.has_value());
    CHECK(got->status == 200);
    CHECK(got->body == "GET /v1.0/me?$select=id ");
    CHECK(got->header("x-echo") == "one");
    CHECK(got->header("CONTENT-TYPE") == "text/plain");
    CHECK(got->header("absent").empty());

    Request p = get(server.url("/token"));
    p.method = "POST";
    p.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"X-Test", "two"}};
    p.body = "grant_type=client_credentials";
    auto const posted = client.send(p);
    REQUIRE(posted.has_value());
    CHECK(posted->status == 201);
    CHECK(posted->body == "POST /token grant_type=client_credentials");
    CHECK(posted->header("X-Echo") == "two");

    auto const seen = server.requests();
    REQUIRE(seen.size() == 2);
    CHECK(seen[0].header("Host") == "localhost:" + std::to_string(server.port()));
    CHECK(contains(seen[0].header("User-Agent"), "msteams"));
    CHECK(seen[0].header("Authorization") == "Bearer secret");
    CHECK_FALSE(seen[0].has_header("Content-Length"));
    CHECK(seen[1].header("Content-Length") == "29");
    CHECK(seen[1].header("Content-Type") == "application/x-www-form-urlencoded");

    // A caller's User-Agent replaces the default one.
    Request ua = get(server.url("/"));
    ua.headers = {{"User-Agent", "custom/1"}};
    REQUIRE(client.send(ua).has_value());
    CHECK(server.requests().back().header("User-Agent") == "custom/1");
}

TEST_CASE("http: an empty POST carries Content-Length: 0", "[http]") {
    Fixture f;
    TlsServer server(f.leaf, [](Seen const&) { return ok(""); });
    Client client(f.trusting());
    Request p = get(server.url("/empty"));
    p.method = "POST";
    REQUIRE(client.send(p).has_value());
    CHECK(server.requests().at(0).header("Content-Length") == "0");
}

TEST_CASE("http: a server from an unknown CA fails certificate verification", "[http]") {
    Fixture f;
    TlsServer server(f.leaf, [](Seen const&) { return ok("no"); });
    Client client(TlsOptions{});
    auto const r = client.send(get(server.url("/")));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::unavailable);
    INFO(r.error().message);
    CHECK(contains(r.error().message, "certificate verify failed"));
    CHECK(contains(r.error().message, "localhost:" + std::to_string(server.port())));
    CHECK(server.requests().empty());
}

TEST_CASE("http: a certificate for another name fails verification", "[http]") {
    Fixture f;
    auto other = f.pki.issue("other.example", "DNS:other.example");
    TlsServer server(other, [](Seen const&) { return ok("no"); });
    Client client(f.trusting());
    auto const r = client.send(get(server.url("/")));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::unavailable);
    INFO(r.error().message);
    CHECK(contains(r.error().message, "certificate verify failed"));
    CHECK(contains(r.error().message, "mismatch"));
    CHECK(server.requests().empty());
}

TEST_CASE("http: an IP literal is verified against the certificate's IP addresses", "[http]") {
    Fixture f;
    SECTION("an IP SAN for the address verifies") {
        TlsServer server(f.leaf, [](Seen const& s) { return ok(s.header("Host")); });
        Client client(f.trusting());
        auto const r = client.send(get(server.url("/", "127.0.0.1")));
        REQUIRE(r.has_value());
        CHECK(r->body == "127.0.0.1:" + std::to_string(server.port()));
    }
    SECTION("a DNS name that spells the address does not") {
        auto dns_only = f.pki.issue("127.0.0.1", "DNS:localhost,DNS:127.0.0.1");
        TlsServer server(dns_only, [](Seen const&) { return ok("no"); });
        Client client(f.trusting());
        auto const r = client.send(get(server.url("/", "127.0.0.1")));
        REQUIRE_FALSE(r.has_value());
        INFO(r.error().message);
        CHECK(contains(r.error().message, "certificate verify failed"));
        CHECK(server.requests().empty());
        // The same server is fine by name.
        CHECK(client.send(get(server.url("/", "localhost"))).has_value());
    }
}

TEST_CASE("http: sequential requests reuse a kept-alive connection", "[http]") {
    Fixture f;
    TlsServer server(f.leaf, [](Seen const& s) { return ok(s.target); });
    Client client(f.trusting());
    for (int i = 0; i < 3; ++i) {
        auto const r = client.send(get(server.url("/n" + std::to_string(i))));
        REQUIRE(r.has_value());
        CHECK(r->body == "/n" + std::to_string(i));
    }
    CHECK(client.stats().connections_opened == 1);
    CHECK(client.stats().connections_reused == 2);
    CHECK(server.connections() == 1);
}

TEST_CASE("http: a kept-alive connection the server dropped is retried on a new one", "[http]") {
    Fixture f;
    // The first connection answers once, then closes when the next request arrives (as a server does when its idle
    // timeout races the client).
    TlsServer server(f.leaf, [](Seen const& s) {
        Reply r = ok(s.method + " " + std::to_string(s.connection) + "." + std::to_string(s.index));
        if (s.connection == 0 && s.index == 1) {
            r.action = Action::drop;
        }
        return r;
    });
    Client client(f.trusting());

    SECTION("an idempotent request is repeated transparently") {
        REQUIRE(client.send(get(server.url("/a"))).value().body == "GET 0.0");
        LogCapture log;
        Request again = get(server.url("/b?code=query-secret"));
        again.method = "PUT";
        again.headers = {{"Authorization", "Bearer header-secret"}};
        again.body = "body-secret";
        auto const second = client.send(again);
        REQUIRE(second.has_value());
        CHECK(second->body == "PUT 1.0");
        // The retry is logged, without the request's target, headers or body.
        auto const logged = log.sink->text();
        CHECK(contains(logged, "retrying"));
        CHECK_FALSE(contains(logged, "secret"));
        CHECK(client.stats().connections_opened == 2);
        CHECK(client.stats().connections_reused == 1);
        CHECK(server.requests().size() == 3);
    }
    SECTION("a POST that was sent is not repeated") {
        REQUIRE(client.send(get(server.url("/a"))).has_value());
        Request p = get(server.url("/post"));
        p.method = "POST";
        p.body = "once";
        auto const r = client.send(p);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == ErrorCode::unavailable);
        CHECK(contains(r.error().message, "read response from"));
        auto const seen = server.requests();
        REQUIRE(seen.size() == 2);
        CHECK(seen[1].body == "once");
        // The client recovers on the next request.
        CHECK(client.send(get(server.url("/c"))).value().body == "GET 1.0");
    }
}

TEST_CASE("http: a connection the server closed after answering is not reused", "[http]") {
    Fixture f;
    TlsServer server(f.leaf, [](Seen const& s) {
        Reply r = ok(std::to_string(s.connection));
        r.action = Action::close_after;
        return r;
    });
    Client client(f.trusting());
    REQUIRE(client.send(get(server.url("/"))).value().body == "0");
    // Wait for the server's close (a condition, not a guess at how long it takes).
    for (auto const start = Steady::now(); server.closed() < 1 && Steady::now() - start < 5s;) {
        std::this_thread::sleep_for(1ms);
    }
    REQUIRE(server.closed() == 1);
    Request p = get(server.url("/"));
    p.method = "POST";  // not retried if it went to a dead connection: it must not
    auto const r = client.send(p);
    REQUIRE(r.has_value());
    CHECK(r->body == "1");
    CHECK(client.stats().connections_opened == 2);
    CHECK(client.stats().connections_reused == 0);
}

TEST_CASE("http: the deadline bounds a server that never answers", "[http]") {
    Fixture f;
    Client client(f.trusting());
    SECTION("after the request") {
        TlsServer server(f.leaf, [](Seen const&) {
            Reply r;
            r.action = Action::hang;
            return r;
        });
        Request r = get(server.url("/slow"));
        r.timeout = 300ms;
        auto const start = Steady::now();
        auto const result = client.send(r);
        auto const elapsed = Steady::now() - start;
        REQUIRE_FALSE(result.has_value());
        CHECK(result.error().code == ErrorCode::unavailable);
        INFO(result.error().message);
        CHECK(contains(result.error().message, "timeout after 300 ms"));
        CHECK(contains(result.error().message, "read response from"));
        CHECK(elapsed >= 250ms);
        CHECK(elapsed < 2s);
    }
    SECTION("before the TLS handshake") {
        TlsServer server(f.leaf, [](Seen const&) { return ok(""); }, false);
        Request r = get(server.url("/"));
        r.timeout = 300ms;
        auto const start = Steady::now();
        auto const result = client.send(r);
        auto const elapsed = Steady::now() - start;
        REQUIRE_FALSE(result.has_value());
        INFO(result.error().message);
        CHECK(contains(result.error().message, "timeout"));
        CHECK(contains(result.error().message, "TLS handshake"));
        CHECK(elapsed < 2s);
    }
}

TEST_CASE("http: a response body over the limit fails with too_large", "[http]") {
    Fixture f;
    TlsServer server(f.leaf, [](Seen const& s) {
        Reply r = ok(std::string(2000, 'x'));
        r.chunked = s.target == "/chunked";
        return r;
    });
    Client client(f.trusting());
    for (std::string const path : {"/length", "/chunked"}) {
        INFO(path);
        Request r = get(server.url(path));
        r.max_response_body = 1000;
        auto const result = client.send(r);
        REQUIRE_FALSE(result.has_value());
        CHECK(result.error().code == ErrorCode::too_large);
        CHECK(contains(result.error().message, "localhost"));
        // At the limit it is fine.
        r.max_response_body = 2000;
        CHECK(client.send(r).value().body.size() == 2000);
    }
}

TEST_CASE("http: a chunked response is decoded", "[http]") {
    Fixture f;
    TlsServer server(f.leaf, [](Seen const&) {
        Reply r;
        r.raw =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            "6\r\n{\"a\": \r\n"
            "3;ext=1\r\n[1,\r\n"
            "3\r\n2]}\r\n"
            "0\r\n\r\n";
        return r;
    });
    Client client(f.trusting());
    auto const r = client.send(get(server.url("/")));
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->body == "{\"a\": [1,2]}");
    // The connection survives a chunked response.
    REQUIRE(client.send(get(server.url("/"))).has_value());
    CHECK(client.stats().connections_reused == 1);
}

TEST_CASE("http: 429 with Retry-After and 3xx are ordinary responses", "[http]") {
    Fixture f;
    TlsServer server(f.leaf, [](Seen const& s) {
        Reply r;
        if (s.target == "/busy") {
            r.status = 429;
            r.headers = {{"Retry-After", "7"}};
            r.body = R"({"error":{"code":"TooManyRequests"}})";
        } else {
            r.status = 302;
            r.headers = {{"Location", "/elsewhere"}};
        }
        return r;
    });
    Client client(f.trusting());
    auto const busy = client.send(get(server.url("/busy")));
    REQUIRE(busy.has_value());
    CHECK(busy->status == 429);
    CHECK(busy->header("retry-after") == "7");
    CHECK(contains(busy->body, "TooManyRequests"));

    auto const moved = client.send(get(server.url("/moved")));
    REQUIRE(moved.has_value());
    CHECK(moved->status == 302);
    CHECK(moved->header("Location") == "/elsewhere");
    CHECK(server.requests().size() == 2);  // the redirect was not followed
}

TEST_CASE("http: concurrent requests from several threads", "[http]") {
    Fixture f;
    TlsServer server(f.leaf, [](Seen const& s) { return ok(s.target); });
    Client client(f.trusting(), 2);
    constexpr int k_threads = 4;
    constexpr int k_each = 10;
    std::atomic<int> good{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < k_threads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < k_each; ++i) {
                std::string const path = "/t" + std::to_string(t) + "/" + std::to_string(i);
                auto const r = client.send(get(server.url(path)));
                if (r && r->status == 200 && r->body == path) {
                    ++good;
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    CHECK(good == k_threads * k_each);
    auto const stats = client.stats();
    CHECK(stats.connections_opened + stats.connections_reused == k_threads * k_each);
    CHECK(stats.connections_opened <= 8);  // at most about one per thread, bounded by the pool
    CHECK(stats.connections_reused > 0);
    CHECK(server.requests().size() == k_threads * k_each);
}

TEST_CASE("http: send_async runs its callback once, on an I/O thread", "[http]") {
    Fixture f;
    TlsServer server(f.leaf, [](Seen const&) { return ok("async"); });
    std::atomic<int> calls{0};
    std::promise<std::pair<int, std::thread::id>> first;
    std::promise<msteams::Error> second;
    std::promise<msteams::Error> third;
    {
        Client client(f.trusting());
        client.send_async(get(server.url("/")), [&](msteams::Result<msteams::http::Response> r) {
            ++calls;
            first.set_value({r ? r->status : -1, std::this_thread::get_id()});
        });
        client.send_async(get("nonsense"), [&](msteams::Result<msteams::http::Response> r) {
            ++calls;
            second.set_value(r ? msteams::Error{} : r.error());
        });
        // A port nobody listens on: bind one, then close it.
        unsigned short closed_port = 0;
        {
            boost::asio::io_context ioc;
            boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
            closed_port = a.local_endpoint().port();
        }
        client.send_async(get("https://127.0.0.1:" + std::to_string(closed_port) + "/"),
                          [&](msteams::Result<msteams::http::Response> r) {
                              ++calls;
                              third.set_value(r ? msteams::Error{} : r.error());
                          });
        auto const [status, thread] = first.get_future().get();
        CHECK(status == 200);
        CHECK(thread != std::this_thread::get_id());
        auto const bad_url = second.get_future().get();
        CHECK(bad_url.code == ErrorCode::invalid_argument);
        auto const refused = third.get_future().get();
        CHECK(refused.code == ErrorCode::unavailable);
        CHECK(contains(refused.message, "connect to 127.0.0.1:" + std::to_string(closed_port)));
    }
    // The client is gone and every callback ran exactly once.
    CHECK(calls == 3);
}

TEST_CASE("http: destroying the client ends requests in flight", "[http]") {
    Fixture f;
    TlsServer server(f.leaf, [](Seen const&) {
        Reply r;
        r.action = Action::hang;
        return r;
    });
    std::atomic<int> calls{0};
    std::promise<msteams::Error> result;
    auto const start = Steady::now();
    {
        Client client(f.trusting());
        Request r = get(server.url("/"));
        r.timeout = 30s;
        client.send_async(r, [&](msteams::Result<msteams::http::Response> res) {
            ++calls;
            result.set_value(res ? msteams::Error{} : res.error());
        });
        while (server.requests().empty() && Steady::now() - start < 5s) {
            std::this_thread::sleep_for(10ms);
        }
        REQUIRE(server.requests().size() == 1);
    }
    CHECK(Steady::now() - start < 5s);
    CHECK(calls == 1);
    auto const error = result.get_future().get();
    CHECK(error.code == ErrorCode::unavailable);
    CHECK(contains(error.message, "shutting down"));
}

TEST_CASE("http: malformed requests fail with invalid_argument before any I/O", "[http]") {
    Fixture f;
    TlsServer server(f.leaf, [](Seen const&) { return ok(""); });
    Client client(f.trusting());
    Client plain_allowed(TlsOptions{"", true});

    std::vector<Request> bad;
    bad.push_back(get("not a url"));
    bad.push_back(get("http://localhost:" + std::to_string(server.port()) + "/"));  // plain HTTP not allowed
    bad.push_back(get(server.url("/")));
    bad.back().headers = {{"X-Evil", "a\r\nInjected: yes"}};
    bad.push_back(get(server.url("/")));
    bad.back().headers = {{"Bad Name", "x"}};
    bad.push_back(get(server.url("/")));
    bad.back().headers = {{"Content-Length", "5"}};
    bad.push_back(get(server.url("/")));
    bad.back().method = "FETCH";
    bad.push_back(get(server.url("/")));
    bad.back().timeout = 0ms;
    for (auto const& r : bad) {
        INFO(r.url << " " << r.method);
        auto const result = client.send(r);
        REQUIRE_FALSE(result.has_value());
        CHECK(result.error().code == ErrorCode::invalid_argument);
    }
    CHECK(server.requests().empty());
    CHECK(client.stats().connections_opened == 0);
    // With allow_plain_http, an http:// URL is accepted (and fails only because the server speaks TLS).
    auto const plain = plain_allowed.send(get("http://localhost:" + std::to_string(server.port()) + "/"));
    REQUIRE_FALSE(plain.has_value());
    CHECK(plain.error().code == ErrorCode::unavailable);
}

TEST_CASE("http: extra_ca_pem without a certificate is refused", "[http]") {
    CHECK_THROWS_AS(Client(TlsOptions{"not a certificate", false}), std::invalid_argument);
    Fixture f;
    CHECK_NOTHROW(Client(f.trusting()));
}
