// The Teams tab's routes: the page Teams frames, and POST /tab/sso, which turns a checked SSO token into a
// Mattermost session (cookies that work in Teams' frame) or a clear refusal.
#include <catch2/catch.hpp>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../fake_api.hpp"
#include "web/router.hpp"
#include "web/tab_routes.hpp"

using msteams::MmUserId;
using msteams::web::Request;
using msteams::web::Response;
using msteams::web::SsoResult;

namespace {

constexpr std::int64_t k_now_ms = 1'800'000'000'000;

struct TabWorld {
    std::shared_ptr<msteams::test::FakeApi> api = std::make_shared<msteams::test::FakeApi>();
    msteams::web::Router router;
    std::vector<std::string> counted;
    std::vector<std::string> tokens_checked;
    bool active = true;

    TabWorld() {
        auto add = [this](std::string id, std::string username, std::string email) {
            msteams::mm::User u;
            u.id = MmUserId(id);
            u.username = std::move(username);
            u.email = std::move(email);
            api->users[u.id.str()] = u;
        };
        add("alice-id", "alice", "alice@contoso.example");
        add("dave-id", "dave", "dave@contoso.example");
        api->inactive.insert("dave-id");
        msteams::web::install_tab_routes(
            router, msteams::web::TabDeps{[this]() -> std::optional<msteams::web::TabSettings> {
                                              if (!active) {
                                                  return std::nullopt;
                                              }
                                              return msteams::web::TabSettings{
                                                  [this](std::string_view token) { return check(token); },
                                                  "https://teams.microsoft.com https://*.teams.microsoft.com"};
                                          },
                                          api, [this](std::string_view outcome) { counted.emplace_back(outcome); },
                                          [] { return k_now_ms; }});
    }

    // Tokens in these tests name their user ("good:<upn>") or their flaw ("bad:<reason>").
    SsoResult check(std::string_view token) {
        tokens_checked.emplace_back(token);
        SsoResult r;
        if (token.starts_with("mail:")) {  // an email claim beside a UPN Mattermost does not know
            r.ok = true;
            r.object_id = "oid-2";
            r.email = std::string(token.substr(5));
            r.upn = "a.upn.nobody.uses@contoso.example";
            return r;
        }
        if (token.starts_with("good:")) {
            r.ok = true;
            r.object_id = "oid-1";
            r.upn = std::string(token.substr(5));
            return r;
        }
        r.reason = std::string(token.substr(4));
        r.message = "refused because " + r.reason;
        r.status = r.reason == "tenant" ? 403 : 401;
        return r;
    }

    Response post(std::string const& body, std::string const& addr = "203.0.113.7:5555") {
        Request q;
        q.method = "POST";
        q.path = "/tab/sso";
        q.body = body;
        q.declared_length = static_cast<std::int64_t>(body.size());
        q.remote_addr = addr;
        q.headers = {{"content-type", "application/json"}, {"x-requested-with", "XMLHttpRequest"}};
        return router.handle(q);
    }
    Response sign_in(std::string const& token, std::string const& addr = "203.0.113.7:5555") {
        return post(nlohmann::json{{"token", token}}.dump(), addr);
    }
};

std::vector<std::string> cookies(Response const& r) {
    std::vector<std::string> out;
    for (auto const& [name, value] : r.headers) {
        if (name == "Set-Cookie") {
            out.push_back(value);
        }
    }
    return out;
}

std::string json_id(Response const& r) {
    auto const body = nlohmann::json::parse(r.body, nullptr, false);
    return body.is_object() && body.contains("id") ? body["id"].get<std::string>() : "";
}

}  // namespace

TEST_CASE("tab: the page may be framed by Teams' hosts only and loads its script from the bundle", "[web]") {
    TabWorld w;
    Request q;
    q.method = "GET";
    q.path = "/tab";
    auto const page = w.router.handle(q);
    REQUIRE(page.status == 200);
    CHECK(page.header("Content-Type") == "text/html; charset=utf-8");
    auto const csp = page.header("Content-Security-Policy");
    CHECK_THAT(csp,
               Catch::Contains("frame-ancestors 'self' https://teams.microsoft.com https://*.teams.microsoft.com"));
    CHECK_THAT(csp, Catch::Contains("script-src 'self';"));
    CHECK_THAT(page.body, Catch::Contains("<script src=\"public/tab.js\"></script>"));
    CHECK(page.body.find("<script>") == std::string::npos);  // no inline script
    w.active = false;
    CHECK(w.router.handle(q).status == 503);
}

