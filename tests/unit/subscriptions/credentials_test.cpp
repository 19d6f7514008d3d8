#include <catch2/catch.hpp>

#include "crypto/crypto.hpp"
#include "fakes/memory_store.hpp"
#include "graph/entra.hpp"
#include "subscriptions/credentials.hpp"

using msteams::subscriptions::configured_secret_expiry;
using msteams::subscriptions::CredentialCheck;
using msteams::subscriptions::notice_due;

namespace {

constexpr std::int64_t k_day = 24LL * 3600 * 1000;
constexpr std::int64_t k_t0 = 1'800'000'000'000;

}  // namespace

TEST_CASE("credentials: the notice due is the smallest of 30, 7 and 1 days the time left has reached",
          "[credentials]") {
    CHECK_FALSE(notice_due(k_t0, k_t0 + 31 * k_day));
    CHECK(notice_due(k_t0, k_t0 + 30 * k_day) == 30);
    CHECK(notice_due(k_t0, k_t0 + 8 * k_day) == 30);
    CHECK(notice_due(k_t0, k_t0 + 7 * k_day) == 7);
    CHECK(notice_due(k_t0, k_t0 + 2 * k_day) == 7);
    CHECK(notice_due(k_t0, k_t0 + k_day) == 1);
    CHECK(notice_due(k_t0, k_t0 + 1) == 1);
    CHECK(notice_due(k_t0, k_t0) == 0);
    CHECK(notice_due(k_t0, k_t0 - k_day) == 0);
}

TEST_CASE("credentials: the configured secret is found by its hint, the soonest when several match", "[credentials]") {
    std::vector<msteams::graph::AppSecret> const secrets{{"abc", 300}, {"xyz", 100}, {"abc", 200}, {"", 50}};
    CHECK(configured_secret_expiry(secrets, "abcdef-secret") == 200);
    CHECK(configured_secret_expiry(secrets, "xyz123") == 100);
    CHECK_FALSE(configured_secret_expiry(secrets, "qqq"));
    CHECK_FALSE(configured_secret_expiry({}, "abc"));
}

TEST_CASE("credentials: admins are told once per notice, never of one a later notice superseded", "[credentials]") {
    msteams::test::MemoryStore store;
    std::int64_t now = k_t0;
    std::int64_t end_at = k_t0 + 40 * k_day;
    std::vector<std::string> told;
    CredentialCheck check(
        {"abc-the-secret", [&] { return now; }, {}},
        [&]() -> msteams::Result<std::vector<msteams::graph::AppSecret>> {
            return std::vector<msteams::graph::AppSecret>{{"abc", end_at}, {"zzz", k_t0 + k_day}};
        },
        nullptr, store.repos.notices, [&](std::string const& text) { told.push_back(text); });

    REQUIRE(check.run_once());
    CHECK(told.empty());  // 40 days left
    CHECK(check.expiry() == end_at);

    now = k_t0 + 11 * k_day;  // 29 days left
    REQUIRE(check.run_once());
    REQUIRE(told.size() == 1);
    CHECK_THAT(told[0], Catch::Contains("expires in 29 days") && Catch::Contains("Client secret"));
    REQUIRE(check.run_once());
    CHECK(told.size() == 1);  // the same notice is not sent again

    now = k_t0 + 34 * k_day;  // 6 days left
    REQUIRE(check.run_once());
    REQUIRE(told.size() == 2);
    CHECK_THAT(told[1], Catch::Contains("expires in 6 days"));

    now = end_at + 1;
    REQUIRE(check.run_once());
    REQUIRE(told.size() == 3);  // the 1-day notice was skipped by the check's schedule; the expiry is told
    CHECK_THAT(told[2], Catch::Contains("has expired") && Catch::Contains("Nothing is bridged"));

    // A new secret, first seen 5 days before it expires: the 7-day notice only, and never the 30-day one later.
    end_at = now + 5 * k_day;
    told.clear();
    REQUIRE(check.run_once());
    REQUIRE(told.size() == 1);
    CHECK_THAT(told[0], Catch::Contains("expires in 5 days"));
    now += k_day;
    REQUIRE(check.run_once());
    CHECK(told.size() == 1);
    // The secret never appears in what admins are told.
    CHECK(told[0].find("abc-the-secret") == std::string::npos);
}

