#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "crypto/crypto.hpp"
#include "fake_api.hpp"
#include "metrics/counters.hpp"
#include "sync/receiver.hpp"
#include "web/router.hpp"
#include "web/routes.hpp"

using msteams::web::Request;
using msteams::web::Router;

namespace {

Router make_router(bool active = true) {
    Router r;
    // Not active: the notification routes answer the handshake and refuse notifications with 503.
    msteams::web::install_notification_routes(
        r, [] { return std::shared_ptr<msteams::sync::Receiver>(); }, std::make_shared<msteams::metrics::Counters>(),
        nullptr);
    msteams::web::install_routes(r, [active]() -> std::optional<msteams::web::WebappSettings> {
        if (!active) {
            return std::nullopt;
        }
        return msteams::web::WebappSettings{true, false, "mirror"};
    });
    return r;
}

Request request(std::string method, std::string path, std::string query = "", std::string user = "") {
    Request q;
    q.method = std::move(method);
    q.path = std::move(path);
    q.raw_query = std::move(query);
    q.user_id = msteams::MmUserId(std::move(user));
    return q;
}

}  // namespace

TEST_CASE("web: Graph's validation handshake gets the decoded token back as text/plain", "[web]") {
    auto const router = make_router();
    for (auto const* path : {"/changes", "/lifecycle"}) {
        auto const r = router.handle(request("POST", path, "validationToken=Validation%3A%20Testing+client%2Bx"));
        CHECK(r.status == 200);
        CHECK(r.body == "Validation: Testing client+x");
        CHECK_THAT(r.header("Content-Type"), Catch::StartsWith("text/plain"));
        CHECK(r.header("X-Content-Type-Options") == "nosniff");
    }
}

TEST_CASE("web: malformed or oversized validation tokens are refused", "[web]") {
    auto const router = make_router();
    CHECK(router.handle(request("POST", "/changes", "validationToken=%zz")).status == 400);
    CHECK(router.handle(request("POST", "/changes", "validationToken=" + std::string(5000, 'a'))).status == 400);
    CHECK(router.handle(request("POST", "/changes", "validationToken=")).status == 400);
}

TEST_CASE("web: notifications while the plugin is not active are refused with Retry-After", "[web]") {
    auto const router = make_router();
    auto q = request("POST", "/changes");
    q.body = R"({"value":[]})";
    auto const r = router.handle(q);
    CHECK(r.status == 503);
    CHECK(r.header("Retry-After") == "30");
}

TEST_CASE("web: unknown paths are 404, other methods 405 with Allow", "[web]") {
    auto const router = make_router();
    auto const missing = router.handle(request("GET", "/nope"));
    CHECK(missing.status == 404);
    CHECK(nlohmann::json::parse(missing.body)["status_code"] == 404);
    auto const wrong = router.handle(request("GET", "/changes"));
    CHECK(wrong.status == 405);
    CHECK(wrong.header("Allow") == "POST");
}

TEST_CASE("web: user routes need a Mattermost session", "[web]") {
    auto const router = make_router();
    auto const anonymous = router.handle(request("GET", "/api/v1/config"));
    CHECK(anonymous.status == 401);
    auto const r = router.handle(request("GET", "/api/v1/config", "", "user1"));
    REQUIRE(r.status == 200);
    auto const body = nlohmann::json::parse(r.body);
    CHECK(body["enforce_connected_accounts"] == true);
    CHECK(body["allow_skip_connect_accounts"] == false);
    CHECK(body["chat_sync"] == "mirror");
    CHECK(make_router(false).handle(request("GET", "/api/v1/config", "", "user1")).status == 503);
}

TEST_CASE("web: bodies over the limit are 413, handler exceptions 500 without details", "[web]") {
    Router router;
    router.add({"POST", "/small", msteams::web::Access::anyone, 4,
                [](Request const&) -> msteams::web::Response { throw std::runtime_error("internal detail"); }});
    CHECK(router.body_limit("POST", "/small") == 4);
    CHECK(router.body_limit("GET", "/small") == 0);
    auto q = request("POST", "/small");
    q.body = "12345";
    CHECK(router.handle(q).status == 413);
    q.body = "1234";
    auto const r = router.handle(q);
    CHECK(r.status == 500);
    CHECK(r.body.find("internal detail") == std::string::npos);
}