TEST_CASE("tab: a good token signs its user in with cookies that work in Teams' frame", "[web]") {
    TabWorld w;
    auto const r = w.sign_in("good:alice@contoso.example");
    REQUIRE(r.status == 200);
    CHECK(nlohmann::json::parse(r.body)["username"] == "alice");
    REQUIRE(w.api->sessions.size() == 1);
    CHECK(w.api->sessions[0].first.user_id.str() == "alice-id");
    CHECK(w.api->sessions[0].second.at("platform") == "Microsoft Teams");
    auto const set = cookies(r);
    REQUIRE(set.size() == 4);
    CHECK_THAT(set[0], Catch::StartsWith("MMAUTHTOKEN=session-token-1; Path=/; Max-Age="));
    CHECK_THAT(set[0], Catch::EndsWith("; Secure; SameSite=None; Partitioned; HttpOnly"));
    CHECK_THAT(set[1], Catch::StartsWith("MMUSERID=alice-id; "));
    CHECK_THAT(set[2], Catch::StartsWith("MMCSRF=csrf-1; "));
    CHECK_THAT(set[3], Catch::StartsWith("MMEMBED=1; "));
    for (std::size_t i = 1; i < set.size(); ++i) {
        CHECK(set[i].find("HttpOnly") == std::string::npos);  // Mattermost's web client reads these
        CHECK_THAT(set[i], Catch::Contains("; Secure; SameSite=None"));
    }
    CHECK(w.counted == std::vector<std::string>{"signed_in"});
    // The token's email claim finds the user when its UPN is not their Mattermost email.
    auto const by_email = w.sign_in("mail:alice@contoso.example");
    CHECK(by_email.status == 200);
    CHECK(w.api->sessions.size() == 2);
    // Someone Teams knows but Mattermost does not is told so.
    auto const by_mail = w.sign_in("good:nobody@contoso.example");
    CHECK(by_mail.status == 403);
    CHECK(json_id(by_mail) == "sso_no_account");
    CHECK_THAT(by_mail.body, Catch::Contains("no Mattermost account for nobody@contoso.example"));
}

TEST_CASE("tab: cookies expire with the session, on the SiteURL's subpath", "[web]") {
    msteams::mm::Session s{"tok", MmUserId("u1"), "csrf", k_now_ms + 3600 * 1000, "/mm"};
    auto const set = msteams::web::session_cookies(s, k_now_ms);
    REQUIRE(set.size() == 4);
    CHECK_THAT(set[0], Catch::Contains("; Path=/mm; Max-Age=3600; Expires=Fri, 15 Jan 2027 09:00:00 GMT;"));
}

TEST_CASE("tab: refused tokens, deactivated users and unknown people get a clear answer and no session", "[web]") {
    TabWorld w;
    auto const expired = w.sign_in("bad:expired");
    CHECK(expired.status == 401);
    CHECK(json_id(expired) == "sso_expired");
    CHECK_THAT(expired.body, Catch::Contains("refused because expired"));
    auto const tenant = w.sign_in("bad:tenant");
    CHECK(tenant.status == 403);
    CHECK(json_id(tenant) == "sso_tenant");
    auto const dave = w.sign_in("good:dave@contoso.example");
    CHECK(dave.status == 403);
    CHECK(json_id(dave) == "sso_deactivated");
    CHECK_THAT(dave.body, Catch::Contains("@dave is deactivated"));
    CHECK(w.post("not json").status == 400);
    // Another site's form cannot post a token of its choosing: the tab's header is required.
    Request form;
    form.method = "POST";
    form.path = "/tab/sso";
    form.body = R"({"token":"good:alice@contoso.example"})";
    form.declared_length = static_cast<std::int64_t>(form.body.size());
    form.headers = {{"content-type", "text/plain"}};
    CHECK(w.router.handle(form).status == 403);
    CHECK(w.post(R"({"token": 5})").status == 400);
    CHECK(w.post(std::string(msteams::web::k_max_tab_sso_body + 1, 'a')).status == 413);
    CHECK(w.api->sessions.empty());
    for (auto const* r : {&expired, &tenant, &dave}) {
        CHECK(cookies(*r).empty());
    }
    CHECK(w.counted == std::vector<std::string>{"expired", "tenant", "deactivated", "malformed", "malformed"});
    // Nothing secret in the answers.
    CHECK(dave.body.find("good:") == std::string::npos);
}

TEST_CASE("tab: a client whose sign-ins keep failing waits a minute, others do not", "[web]") {
    TabWorld w;
    for (int i = 0; i < msteams::web::k_tab_failures_per_minute; ++i) {
        CHECK(w.sign_in("bad:signature", "198.51.100.1:1000").status == 401);
    }
    auto const limited = w.sign_in("good:alice@contoso.example", "198.51.100.1:2000");
    CHECK(limited.status == 429);
    CHECK(limited.header("Retry-After") == "60");
    CHECK(w.tokens_checked.size() == static_cast<std::size_t>(msteams::web::k_tab_failures_per_minute));
    CHECK(w.sign_in("good:alice@contoso.example", "198.51.100.2:1000").status == 200);
}