TEST_CASE("credentials: a secret Graph does not let the bridge read is no error, and nothing is told",
          "[credentials]") {
    msteams::test::MemoryStore store;
    int reads = 0;
    std::vector<std::string> told;
    CredentialCheck check(
        {"abc", {}, {}},
        [&]() -> msteams::Result<std::vector<msteams::graph::AppSecret>> {
            ++reads;
            return msteams::fail(msteams::ErrorCode::permission_denied, "Microsoft Graph answered 403");
        },
        nullptr, store.repos.notices, [&](std::string const& text) { told.push_back(text); });
    CHECK(check.run_once());
    CHECK(check.run_once());
    CHECK(reads == 2);
    CHECK(told.empty());
    CHECK_FALSE(check.expiry());

    CredentialCheck failing(
        {"abc", {}, {}},
        []() -> msteams::Result<std::vector<msteams::graph::AppSecret>> {
            return msteams::fail(msteams::ErrorCode::unavailable, "Graph is down");
        },
        nullptr, store.repos.notices, [&](std::string const& text) { told.push_back(text); });
    CHECK_FALSE(failing.run_once());  // an outage is the job's failure: logged, tried at the next interval
}

TEST_CASE("credentials: missing application permissions are named once, alternatives satisfy", "[credentials]") {
    using msteams::subscriptions::missing_permissions;
    CHECK(missing_permissions({"Chat.Read.All|Chat.ReadWrite.All", "User.Read.All"}, {"Chat.ReadWrite.All"}) ==
          std::vector<std::string>{"User.Read.All"});
    CHECK(missing_permissions({"Chat.Read.All|Chat.ReadWrite.All"}, {}) == std::vector<std::string>{"Chat.Read.All"});
    CHECK(missing_permissions({"User.Read.All"}, {"User.Read.All", "Presence.Read.All"}).empty());

    msteams::test::MemoryStore store;
    std::vector<std::string> granted{"User.Read.All"};
    std::vector<std::string> told;
    CredentialCheck check(
        {"abc", {}, {"User.Read.All", "Presence.Read.All|Presence.ReadWrite.All"}},
        []() -> msteams::Result<std::vector<msteams::graph::AppSecret>> {
            return std::vector<msteams::graph::AppSecret>{};
        },
        [&]() -> msteams::Result<std::vector<std::string>> { return granted; }, store.repos.notices,
        [&](std::string const& text) { told.push_back(text); });
    REQUIRE(check.run_once());
    REQUIRE(told.size() == 1);
    CHECK_THAT(told[0], Catch::Contains("`Presence.Read.All`") && Catch::Contains("admin consent"));
    CHECK(check.missing() == std::vector<std::string>{"Presence.Read.All"});
    REQUIRE(check.run_once());
    CHECK(told.size() == 1);  // told once
    granted.push_back("Presence.ReadWrite.All");
    REQUIRE(check.run_once());
    CHECK(check.missing().empty());
    CHECK(told.size() == 1);
}

TEST_CASE("credentials: an app token's roles are read from its payload, anything else has none", "[credentials]") {
    auto const payload = msteams::crypto::base64url_encode(R"({"aud":"x","roles":["Chat.Read.All","User.Read.All"]})");
    CHECK(msteams::graph::token_roles("eyJhbGciOiJSUzI1NiJ9." + payload + ".sig") ==
          std::vector<std::string>{"Chat.Read.All", "User.Read.All"});
    CHECK(msteams::graph::token_roles("not-a-jwt").empty());
    CHECK(msteams::graph::token_roles("a.%%%.c").empty());
    CHECK(msteams::graph::token_roles("a." + msteams::crypto::base64url_encode(R"({"roles":"x"})") + ".c").empty());
}
