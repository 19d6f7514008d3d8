#include "http/tls_server.hpp"  // first: it includes <utility> before Asio

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "crypto/crypto.hpp"
#include "crypto/rich.hpp"
#include "graph/signing_keys.hpp"
#include "graph/sso_tokens.hpp"

using json = nlohmann::json;
using msteams::graph::SsoRefusal;
using msteams::test::Reply;
using msteams::test::Seen;
using msteams::test::TestPki;
using msteams::test::TlsServer;

namespace {

constexpr char const* k_tenant = "6e7a9c1b-0f3d-4c2a-9b8e-1d2c3b4a5f60";
constexpr char const* k_client = "0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a";
constexpr std::int64_t k_start_ms = 1'800'000'000'000;

// Microsoft's published key set over HTTPS (it can roll to a second key), and SSO tokens signed with those keys.
struct SsoWorld {
    TestPki pki;
    msteams::crypto::EncryptionCertificate first =
        msteams::crypto::make_encryption_certificate("first", 0, 4'000'000'000);
    msteams::crypto::EncryptionCertificate second =
        msteams::crypto::make_encryption_certificate("second", 0, 4'000'000'000);
    std::atomic<int> key_reads{0};
    std::atomic<bool> rolled{false};
    std::atomic<bool> keys_down{false};
    std::shared_ptr<std::atomic<std::int64_t>> clock = std::make_shared<std::atomic<std::int64_t>>(k_start_ms);
    TlsServer login{pki.issue("localhost", "DNS:localhost,IP:127.0.0.1"), [this](Seen const& s) {
                        Reply r;
                        if (s.target != "/common/discovery/v2.0/keys" || keys_down) {
                            r.status = keys_down ? 503 : 404;
                            return r;
                        }
                        ++key_reads;
                        r.headers = {{"Content-Type", "application/json"}};
                        r.body = R"({"keys":[)" + msteams::crypto::public_jwk(first.private_key_pem, "key-1") +
                                 (rolled ? "," + msteams::crypto::public_jwk(second.private_key_pem, "key-2") : "") +
                                 "]}";
                        return r;
                    }};
    std::shared_ptr<msteams::http::Client> http =
        std::make_shared<msteams::http::Client>(msteams::http::TlsOptions{pki.ca_pem(), false}, 2);
    std::shared_ptr<msteams::graph::SigningKeys> keys = std::make_shared<msteams::graph::SigningKeys>(
        http, msteams::graph::SigningKeySettings{login.url("", "localhost"), 24LL * 3600 * 1000, 60'000,
                                                 std::chrono::milliseconds(2'000), [c = clock] { return c->load(); }});
    msteams::graph::SsoTokens tokens{
        keys, msteams::graph::SsoTokenSettings{k_tenant, k_client, std::string("api://mm.example.com/") + k_client,
                                               "sts.windows.net", "login.microsoftonline.com"}};

    // What Teams' getAuthToken() gives the tab: v2.0, for the Application ID URI.
    [[nodiscard]] json claims() const {
        auto const now = clock->load() / 1000;
        return json{{"aud", std::string("api://mm.example.com/") + k_client},
                    {"iss", std::string("https://login.microsoftonline.com/") + k_tenant + "/v2.0"},
                    {"tid", k_tenant},
                    {"oid", "00000000-0000-0000-0000-0000000000a1"},
                    {"scp", "access_as_user"},
                    {"ver", "2.0"},
                    {"name", "Adele Vance"},
                    {"preferred_username", "adele@contoso.example"},
                    {"iat", now},
                    {"nbf", now},
                    {"exp", now + 3600}};
    }
    [[nodiscard]] std::string sign(json const& claims, std::string const& kid = "key-1") const {
        return msteams::crypto::sign_rs256_jwt(claims.dump(),
                                               kid == "key-2" ? second.private_key_pem : first.private_key_pem, kid);
    }
    [[nodiscard]] SsoRefusal refusal(json const& claims) const { return tokens.check(sign(claims)).refusal; }
};

}  // namespace

TEST_CASE("sso tokens: Teams' token for this app, tenant and scope names its user", "[graph][sso]") {
    SsoWorld w;
    auto const v2 = w.tokens.check(w.sign(w.claims()));
    REQUIRE(v2.refusal == SsoRefusal::none);
    CHECK(v2.identity.object_id == "00000000-0000-0000-0000-0000000000a1");
    CHECK(v2.identity.upn == "adele@contoso.example");
    CHECK(v2.identity.email.empty());
    CHECK(v2.identity.name == "Adele Vance");
    CHECK(v2.identity.expires_at_ms == (w.clock->load() / 1000 + 3600) * 1000);

    // The v1.0 shape: sts.windows.net, upn, and an email when the registration adds it as an optional claim.
    auto v1 = w.claims();
    v1["iss"] = std::string("https://sts.windows.net/") + k_tenant + "/";
    v1["ver"] = "1.0";
    v1.erase("preferred_username");
    v1["upn"] = "adele.vance@contoso.example";
    v1["email"] = "adele@contoso.example";
    v1["scp"] = "User.Read access_as_user";
    auto const one = w.tokens.check(w.sign(v1));
    REQUIRE(one.refusal == SsoRefusal::none);
    CHECK(one.identity.upn == "adele.vance@contoso.example");
    CHECK(one.identity.email == "adele@contoso.example");
    // A v2.0 token may name the API by its client id.
    auto by_id = w.claims();
    by_id["aud"] = k_client;
    CHECK(w.refusal(by_id) == SsoRefusal::none);
    CHECK(w.key_reads == 1);
}

TEST_CASE("sso tokens: another tenant, audience, issuer or scope is refused", "[graph][sso]") {
    SsoWorld w;
    auto other_tenant = w.claims();
    other_tenant["tid"] = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";
    other_tenant["iss"] = "https://login.microsoftonline.com/f8cdef31-a31e-4b4a-93e4-5f571e91255a/v2.0";
    CHECK(w.refusal(other_tenant) == SsoRefusal::tenant);
    auto mixed = w.claims();  // the issuer of one tenant, the tid of another
    mixed["tid"] = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";
    CHECK(w.refusal(mixed) == SsoRefusal::issuer);
    auto foreign_issuer = w.claims();
    foreign_issuer["iss"] = std::string("https://login.example.com/") + k_tenant + "/v2.0";
    CHECK(w.refusal(foreign_issuer) == SsoRefusal::issuer);
    auto other_audience = w.claims();
    other_audience["aud"] = "api://elsewhere.example.com/" + std::string(k_client);
    CHECK(w.refusal(other_audience) == SsoRefusal::audience);
    auto graph_token = w.claims();
    graph_token["aud"] = "https://graph.microsoft.com";
    CHECK(w.refusal(graph_token) == SsoRefusal::audience);
    auto no_scope = w.claims();
    no_scope["scp"] = "User.Read access_as_users";
    CHECK(w.refusal(no_scope) == SsoRefusal::scope);
    auto app_only = w.claims();
    app_only.erase("scp");
    app_only["roles"] = json::array({"access_as_user"});
    CHECK(w.refusal(app_only) == SsoRefusal::scope);
    auto nobody = w.claims();
    nobody.erase("preferred_username");
    CHECK(w.refusal(nobody) == SsoRefusal::no_user);
}

TEST_CASE("sso tokens: times are checked with five minutes of skew", "[graph][sso]") {
    SsoWorld w;
    auto const now = w.clock->load() / 1000;
    auto expired = w.claims();
    expired["exp"] = now - 301;
    CHECK(w.refusal(expired) == SsoRefusal::expired);
    expired["exp"] = now - 299;
    CHECK(w.refusal(expired) == SsoRefusal::none);
    auto early = w.claims();
    early["nbf"] = now + 301;
    CHECK(w.refusal(early) == SsoRefusal::not_yet_valid);
    early["nbf"] = now + 299;
    CHECK(w.refusal(early) == SsoRefusal::none);
    auto no_exp = w.claims();
    no_exp.erase("exp");
    CHECK(w.refusal(no_exp) == SsoRefusal::expired);
}

TEST_CASE("sso tokens: forged, malformed and oversized tokens are refused, never thrown on", "[graph][sso]") {
    SsoWorld w;
    auto const good = w.sign(w.claims());
    auto tampered = good;
    tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
    CHECK(w.tokens.check(tampered).refusal == SsoRefusal::signature);
    // The payload swapped under a valid signature.
    auto const dot1 = good.find('.');
    auto const dot2 = good.find('.', dot1 + 1);
    auto admin = w.claims();
    admin["preferred_username"] = "admin@contoso.example";
    auto const other = w.sign(admin);
    auto const other_dot1 = other.find('.');
    auto const other_payload = other.substr(other_dot1, other.find('.', other_dot1 + 1) - other_dot1);
    CHECK(w.tokens.check(good.substr(0, dot1) + other_payload + good.substr(dot2)).refusal == SsoRefusal::signature);
    CHECK(w.tokens.check("").refusal == SsoRefusal::malformed);
    CHECK(w.tokens.check("not.a.token").refusal == SsoRefusal::malformed);
    CHECK(w.tokens.check("a.b").refusal == SsoRefusal::malformed);
    CHECK(w.tokens.check(std::string(msteams::graph::k_max_sso_token + 1, 'a')).refusal == SsoRefusal::malformed);
    auto const unsigned_token = msteams::crypto::base64url_encode(R"({"alg":"none","kid":"key-1"})") + "." +
                                msteams::crypto::base64url_encode(w.claims().dump()) + ".";
    CHECK(w.tokens.check(unsigned_token).refusal != SsoRefusal::none);
}

TEST_CASE("sso tokens: a rolled key is fetched once, and unknown keys do not hammer Microsoft", "[graph][sso]") {
    SsoWorld w;
    CHECK(w.refusal(w.claims()) == SsoRefusal::none);
    CHECK(w.key_reads == 1);
    // Microsoft starts signing with a key that was not published when the set was read.
    *w.clock += 61'000;
    w.rolled = true;
    CHECK(w.tokens.check(w.sign(w.claims(), "key-2")).refusal == SsoRefusal::none);
    CHECK(w.key_reads == 2);
    CHECK(w.tokens.check(w.sign(w.claims(), "key-2")).refusal == SsoRefusal::none);
    CHECK(w.key_reads == 2);
    // Tokens naming keys nobody published: one read per period at most, however many come.
    for (int i = 0; i < 5; ++i) {
        CHECK(w.tokens.check(w.sign(w.claims(), "key-" + std::to_string(10 + i))).refusal == SsoRefusal::signature);
    }
    CHECK(w.key_reads == 2);
    *w.clock += 61'000;
    CHECK(w.tokens.check(w.sign(w.claims(), "key-99")).refusal == SsoRefusal::signature);
    CHECK(w.key_reads == 3);
}

TEST_CASE("sso tokens: keys that cannot be read refuse as unavailable, then recover", "[graph][sso]") {
    SsoWorld w;
    w.keys_down = true;
    CHECK(w.refusal(w.claims()) == SsoRefusal::keys_unavailable);
    w.keys_down = false;
    CHECK(w.refusal(w.claims()) == SsoRefusal::none);
}
