#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "crypto/crypto.hpp"
#include "fake_api.hpp"
#include "web/pages.hpp"
#include "web/router.hpp"
#include "web/routes.hpp"

using msteams::web::ConnectOutcome;

namespace {

// The text between <script> and </script>.
std::string script_of(std::string const& body) {
    auto const open = body.find("<script>");
    auto const close = body.find("</script>");
    REQUIRE(open != std::string::npos);
    REQUIRE(close != std::string::npos);
    return body.substr(open + 8, close - open - 8);
}

}  // namespace

TEST_CASE("web: a connect result page tells its opener the outcome, same origin only, and closes", "[web]") {
    auto const r = msteams::web::connect_result_page(403, ConnectOutcome::refused, "Could not connect",
                                                     "Use ada@contoso.com, not <b>eve</b>\"@x' & co");
    CHECK(r.status == 403);
    CHECK_THAT(r.body, Catch::Contains("data-outcome=\"refused\""));
    // Whatever a user or Microsoft put in the reason stays text, in the attribute and in the page.
    CHECK_THAT(r.body, Catch::Contains(
                           "data-message=\"Use ada@contoso.com, not &lt;b&gt;eve&lt;/b&gt;&quot;@x&#39; &amp; co\""));
    CHECK_THAT(r.body, !Catch::Contains("<b>eve"));
    auto const script = script_of(r.body);
    CHECK_THAT(script, Catch::Contains("postMessage("));
    CHECK_THAT(script, Catch::Contains("window.location.origin"));  // never "*"
    CHECK_THAT(script, !Catch::Contains("'*'"));
    CHECK_THAT(script, Catch::Contains("window.close()"));
    CHECK_THAT(script, Catch::Contains(msteams::web::k_connect_result_message));
    CHECK_THAT(script, !Catch::Contains("ada@contoso.com"));  // the data is not in the script
    // The CSP allows exactly this script, by its hash, and nothing else.
    auto const csp = r.header("Content-Security-Policy");
    auto const hash = msteams::crypto::base64_encode(msteams::crypto::sha256(script));
    CHECK_THAT(csp, Catch::Contains("script-src 'sha256-" + hash + "'"));
    CHECK_THAT(csp, Catch::StartsWith("default-src 'none'"));
    CHECK_THAT(csp, !Catch::Contains("script-src 'unsafe-inline'"));
    // A way back for a window that is not a pop-up: the site root, relative to /plugins/<id>/<route>.
    CHECK_THAT(r.body, Catch::Contains("<a href=\"../../\">Back to Mattermost</a>"));
}

TEST_CASE("web: every connect outcome has its name on the page", "[web]") {
    for (auto const& [outcome, name] :
         {std::pair{ConnectOutcome::connected, "connected"}, std::pair{ConnectOutcome::refused, "refused"},
          std::pair{ConnectOutcome::cancelled, "cancelled"}, std::pair{ConnectOutcome::failed, "failed"}}) {
        auto const r = msteams::web::connect_result_page(200, outcome, "t", "m");
        CHECK_THAT(r.body, Catch::Contains(std::string("data-outcome=\"") + name + "\""));
    }
}

TEST_CASE("web: channel-bridged checks its argument and answers 503 while not active", "[web]") {
    msteams::web::Router router;
    msteams::web::install_channel_routes(router, std::make_shared<msteams::test::FakeApi>(),
                                         [] { return std::optional<msteams::store::Repositories>(); });
    msteams::web::Request q;
    q.method = "GET";
    q.path = "/api/v1/channel-bridged";
    q.user_id = msteams::MmUserId("u1");
    for (auto const* bad : {"", "channel_id=", "channel_id=short", "channel_id=ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                            "channel_id=abcdefghijklmnopqrstuvwxy%2F"}) {
        q.raw_query = bad;
        CHECK(router.handle(q).status == 400);
    }
    q.raw_query = "channel_id=abcdefghijklmnopqrstuvwxyz";
    CHECK(router.handle(q).status == 503);
    q.user_id = {};
    CHECK(router.handle(q).status == 401);
}