TEST_CASE("web: a body shorter or longer than its Content-Length is refused before the handler", "[web]") {
    int handled = 0;
    Router router;
    router.add({"POST", "/body", msteams::web::Access::anyone, 100, [&handled](Request const&) {
                    ++handled;
                    return msteams::web::json_response(200, "{}");
                }});
    router.add({"GET", "/nobody", msteams::web::Access::anyone, 0, [&handled](Request const&) {
                    ++handled;
                    return msteams::web::json_response(200, "{}");
                }});
    auto q = request("POST", "/body");
    q.body = R"({"value":[)";  // the client went away after 10 of 40 bytes
    q.declared_length = 40;
    auto const short_body = router.handle(q);
    CHECK(short_body.status == 400);
    CHECK_THAT(short_body.body, Catch::Contains("incomplete_body"));
    q.declared_length = 4;
    CHECK(router.handle(q).status == 400);
    CHECK(handled == 0);
    q.declared_length = static_cast<std::int64_t>(q.body.size());
    CHECK(router.handle(q).status == 200);
    q.declared_length = -1;  // chunked: no length to compare with
    CHECK(router.handle(q).status == 200);
    // A route that takes no body never reads one: its declared length does not matter.
    auto g = request("GET", "/nobody");
    g.declared_length = 12;
    CHECK(router.handle(g).status == 200);
    CHECK(handled == 3);
}

TEST_CASE("web: metrics are served to the metrics listener, and on the plugin route only with the token", "[web]") {
    std::string token;
    Router r;
    msteams::web::install_metrics_route(
        r, [&token] { return token; }, [] { return std::string("msteams_core_up{node=\"n\"} 1\n"); });

    auto listener = request("GET", "/metrics");
    listener.metrics_listener = true;
    auto const served = r.handle(listener);
    CHECK(served.status == 200);
    CHECK(served.body == "msteams_core_up{node=\"n\"} 1\n");
    CHECK_THAT(served.header("Content-Type"), Catch::StartsWith("text/plain; version=0.0.4"));

    // no token configured: the plugin route is closed, even for a Mattermost session
    CHECK(r.handle(request("GET", "/metrics", "", "user1")).status == 404);

    token = "0123456789abcdef-token";
    auto with = [&](std::string const& value) {
        auto q = request("GET", "/metrics");
        q.headers.emplace_back("authorization", value);
        return r.handle(q);
    };
    auto basic = [](std::string const& user_password) {
        return "Basic " + msteams::crypto::base64_encode(user_password);
    };
    CHECK(r.handle(request("GET", "/metrics")).status == 401);
    CHECK(with(basic("prometheus:wrong-token-0123456789")).status == 401);
    CHECK(with(basic("prometheus:")).status == 401);
    CHECK(with(basic("0123456789abcdef-token")).status == 401);  // no user name separator
    CHECK(with("Bearer 0123456789abcdef-token").status == 401);  // Mattermost would log a bearer token
    CHECK(with("Basic !!!not-base64").status == 401);
    auto const ok = with(basic("prometheus:0123456789abcdef-token"));
    CHECK(ok.status == 200);
    CHECK(ok.body.find("msteams_core_up") != std::string::npos);
    CHECK(with(basic(":0123456789abcdef-token")).status == 200);
    CHECK_THAT(with("Basic x").header("WWW-Authenticate"), Catch::StartsWith("Basic realm="));
}

TEST_CASE("web: the bridge's status JSON is for system admins only", "[web]") {
    auto api = std::make_shared<msteams::test::FakeApi>();
    api->admins.insert("admin1");
    Router r;
    msteams::web::install_status_route(r, api, [] { return std::string(R"({"node":{"name":"mm-1"}})"); });
    auto const admin = r.handle(request("GET", "/api/v1/status", "", "admin1"));
    CHECK(admin.status == 200);
    CHECK(nlohmann::json::parse(admin.body)["node"]["name"] == "mm-1");
    auto const user = r.handle(request("GET", "/api/v1/status", "", "user1"));
    CHECK(user.status == 403);
    CHECK(user.body.find("mm-1") == std::string::npos);
    CHECK(r.handle(request("GET", "/api/v1/status")).status == 401);
}
