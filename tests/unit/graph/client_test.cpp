#include "test_ids.hpp"
#include "http/graph_endpoint.hpp"  // first: it includes <utility> before Asio

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "log_capture.hpp"
#include "common/clock.hpp"
#include "common/log.hpp"
#include "common/strings.hpp"
#include "crypto/crypto.hpp"
#include "graph/client.hpp"
#include "graph/detail/rate_limiter.hpp"
#include "graph/detail/support.hpp"
#include "graph/emulator.hpp"

using msteams::ErrorCode;
using msteams::graph::Client;
using msteams::graph::Entra;
using msteams::graph::Limits;
using msteams::graph::NewMessage;
using msteams::graph::Subscription;
using msteams::test::Emulator;
using msteams::test::EmulatorOptions;
using msteams::test::Reply;
using msteams::test::Seen;
using msteams::test::TestPki;
using msteams::test::TlsServer;
using nlohmann::json;
using namespace std::chrono_literals;
namespace detail = msteams::graph::detail;
namespace strings = msteams::strings;

namespace {

constexpr char const* k_adele = "a1b2c3d4-0001-4000-8000-000000000001";
constexpr char const* k_bianca = "a1b2c3d4-0002-4000-8000-000000000002";
constexpr char const* k_cameron = "a1b2c3d4-0003-4000-8000-000000000003";
constexpr char const* k_diego = "a1b2c3d4-0004-4000-8000-000000000004";
constexpr char const* k_adele_upn = "adele@contoso.onmicrosoft.com";
constexpr char const* k_bianca_upn = "bianca@contoso.onmicrosoft.com";

using Steady = std::chrono::steady_clock;

bool contains(std::string const& haystack, std::string const& needle) {
    return haystack.find(needle) != std::string::npos;
}

// Limits without the client's own rate budgets (for tests that are about something else) and a short deadline.
Limits unlimited(std::chrono::milliseconds deadline = 10s) {
    Limits l;
    l.deadline = deadline;
    l.chat_reads_per_second = 0;
    l.chat_posts_per_second = 0;
    l.chat_writes_per_second = 0;
    l.tenant_reads_per_second = 0;
    l.tenant_posts_per_second = 0;
    return l;
}

std::string chat_path(std::string const& chat_id) { return "/chats/" + strings::url_encode(chat_id); }

// A chat created through the control API (as Teams users would have it).
std::string control_chat(Emulator const& emu, std::string const& type, std::vector<std::string> const& members) {
    return emu.control_ok("POST", "/chats", json{{"chatType", type}, {"members", members}}).at("id").get<std::string>();
}

// A message sent by a Teams user through the control API.
json control_send(Emulator const& emu, std::string const& chat_id, json post) {
    return emu.control_ok("POST", chat_path(chat_id) + "/messages", post);
}

json text_post(std::string const& from, std::string const& text) {
    return json{{"from", from}, {"body", {{"contentType", "text"}, {"content", text}}}};
}

using msteams::test::LogCapture;

// A fake Graph host for answers the emulator never gives (malformed bodies, odd redirects).
struct FakeGraph {
    TestPki pki;
    msteams::test::Identity leaf = pki.issue("localhost", "DNS:localhost,IP:127.0.0.1");
    std::shared_ptr<msteams::http::Client> http =
        std::make_shared<msteams::http::Client>(msteams::http::TlsOptions{pki.ca_pem(), false}, 2);
};

Reply json_reply(int status, std::string body) {
    Reply r;
    r.status = status;
    r.body = std::move(body);
    r.headers = {{"Content-Type", "application/json"}};
    return r;
}

}  // namespace

// --- pure parts ------------------------------------------------------------------------------------------------------

TEST_CASE("graph: Graph date-times parse with any fraction and offset and format back", "[graph]") {
    CHECK(detail::parse_time("2021-03-28T21:11:12.395Z") == 1616965872395);
    CHECK(detail::parse_time("2021-03-28T21:11:12Z") == 1616965872000);
    CHECK(detail::parse_time("2021-03-28T21:11:12.3954321Z") == 1616965872395);
    CHECK(detail::parse_time("2021-02-02T10:30:34.9097561-08:00") == detail::parse_time("2021-02-02T18:30:34.909Z"));
    CHECK(detail::parse_time("1970-01-01T00:00:00.000Z") == 0);
    CHECK(detail::parse_time("2024-02-29T00:00:00Z").has_value());
    CHECK_FALSE(detail::parse_time("2023-02-29T00:00:00Z").has_value());
    CHECK_FALSE(detail::parse_time("2021-03-28 21:11:12Z").has_value());
    CHECK_FALSE(detail::parse_time("2021-03-28T21:11:12").has_value());
    CHECK_FALSE(detail::parse_time("2021-03-28T21:11:12.Z").has_value());
    CHECK_FALSE(detail::parse_time("2021-13-28T21:11:12Z").has_value());
    CHECK_FALSE(detail::parse_time("").has_value());
    CHECK(detail::format_time(1616965872395) == "2021-03-28T21:11:12.395Z");
    CHECK(detail::format_time(0) == "1970-01-01T00:00:00.000Z");
    for (std::int64_t ms : {951782400000LL, 4102444799999LL, 1700000000123LL}) {
        CHECK(detail::parse_time(detail::format_time(ms)) == ms);
    }
}

TEST_CASE("graph: ids are percent-encoded path segments and share tokens are u! base64url", "[graph]") {
    CHECK(detail::path_segment("19:abc_def@thread.v2") == "19%3Aabc_def%40thread.v2");
    CHECK(detail::path_segment("a/b?c#d e") == "a%2Fb%3Fc%23d%20e");
    // The example of the shares API documentation.
    CHECK(detail::share_token("https://onedrive.live.com/redir?resid=1231244193912!12&authKey=1201919!12921!1") ==
          "u!aHR0cHM6Ly9vbmVkcml2ZS5saXZlLmNvbS9yZWRpcj9yZXNpZD0xMjMxMjQ0MTkzOTEyITEyJmF1dGhLZXk9MTIwMTkxOSExMjkyMSEx");
    // OData string literals: quotes around, a quote inside doubled.
    CHECK(detail::odata_string("pat.o'brien@contoso.com") == "'pat.o''brien@contoso.com'");
    CHECK(detail::odata_string("''") == "''''''");
    CHECK(detail::odata_string("") == "''");
}

TEST_CASE("graph: the rate limiter spaces turns, refuses past the budget and forgets idle chats", "[graph]") {
    detail::RateLimiter limiter;
    auto const t0 = detail::RateLimiter::Clock::now();
    std::vector<detail::RateLimiter::Want> const chat = {{"chat-a", 2.0}, {"tenant", 100.0}};
    // Burst of two (capacity = rate), then one every 500 ms.
    auto a = limiter.reserve(chat, t0, 10s);
    auto b = limiter.reserve(chat, t0, 10s);
    auto c = limiter.reserve(chat, t0, 10s);
    auto d = limiter.reserve(chat, t0, 10s);
    CHECK((a.granted && a.wait == 0ms));
    CHECK((b.granted && b.wait == 0ms));
    CHECK((c.granted && c.wait == 500ms));
    CHECK((d.granted && d.wait == 1000ms));
    // A deadline shorter than the queue: refused, nothing reserved.
    auto e = limiter.reserve(chat, t0, 1000ms);
    CHECK_FALSE(e.granted);
    CHECK(e.wait == 1500ms);
    auto f = limiter.reserve(chat, t0, 10s);
    CHECK(f.wait == 1500ms);
    // Another chat has its own budget; the shared tenant bucket binds both.
    std::vector<detail::RateLimiter::Want> const other = {{"chat-b", 2.0}, {"tenant", 100.0}};
    CHECK(limiter.reserve(other, t0, 10s).wait == 0ms);
    std::vector<detail::RateLimiter::Want> const tight = {{"chat-c", 100.0}, {"tenant-2", 1.0}};
    CHECK(limiter.reserve(tight, t0, 10s).wait == 0ms);
    CHECK(limiter.reserve(tight, t0, 10s).wait == 1000ms);
    // No limit: never waits, holds no bucket.
    std::vector<detail::RateLimiter::Want> const none = {{"chat-d", 0.0}};
    for (int i = 0; i < 5; ++i) {
        CHECK(limiter.reserve(none, t0, 0ms).granted);
    }
    // Thousands of chats touched once, an hour later: idle buckets are dropped as new ones arrive.
    auto const later = t0 + 1h;
    for (int i = 0; i < 5000; ++i) {
        std::vector<detail::RateLimiter::Want> const w = {{"chat-" + std::to_string(i), 1.0}};
        REQUIRE(limiter.reserve(w, later + std::chrono::seconds(i), 10s).granted);
    }
    CHECK(limiter.size() < 200);
}

TEST_CASE("graph: a Retry-After holds the chat's bucket, and the turns after it follow at the bucket's rate",
          "[graph]") {
    detail::RateLimiter limiter;
    auto const t0 = detail::RateLimiter::Clock::now();
    detail::RateLimiter::Want const chat{"chat-a", 1.0};
    std::vector<detail::RateLimiter::Want> const wants = {chat, {"tenant", 100.0}};
    CHECK(limiter.reserve(wants, t0, 10s).wait == 0ms);
    // Graph answered 429 with Retry-After: 3 (someone else used the chat's budget): the next turn is 3 s away, not 1.
    limiter.hold(chat, t0 + 100ms, t0 + 3100ms);
    CHECK(limiter.reserve(wants, t0 + 100ms, 10s).wait == 3000ms);
    CHECK(limiter.reserve(wants, t0 + 100ms, 10s).wait == 4000ms);
    // A hold shorter than the queue already there changes nothing; neither does one on a budget without a limit.
    limiter.hold(chat, t0 + 100ms, t0 + 200ms);
    CHECK(limiter.reserve(wants, t0 + 100ms, 10s).wait == 5000ms);
    limiter.hold({"chat-b", 0.0}, t0, t0 + 1h);
    CHECK(limiter.reserve(std::vector<detail::RateLimiter::Want>{{"chat-b", 0.0}}, t0, 0ms).granted);
}

TEST_CASE("graph: parse_chat_message reads every field of a Graph chatMessage", "[graph]") {
    std::string const text = R"({
      "id":"1616965872395","replyToId":null,"etag":"1616965872395","messageType":"message",
      "createdDateTime":"2021-03-28T21:11:12.395Z","lastModifiedDateTime":"2021-03-28T21:12:00.0000000Z",
      "lastEditedDateTime":"2021-03-28T21:12:00Z","deletedDateTime":null,"subject":null,
      "chatId":"19:2da4c29f6d7041eca70b638b43d45437@thread.v2","importance":"normal",
      "from":{"application":null,"device":null,"user":{"id":"8ea0e38b-efb3-4757-924a-5f94061cf8c2",
              "displayName":"Robin Kline","userIdentityType":"aadUser"}},
      "body":{"contentType":"html","content":"Hello <at id=\"0\">Jane Smith</at><attachment id=\"a1\"></attachment>"},
      "attachments":[{"id":"a1","contentType":"reference","contentUrl":"https://contoso.sharepoint.com/x/y.docx",
                      "content":null,"name":"y.docx","thumbnailUrl":null}],
      "mentions":[{"id":0,"mentionText":"Jane Smith","mentioned":{"application":null,"device":null,"conversation":null,
                   "user":{"id":"ef1c916a-3135-4417-ba27-8eb7bd084193","displayName":"Jane Smith",
                           "userIdentityType":"aadUser"}}}],
      "reactions":[{"reactionType":"like","createdDateTime":"2021-03-28T21:13:00.000Z",
                    "user":{"application":null,"device":null,"user":{"id":"ef1c916a-3135-4417-ba27-8eb7bd084193",
                            "displayName":null,"userIdentityType":"aadUser"}}}]})";
    auto m = msteams::graph::parse_chat_message(text);
    REQUIRE(m);
    CHECK(m->id == "1616965872395");
    CHECK(m->chat_id == "19:2da4c29f6d7041eca70b638b43d45437@thread.v2");
    CHECK(m->reply_to_id.empty());
    CHECK(m->message_type == "message");
    CHECK(m->created_at == 1616965872395);
    CHECK(m->last_modified_at == 1616965920000);
    CHECK(m->last_edited_at == 1616965920000);
    CHECK(m->deleted_at == 0);
    CHECK(m->from.id == "8ea0e38b-efb3-4757-924a-5f94061cf8c2");
    CHECK(m->from.display_name == "Robin Kline");
    CHECK(m->body_content_type == "html");
    CHECK(contains(m->body, "<at id=\"0\">Jane Smith</at>"));
    REQUIRE(m->attachments.size() == 1);
    CHECK(m->attachments[0].id == "a1");
    CHECK(m->attachments[0].content_type == "reference");
    CHECK(m->attachments[0].content_url == "https://contoso.sharepoint.com/x/y.docx");
    CHECK(m->attachments[0].name == "y.docx");
    REQUIRE(m->mentions.size() == 1);
    CHECK(m->mentions[0].id == 0);
    CHECK(m->mentions[0].text == "Jane Smith");
    CHECK(m->mentions[0].user_id == "ef1c916a-3135-4417-ba27-8eb7bd084193");
    CHECK(m->mentions[0].display_name == "Jane Smith");
    REQUIRE(m->reactions.size() == 1);
    CHECK(m->reactions[0].reaction_type == "like");
    CHECK(m->reactions[0].user_id == "ef1c916a-3135-4417-ba27-8eb7bd084193");
    CHECK(m->reactions[0].created_at == 1616965980000);
    CHECK(m->raw_json == text);

    SECTION("an application sender or none at all leaves the user id empty") {
        auto bot = msteams::graph::parse_chat_message(
            R"({"id":"1","from":{"user":null,"application":{"id":"app","displayName":"Bot"}},)"
            R"("body":{"contentType":"text","content":"x"}})");
        REQUIRE(bot);
        CHECK(bot->from.id.empty());
        CHECK(bot->from.display_name == "Bot");
        auto system =
            msteams::graph::parse_chat_message(R"({"id":"2","from":null,"messageType":"systemEventMessage"})");
        REQUIRE(system);
        CHECK(system->from.id.empty());
        CHECK(system->message_type == "systemEventMessage");
    }

    SECTION("a sender who is not an Entra user (a meeting guest, a phone) is no user, and the message still counts") {
        auto guest = msteams::graph::parse_chat_message(
            R"({"id":"3","from":{"user":{"id":"8:teamsvisitor:4f1c","displayName":"Guest Gil",)"
            R"("userIdentityType":"anonymousGuest"}},"body":{"contentType":"text","content":"hi"}})");
        REQUIRE(guest);
        CHECK(guest->from.id.empty());
        CHECK(guest->from.display_name == "Guest Gil");
        CHECK(guest->body == "hi");
    }

    SECTION("malformed messages are invalid_argument with the reason, never an exception") {
        struct Case {
            char const* json;
            char const* reason;
        };
        Case const cases[] = {
            {"not json", "not valid JSON"},
            {"[1,2]", "not a JSON object"},
            {R"({"body":{}})", "no id"},
            {R"({"id":7})", "chatMessage.id is not a string"},
            {R"({"id":"1","createdDateTime":"yesterday"})", "createdDateTime is not an ISO-8601 date-time"},
            {R"({"id":"1","from":"someone"})", "chatMessage.from is not an object"},
            {R"({"id":"1","mentions":{}})", "chatMessage.mentions is not an array"},
            {R"({"id":"1","mentions":[{"id":"zero"}]})", "mentions[].id is not an integer"},
            {R"({"id":"1","mentions":[{"id":99999999999}]})", "mentions[].id is not an int"},
            {R"({"id":"1","reactions":[{"user":{"user":{"id":5}}}]})", "reactions[].user.user.id is not a string"},
            {R"({"id":"1","attachments":[3]})", "attachments[] is not an object"},
            {R"({"id":"1","body":{"content":["x"]}})", "chatMessage.body.content is not a string"},
        };
        for (auto const& c : cases) {
            INFO(c.json);
            auto r = msteams::graph::parse_chat_message(c.json);
            REQUIRE_FALSE(r);
            CHECK(r.error().code == ErrorCode::invalid_argument);
            CHECK(contains(r.error().message, c.reason));
        }
    }
}

// --- against the Microsoft 365 emulator ------------------------------------------------------------------------

TEST_CASE("graph: a user's photo (none is not an error) and presences in one request", "[graph]") {
    Emulator emu;
    Entra entra(emu.http, emu.app());
    auto app = entra.app_token();
    REQUIRE(app);
    Client client(emu.http, emu.graph_url(), unlimited());

    auto none = client.get_user_photo(app->access_token, msteams::TeamsUserId(k_bianca));
    REQUIRE(none);
    CHECK_FALSE(none->has_value());
    std::string const png("\x89PNG\r\n\x1a\n\0photo", 14);
    emu.control_ok("PATCH", "/users/" + std::string(k_bianca),
                   {{"photo", msteams::crypto::base64_encode(png)}, {"photoType", "image/png"}});
    auto photo = client.get_user_photo(app->access_token, msteams::TeamsUserId(k_bianca));
    REQUIRE(photo);
    REQUIRE(photo->has_value());
    CHECK(**photo == png);  // bytes as they are, NUL included
    auto missing =
        client.get_user_photo(app->access_token, msteams::TeamsUserId("a1b2c3d4-0099-4000-8000-000000000099"));
    CHECK((missing && !missing->has_value()));  // an unknown user has no photo either: 404

    emu.control_ok("PATCH", "/users/" + std::string(k_adele),
                   {{"presence", {{"availability", "DoNotDisturb"}, {"activity", "Presenting"}}}});
    std::string const unknown = "a1b2c3d4-0099-4000-8000-000000000099";
    auto presences = client.get_presences(
        app->access_token,
        {msteams::TeamsUserId(k_adele), msteams::TeamsUserId(k_bianca), msteams::TeamsUserId(unknown)});
    REQUIRE(presences);
    REQUIRE(presences->size() == 2);  // unknown ids are left out
    CHECK((*presences)[0].id == k_adele);
    CHECK((*presences)[0].availability == "DoNotDisturb");
    CHECK((*presences)[0].activity == "Presenting");
    CHECK_FALSE(client.get_presences(app->access_token, {}).has_value());
    CHECK(client.counters().photo_gets == 3);
    CHECK(client.counters().presence_reads == 1);
}

TEST_CASE("graph: app and delegated tokens from the emulator and get_user", "[graph]") {
    Emulator emu;
    Entra entra(emu.http, emu.app());
    auto app = entra.app_token();
    REQUIRE(app);
    CHECK_FALSE(app->access_token.empty());
    CHECK(app->refresh_token.empty());

    Client client(emu.http, emu.graph_url(), unlimited());
    auto guest = client.get_user(app->access_token, "gita_fabrikam.example#EXT#@contoso.onmicrosoft.com");
    REQUIRE(guest);
    CHECK(guest->id == "a1b2c3d4-0006-4000-8000-000000000006");
    CHECK(guest->display_name == "Gita Guest");
    CHECK(guest->user_type == "Guest");
    CHECK(guest->mail == "gita@fabrikam.example");
    CHECK(guest->account_enabled);
    auto dora = client.get_user(app->access_token, "dora@contoso.onmicrosoft.com");
    REQUIRE(dora);
    CHECK_FALSE(dora->account_enabled);
    auto adele = client.get_user(app->access_token, k_adele);
    REQUIRE(adele);
    CHECK(adele->user_principal_name == k_adele_upn);
    CHECK(adele->user_type == "Member");
    auto missing = client.get_user(app->access_token, "nobody@contoso.onmicrosoft.com");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == ErrorCode::not_found);
    CHECK(missing.error().http_status == 404);

    auto user = emu.user_token(k_adele_upn);
    CHECK_FALSE(user.refresh_token.empty());
    auto me = entra.me(user.access_token);
    REQUIRE(me);
    CHECK(me->id == k_adele);

    std::string const bogus = "bogus-token-0123456789";
    auto denied = client.get_user(bogus, k_adele);
    REQUIRE_FALSE(denied);
    CHECK(denied.error().code == ErrorCode::unauthenticated);
    CHECK_FALSE(contains(denied.error().message, bogus));

    auto const c = client.counters();
    CHECK(c.user_gets == 5);
    CHECK(c.requests == 5);
    CHECK(c.retries == 0);
}

TEST_CASE("graph: list_users pages through the tenant and find_users_by_address matches mail or UPN", "[graph]") {
    Emulator emu;
    Entra entra(emu.http, emu.app());
    auto app = entra.app_token();
    REQUIRE(app);
    Client client(emu.http, emu.graph_url(), unlimited());
    std::vector<msteams::graph::GraphUser> all;
    std::string next;
    int pages = 0;
    do {
        auto page = client.list_users(app->access_token, next, 3);
        REQUIRE(page);
        all.insert(all.end(), page->users.begin(), page->users.end());
        next = page->next_link;
        ++pages;
    } while (!next.empty());
    CHECK(pages == 3);
    REQUIRE(all.size() == 7);
    auto const dora =
        std::find_if(all.begin(), all.end(), [](auto const& u) { return u.display_name == "Dora Disabled"; });
    REQUIRE(dora != all.end());
    CHECK_FALSE(dora->account_enabled);
    CHECK(std::count_if(all.begin(), all.end(), [](auto const& u) { return u.user_type == "Guest"; }) == 1);
    // A link elsewhere is never followed with the token.
    auto const elsewhere = client.list_users(app->access_token, "https://example.com/v1.0/users?$skiptoken=x");
    REQUIRE_FALSE(elsewhere);
    CHECK(elsewhere.error().code == ErrorCode::invalid_argument);

    emu.control_ok("POST", "/users",
                   {{"displayName", "Pat O'Brien"},
                    {"mail", "pat.o'brien@contoso.example"},
                    {"userPrincipalName", "pobrien@contoso.onmicrosoft.com"}});
    for (auto const* address : {"Pat.O'Brien@contoso.example", "pobrien@contoso.onmicrosoft.com"}) {
        INFO(address);
        auto found = client.find_users_by_address(app->access_token, address);
        REQUIRE(found);
        REQUIRE(found->size() == 1);
        CHECK(found->front().user_principal_name == "pobrien@contoso.onmicrosoft.com");
        CHECK(found->front().mail == "pat.o'brien@contoso.example");
    }
    auto none =
        client.find_users_by_address(app->access_token, "x' or userPrincipalName eq 'dora@contoso.onmicrosoft.com");
    REQUIRE(none);
    CHECK(none->empty());  // the quote is data, not syntax
    // Graph itself reads a user by id or UPN only.
    auto by_mail = client.get_user(app->access_token, "pat.o'brien@contoso.example");
    REQUIRE_FALSE(by_mail);
    CHECK(by_mail.error().code == ErrorCode::not_found);
}

TEST_CASE("graph: create_chat, get_chat with members and list_my_chats", "[graph]") {
    Emulator emu;
    auto const adele = emu.user_token(k_adele_upn).access_token;
    Client client(emu.http, emu.graph_url(), unlimited());

    auto one = client.create_chat(adele, "oneOnOne", {msteams::TeamsUserId(k_adele), msteams::TeamsUserId(k_bianca)});
    REQUIRE(one);
    CHECK(one->chat_type == "oneOnOne");
    CHECK(contains(one->id.str(), "@unq.gbl.spaces"));
    auto again = client.create_chat(adele, "oneOnOne", {msteams::TeamsUserId(k_bianca), msteams::TeamsUserId(k_adele)});
    REQUIRE(again);
    CHECK(again->id == one->id);  // one-on-one chats are idempotent
    auto group = client.create_chat(
        adele, "group",
        {msteams::TeamsUserId(k_adele), msteams::TeamsUserId(k_bianca), msteams::TeamsUserId(k_cameron)});
    REQUIRE(group);
    CHECK(group->chat_type == "group");
    CHECK(contains(group->id.str(), "@thread.v2"));

    auto with = client.get_chat(adele, msteams::TeamsThreadId(group->id), true);
    REQUIRE(with);
    CHECK(with->id == group->id);
    CHECK_FALSE(with->web_url.empty());
    REQUIRE(with->members.size() == 3);
    std::vector<std::string> ids;
    for (auto const& m : with->members) {
        ids.push_back(m.user_id.str());
        CHECK(std::find(m.roles.begin(), m.roles.end(), "owner") != m.roles.end());
        CHECK(contains(m.email, "@contoso.onmicrosoft.com"));
        CHECK_FALSE(m.display_name.empty());
    }
    std::sort(ids.begin(), ids.end());
    CHECK(ids == std::vector<std::string>{k_adele, k_bianca, k_cameron});
    auto without = client.get_chat(adele, msteams::TeamsThreadId(one->id), false);
    REQUIRE(without);
    CHECK(without->members.empty());

    auto mine = client.list_my_chats(adele, 50);
    REQUIRE(mine);
    REQUIRE(mine->size() == 2);
    for (auto const& c : *mine) {
        CHECK((c.id == one->id || c.id == group->id));
        CHECK(c.members.size() >= 2);
    }
    auto first = client.list_my_chats(adele, 1);
    REQUIRE(first);
    CHECK(first->size() == 1);

    SECTION("wrong shapes are refused before any request, strangers get permission_denied") {
        auto const before = client.counters().requests;
        auto bad = client.create_chat(adele, "group", {msteams::TeamsUserId(k_adele), msteams::TeamsUserId(k_bianca)});
        REQUIRE_FALSE(bad);
        CHECK(bad.error().code == ErrorCode::invalid_argument);
        CHECK(client.counters().requests == before);
        auto const diego = emu.user_token("diego@contoso.onmicrosoft.com").access_token;
        auto stranger = client.get_chat(diego, msteams::TeamsThreadId(group->id), true);
        REQUIRE_FALSE(stranger);
        CHECK(stranger.error().code == ErrorCode::permission_denied);
        CHECK(client.counters().requests == before + 1);  // 4xx: no retry
    }
}

TEST_CASE("graph: get_message parses a Teams user's mentions, file attachment and reactions", "[graph]") {
    Emulator emu;
    auto const chat = control_chat(emu, "oneOnOne", {k_adele, k_bianca});
    json post = {
        {"from", k_bianca_upn},
        {"body", {{"contentType", "html"}, {"content", "Hi <at id=\"0\">Adele Vance</at>, the report:"}}},
        {"mentions",
         {{{"id", 0},
           {"mentionText", "Adele Vance"},
           {"mentioned", {{"user", {{"id", k_adele}, {"displayName", "Adele Vance"}}}}}}}},
        {"files", {{{"name", "report.txt"}, {"contentBase64", msteams::crypto::base64_encode("hello file")}}}}};
    auto const sent = control_send(emu, chat, post);
    std::string const id = sent.at("id");
    emu.control_ok("POST", chat_path(chat) + "/messages/" + id + "/reactions",
                   json{{"from", k_adele_upn}, {"reactionType", "like"}});

    auto const adele = emu.user_token(k_adele_upn).access_token;
    Client client(emu.http, emu.graph_url(), unlimited());
    auto m = client.get_message(adele, msteams::TeamsThreadId(chat), msteams::TeamsMessageId(id));
    REQUIRE(m);
    CHECK(m->id == id);
    CHECK(m->chat_id == chat);
    CHECK(m->message_type == "message");
    CHECK(m->from.id == k_bianca);
    CHECK(m->from.display_name == "Bianca Pisani");
    CHECK(m->body_content_type == "html");
    CHECK(contains(m->body, "<at id=\"0\">Adele Vance</at>"));
    CHECK(std::llabs(m->created_at - msteams::now_ms()) < 60'000);
    CHECK(m->last_modified_at > m->created_at);  // the reaction moved it
    CHECK(m->last_edited_at == 0);
    CHECK(m->deleted_at == 0);
    REQUIRE(m->mentions.size() == 1);
    CHECK(m->mentions[0].id == 0);
    CHECK(m->mentions[0].text == "Adele Vance");
    CHECK(m->mentions[0].user_id == k_adele);
    REQUIRE(m->attachments.size() == 1);
    CHECK(m->attachments[0].content_type == "reference");
    CHECK(m->attachments[0].name == "report.txt");
    CHECK(contains(m->attachments[0].content_url, "https://contoso-my.sharepoint.com/"));
    CHECK(contains(m->body, "<attachment id=\"" + m->attachments[0].id + "\">"));
    REQUIRE(m->reactions.size() == 1);
    CHECK(m->reactions[0].reaction_type == "like");
    CHECK(m->reactions[0].user_id == k_adele);
    CHECK(m->reactions[0].created_at >= m->created_at);
    auto const raw = json::parse(m->raw_json);
    CHECK(raw.at("id") == id);
    CHECK(client.counters().message_gets == 1);

    auto missing = client.get_message(adele, msteams::TeamsThreadId(chat), msteams::TeamsMessageId("1"));
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == ErrorCode::not_found);
}

TEST_CASE("graph: list_messages_since pages, filters by modification and returns oldest first", "[graph]") {
    Emulator emu;
    auto const chat = control_chat(emu, "oneOnOne", {k_adele, k_bianca});
    std::vector<std::string> ids;
    for (int i = 0; i < 55; ++i) {
        if (i == 50) {
            std::this_thread::sleep_for(5ms);  // the last five are modified in a later millisecond than the cut
        }
        ids.push_back(control_send(emu, chat, text_post(k_bianca_upn, "message " + std::to_string(i))).at("id"));
    }
    auto const adele = emu.user_token(k_adele_upn).access_token;
    Client client(emu.http, emu.graph_url(), unlimited());

    auto all = client.list_messages_since(adele, msteams::TeamsThreadId(chat), 0, 100);
    REQUIRE(all);
    CHECK_FALSE(all->truncated);
    REQUIRE(all->messages.size() == 55);
    for (std::size_t i = 0; i < ids.size(); ++i) {
        CHECK(all->messages[i].id == ids[i]);
    }
    CHECK(client.counters().message_lists == 2);  // 50 + 5

    // Everything modified after the cut, in order; messages of the cut's own millisecond may come too (Graph
    // compares more precisely than the milliseconds it shows), never older ones.
    auto const cut = all->messages[49].last_modified_at;
    auto newer = client.list_messages_since(adele, msteams::TeamsThreadId(chat), cut, 100);
    REQUIRE(newer);
    CHECK_FALSE(newer->truncated);
    std::vector<std::string> got;
    for (auto const& m : newer->messages) {
        CHECK(m.last_modified_at >= cut);
        if (m.last_modified_at > cut) {
            got.push_back(m.id.str());
        }
    }
    std::vector<std::string> want;
    for (auto const& m : all->messages) {
        if (m.last_modified_at > cut) {
            want.push_back(m.id.str());
        }
    }
    CHECK(want.size() == 5);
    CHECK(got == want);
    REQUIRE(newer->messages.size() >= 5);
    CHECK(newer->messages.back().id == ids[54]);

    auto newest = client.list_messages_since(adele, msteams::TeamsThreadId(chat), 0, 5);
    REQUIRE(newest);
    CHECK(newest->truncated);
    REQUIRE(newest->messages.size() == 5);
    CHECK(newest->messages.front().id == ids[50]);
    CHECK(newest->messages.back().id == ids[54]);

    // A long gap is read oldest first in chunks: every page is read, the oldest are kept, in order.
    auto const lists_before = client.counters().message_lists;
    auto oldest = client.list_oldest_messages_since(adele, msteams::TeamsThreadId(chat), 0, 7);
    REQUIRE(oldest);
    CHECK(oldest->truncated);
    REQUIRE(oldest->messages.size() == 7);
    for (std::size_t i = 0; i < 7; ++i) {
        CHECK(oldest->messages[i].id == ids[i]);
    }
    CHECK(client.counters().message_lists == lists_before + 2);
    auto whole = client.list_oldest_messages_since(adele, msteams::TeamsThreadId(chat), 0, 55);
    REQUIRE(whole);
    CHECK_FALSE(whole->truncated);
    REQUIRE(whole->messages.size() == 55);
    CHECK(whole->messages.back().id == ids[54]);

    // An edit of an old message moves its lastModifiedDateTime: it is all that changed since.
    auto const since = all->messages.back().last_modified_at;
    emu.control_ok("PATCH", chat_path(chat) + "/messages/" + ids[3],
                   json{{"from", k_bianca_upn}, {"body", {{"contentType", "text"}, {"content", "edited"}}}});
    auto edited = client.list_messages_since(adele, msteams::TeamsThreadId(chat), since, 100);
    REQUIRE(edited);
    REQUIRE_FALSE(edited->messages.empty());
    for (std::size_t i = 0; i + 1 < edited->messages.size(); ++i) {
        CHECK(edited->messages[i].last_modified_at == since);  // only messages of the cut's own millisecond again
    }
    auto const& changed = edited->messages.back();
    CHECK(changed.id == ids[3]);
    CHECK(changed.body == "edited");
    CHECK(changed.last_edited_at > 0);
    CHECK(changed.last_modified_at > since);

    auto nothing = client.list_messages_since(adele, msteams::TeamsThreadId(chat), msteams::now_ms() + 60'000, 100);
    REQUIRE(nothing);
    CHECK(nothing->messages.empty());
}

TEST_CASE("graph: send, update, react and soft-delete as a connected user", "[graph]") {
    Emulator emu;
    auto const chat = control_chat(emu, "oneOnOne", {k_adele, k_bianca});
    auto const adele = emu.user_token(k_adele_upn).access_token;
    Client client(emu.http, emu.graph_url(), unlimited());

    std::string const png("\x89PNG\r\n\x1a\n-not-really-an-image", 28);
    NewMessage out;
    out.html = "Hello <at id=\"0\">Bianca Pisani</at> <img src=\"../hostedContents/1/$value\">";
    out.mentions.push_back({0, "Bianca Pisani", msteams::TeamsUserId(k_bianca), "Bianca Pisani"});
    out.hosted_contents.push_back({"1", "image/png", png});
    auto sent = client.send_message(adele, msteams::TeamsThreadId(chat), out);
    REQUIRE(sent);
    CHECK(sent->from.id == k_adele);
    CHECK(sent->chat_id == chat);
    REQUIRE(sent->mentions.size() == 1);
    CHECK(sent->mentions[0].user_id == k_bianca);
    auto const hosted_at = sent->body.find("/hostedContents/");
    REQUIRE(hosted_at != std::string::npos);
    CHECK(contains(sent->body, emu.graph_url() + "/v1.0/chats/"));
    auto const hosted_end = sent->body.find("/$value", hosted_at);
    REQUIRE(hosted_end != std::string::npos);
    auto const hosted_id = sent->body.substr(hosted_at + 16, hosted_end - hosted_at - 16);
    auto bytes =
        client.get_hosted_content(adele, msteams::TeamsThreadId(chat), msteams::TeamsMessageId(sent->id), hosted_id);
    REQUIRE(bytes);
    CHECK(*bytes == png);

    NewMessage edit;
    edit.html = "<p>Edited</p>";
    REQUIRE(client.update_message(adele, msteams::TeamsThreadId(chat), msteams::TeamsMessageId(sent->id), edit));
    auto seen = emu.control_ok("GET", chat_path(chat) + "/messages/" + sent->id.str());
    CHECK(seen.at("body").at("content") == "<p>Edited</p>");
    CHECK(seen.at("lastEditedDateTime").is_string());

    REQUIRE(client.set_reaction(adele, msteams::TeamsThreadId(chat), msteams::TeamsMessageId(sent->id), "like"));
    seen = emu.control_ok("GET", chat_path(chat) + "/messages/" + sent->id.str());
    REQUIRE(seen.at("reactions").size() == 1);
    CHECK(seen.at("reactions")[0].at("reactionType") == "like");
    CHECK(seen.at("reactions")[0].at("user").at("user").at("id") == k_adele);
    REQUIRE(client.unset_reaction(adele, msteams::TeamsThreadId(chat), msteams::TeamsMessageId(sent->id), "like"));
    seen = emu.control_ok("GET", chat_path(chat) + "/messages/" + sent->id.str());
    CHECK(seen.at("reactions").empty());

    SECTION("errors come back at once, not retried") {
        auto const bianca = emu.user_token(k_bianca_upn).access_token;
        auto const before = client.counters();
        auto foreign =
            client.update_message(bianca, msteams::TeamsThreadId(chat), msteams::TeamsMessageId(sent->id), edit);
        REQUIRE_FALSE(foreign);
        CHECK(foreign.error().code == ErrorCode::permission_denied);
        Entra entra(emu.http, emu.app());
        auto app = entra.app_token();
        REQUIRE(app);
        auto as_app = client.send_message(app->access_token, msteams::TeamsThreadId(chat), out);
        REQUIRE_FALSE(as_app);
        CHECK(as_app.error().code == ErrorCode::unauthenticated);
        CHECK(as_app.error().http_status == 401);
        auto const after = client.counters();
        CHECK(after.requests == before.requests + 2);
        CHECK(after.retries == before.retries);
    }

    SECTION("soft delete") {
        REQUIRE(
            client.soft_delete_message(adele, msteams::TeamsUserId(k_adele), msteams::TeamsThreadId(chat), sent->id));
        seen = emu.control_ok("GET", chat_path(chat) + "/messages/" + sent->id.str());
        CHECK(seen.at("deletedDateTime").is_string());
        auto m = client.get_message(adele, msteams::TeamsThreadId(chat), msteams::TeamsMessageId(sent->id));
        REQUIRE(m);
        CHECK(m->deleted_at > 0);
        CHECK(m->body.empty());
        auto const c = client.counters();
        CHECK(c.message_posts == 1);
        CHECK(c.message_writes == 4);
        CHECK(c.file_downloads == 1);
    }
}

TEST_CASE("graph: shared files and hosted contents download with the size limit", "[graph]") {
    Emulator emu;
    auto const chat = control_chat(emu, "oneOnOne", {k_adele, k_bianca});
    std::string content(3000, 'x');
    for (std::size_t i = 0; i < content.size(); ++i) {
        content[i] = static_cast<char>('a' + i % 26);
    }
    json post = {{"from", k_bianca_upn},
                 {"body", {{"contentType", "html"}, {"content", "look <img src=\"../hostedContents/1/$value\">"}}},
                 {"hostedContents",
                  {{{"@microsoft.graph.temporaryId", "1"},
                    {"contentBytes", msteams::crypto::base64_encode(content)},
                    {"contentType", "image/png"}}}},
                 {"files", {{{"name", "data.bin"}, {"contentBase64", msteams::crypto::base64_encode(content)}}}}};
    auto const sent = control_send(emu, chat, post);
    std::string const id = sent.at("id");
    auto const adele = emu.user_token(k_adele_upn).access_token;

    Client client(emu.http, emu.graph_url(), unlimited());
    auto m = client.get_message(adele, msteams::TeamsThreadId(chat), msteams::TeamsMessageId(id));
    REQUIRE(m);
    REQUIRE(m->attachments.size() == 1);
    auto const url = m->attachments[0].content_url;
    auto file = client.download_shared(adele, url);  // a chat member, not the owner
    REQUIRE(file);
    CHECK(*file == content);
    // Graph's 302 was followed to the pre-authenticated URL.
    CHECK(emu.count("GET /v1.0/shares/{token}/driveItem/content", 302) == 1);
    CHECK(emu.count("GET /_download/{key}", 200) == 1);

    auto const at = m->body.find("/hostedContents/");
    REQUIRE(at != std::string::npos);
    auto const hid = m->body.substr(at + 16, m->body.find("/$value", at) - at - 16);
    auto image = client.get_hosted_content(adele, msteams::TeamsThreadId(chat), msteams::TeamsMessageId(id), hid);
    REQUIRE(image);
    CHECK(*image == content);
    CHECK(client.counters().file_downloads == 2);

    Limits small = unlimited();
    small.max_download_bytes = 2999;
    Client strict(emu.http, emu.graph_url(), small);
    auto big = strict.download_shared(adele, url);
    REQUIRE_FALSE(big);
    CHECK(big.error().code == ErrorCode::too_large);
    CHECK(contains(big.error().message, "2999"));
    auto big_image = strict.get_hosted_content(adele, msteams::TeamsThreadId(chat), msteams::TeamsMessageId(id), hid);
    REQUIRE_FALSE(big_image);
    CHECK(big_image.error().code == ErrorCode::too_large);

    auto plain = client.download_shared(adele, "http://contoso-my.sharepoint.com/x");
    REQUIRE_FALSE(plain);
    CHECK(plain.error().code == ErrorCode::invalid_argument);
    auto diego = client.download_shared(emu.user_token("diego@contoso.onmicrosoft.com").access_token, url);
    REQUIRE_FALSE(diego);
    CHECK(diego.error().code == ErrorCode::permission_denied);
}

TEST_CASE("graph: upload_chat_file stores the file in Teams chat files with an organization link", "[graph]") {
    Emulator emu;
    auto const adele = emu.user_token(k_adele_upn).access_token;
    Client client(emu.http, emu.graph_url(), unlimited());
    auto const guid = [](std::string const& etag) { return etag.substr(0, etag.find('}')); };

    auto item = client.upload_chat_file(adele, "f1key", "notes & plans.txt", "abc");
    REQUIRE(item);
    CHECK_FALSE(item->id.empty());
    CHECK(item->name == "notes & plans.txt");
    CHECK(item->size == 3);
    CHECK(item->etag.rfind("\"{", 0) == 0);
    CHECK(contains(item->web_url, "Microsoft%20Teams%20Chat%20Files"));
    // The same source file again (a retry) is the same item: same id, same Teams attachment id, one link.
    auto again = client.upload_chat_file(adele, "f1key", "notes & plans.txt", "abc");
    REQUIRE(again);
    CHECK(again->id == item->id);
    CHECK(guid(again->etag) == guid(item->etag));
    CHECK(again->web_url == item->web_url);
    // Another file of the same name is another item, under its own name.
    auto other = client.upload_chat_file(adele, "f2key", "notes & plans.txt", "defg");
    REQUIRE(other);
    CHECK(other->id != item->id);
    CHECK(other->name == "notes & plans.txt");
    CHECK(client.counters().file_uploads == 3);

    auto const files = emu.control_ok("GET", std::string("/users/") + k_adele + "/files").at("value");
    REQUIRE(files.size() == 2);
    for (auto const& f : files) {
        CHECK(contains(f.at("parentReference").at("path"), "/drive/root:/Microsoft Teams Chat Files/Mattermost/f"));
        REQUIRE(f.at("links").size() == 1);
        CHECK(f.at("links")[0].at("type") == "view");
        CHECK(f.at("links")[0].at("scope") == "organization");
    }
    auto back = client.download_shared(adele, item->web_url);
    REQUIRE(back);
    CHECK(*back == "abc");

    auto bad = client.upload_chat_file(adele, "k", "../escape.txt", "x");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code == ErrorCode::invalid_argument);
    auto bad_key = client.upload_chat_file(adele, "a/b", "x.txt", "x");
    REQUIRE_FALSE(bad_key);
    CHECK(bad_key.error().code == ErrorCode::invalid_argument);
}

TEST_CASE("graph: subscriptions are created with the validation handshake, renewed, listed and deleted", "[graph]") {
    TestPki pki;
    auto const leaf = pki.issue("127.0.0.1", "IP:127.0.0.1");
    std::atomic<int> validations{0};
    TlsServer endpoint(leaf, [&](Seen const& s) {
        auto r = msteams::test::endpoint_reply(s);
        validations += r.status == 202 ? 0 : 1;  // a handshake echoes its token; a notification gets 202
        return r;
    });
    EmulatorOptions options;
    options.trust_ca_pem = pki.ca_pem();
    Emulator emu(options);
    Entra entra(emu.http, emu.app());
    auto app = entra.app_token();
    REQUIRE(app);
    Client client(emu.http, emu.graph_url(), unlimited());

    std::string const secret_state = "client-state-S3CRET-value";
    Subscription wanted;
    wanted.resource = "chats/getAllMessages";
    wanted.change_type = "created,updated,deleted";
    wanted.notification_url = endpoint.url("/changes", "127.0.0.1");
    wanted.lifecycle_notification_url = endpoint.url("/lifecycle", "127.0.0.1");
    wanted.client_state = secret_state;
    wanted.expires_at = msteams::now_ms() + 2 * 3600 * 1000;
    auto sub = client.create_subscription(app->access_token, wanted);
    REQUIRE(sub);
    CHECK_FALSE(sub->id.empty());
    CHECK(sub->resource == wanted.resource);
    CHECK(sub->change_type == wanted.change_type);
    CHECK(sub->notification_url == wanted.notification_url);
    CHECK(sub->lifecycle_notification_url == wanted.lifecycle_notification_url);
    CHECK(sub->client_state == secret_state);
    CHECK(std::llabs(sub->expires_at - wanted.expires_at) < 1000);
    CHECK(validations == 2);  // notification and lifecycle URLs

    auto listed = client.list_subscriptions(app->access_token);
    REQUIRE(listed);
    REQUIRE(listed->size() == 1);
    CHECK(listed->front().id == sub->id);

    auto const later = msteams::now_ms() + 3 * 3600 * 1000;
    auto renewed = client.renew_subscription(app->access_token, sub->id, later, {}, {});
    REQUIRE(renewed);
    CHECK(renewed->id == sub->id);
    CHECK(std::llabs(renewed->expires_at - later) < 1000);
    REQUIRE(client.reauthorize_subscription(app->access_token, sub->id));

    SECTION("refusals are clear and keep the client state secret") {
        Subscription too_long = wanted;
        too_long.expires_at = msteams::now_ms() + 5LL * 24 * 3600 * 1000;
        auto refused = client.create_subscription(app->access_token, too_long);
        REQUIRE_FALSE(refused);
        CHECK(refused.error().code == ErrorCode::invalid_argument);
        CHECK(contains(refused.error().message, "4320 minutes"));
        CHECK_FALSE(contains(refused.error().message, secret_state));
        Subscription no_lifecycle = wanted;
        no_lifecycle.lifecycle_notification_url.clear();
        no_lifecycle.resource = "chats/" + control_chat(emu, "group", {k_adele, k_bianca, k_cameron}) + "/messages";
        auto refused2 = client.create_subscription(app->access_token, no_lifecycle);
        REQUIRE_FALSE(refused2);
        CHECK(contains(refused2.error().message, "lifecycleNotificationUrl"));
    }

    SECTION("delete, and delete again (404 is success)") {
        REQUIRE(client.delete_subscription(app->access_token, sub->id));
        REQUIRE(client.delete_subscription(app->access_token, sub->id));
        auto none = client.list_subscriptions(app->access_token);
        REQUIRE(none);
        CHECK(none->empty());
        CHECK(emu.count("DELETE /v1.0/subscriptions/{sid}", 404) == 1);
        CHECK(client.counters().subscription_calls == 7);
    }
}

TEST_CASE("graph: a 429 from Graph is retried after its Retry-After, within the deadline", "[graph]") {
    EmulatorOptions options;
    options.throttle = true;
    Emulator emu(options);
    emu.control_ok("PUT", "/throttle",
                   json{{"enabled", true}, {"limits", {{"chatMessageGet.thread", {{"count", 1}, {"perSeconds", 2}}}}}});
    auto const chat = control_chat(emu, "oneOnOne", {k_adele, k_bianca});
    std::string const id = control_send(emu, chat, text_post(k_bianca_upn, "hi")).at("id");
    auto const adele = emu.user_token(k_adele_upn).access_token;
    std::string const route = "GET /v1.0/chats/{chid}/messages/{mid}";

    SECTION("retried") {
        // What the metrics see: every exchange with its endpoint class and status, and the retry.
        struct Recording final : msteams::graph::Observer {
            std::mutex mutex;
            std::vector<std::pair<std::string, int>> requests;
            int retries = 0;
            void graph_request(std::string_view endpoint, int status, std::chrono::nanoseconds took) override {
                std::lock_guard lock(mutex);
                requests.emplace_back(std::string(endpoint), status);
                CHECK(took.count() > 0);
            }
            void graph_retry() override {
                std::lock_guard lock(mutex);
                ++retries;
            }
        };
        auto const seen = std::make_shared<Recording>();
        Client client(emu.http, emu.graph_url(), unlimited(10s), seen);
        REQUIRE(client.get_message(adele, msteams::TeamsThreadId(chat), msteams::TeamsMessageId(id)));
        auto const started = Steady::now();
        auto second = client.get_message(adele, msteams::TeamsThreadId(chat), msteams::TeamsMessageId(id));
        auto const took = Steady::now() - started;
        REQUIRE(second);
        CHECK(second->id == id);
        CHECK(took >= 900ms);  // Retry-After is in whole seconds
        auto const c = client.counters();
        CHECK(c.throttled >= 1);
        CHECK(c.retries == c.throttled);
        CHECK(c.message_gets == 2);
        CHECK(emu.count(route, 429) == static_cast<std::int64_t>(c.throttled));
        CHECK(emu.count(route, 200) == 2);
        auto const count = [&](int status) {
            return std::count(seen->requests.begin(), seen->requests.end(),
                              std::pair<std::string, int>{"message_get", status});
        };
        CHECK(count(200) == 2);
        CHECK(count(429) == static_cast<std::int64_t>(c.throttled));
        CHECK(seen->requests.size() == 2 + c.throttled);
        CHECK(seen->retries == static_cast<int>(c.retries));
    }

    SECTION("given up at the deadline with unavailable and retry_after") {
        LogCapture logs;
        Client client(emu.http, emu.graph_url(), unlimited(300ms));
        REQUIRE(client.get_message(adele, msteams::TeamsThreadId(chat), msteams::TeamsMessageId(id)));
        auto const started = Steady::now();
        auto second = client.get_message(adele, msteams::TeamsThreadId(chat), msteams::TeamsMessageId(id));
        CHECK(Steady::now() - started < 900ms);  // did not sleep past the deadline
        REQUIRE_FALSE(second);
        CHECK(second.error().code == ErrorCode::unavailable);
        CHECK(second.error().http_status == 429);
        CHECK(second.error().retry_after >= 1s);
        CHECK(contains(second.error().message, "TooManyRequests"));
        CHECK_FALSE(contains(second.error().message, adele));
        CHECK_FALSE(contains(logs.sink->text(), adele));
        CHECK(client.counters().retries == 0);
    }
}

TEST_CASE("graph: the per-chat budget keeps a burst free of 429s", "[graph]") {
    EmulatorOptions options;
    options.throttle = true;
    Emulator emu(options);
    // Graph's shape (a per-chat read bucket) at a rate that keeps the test short.
    json const throttle{{"enabled", true}, {"limits", {{"chatMessageGet.thread", {{"count", 4}, {"perSeconds", 1}}}}}};
    emu.control_ok("PUT", "/throttle", throttle);
    auto const chat = control_chat(emu, "oneOnOne", {k_adele, k_bianca});
    std::string const id = control_send(emu, chat, text_post(k_bianca_upn, "hi")).at("id");
    auto const adele = emu.user_token(k_adele_upn).access_token;
    std::string const route = "GET /v1.0/chats/{chid}/messages/{mid}";
    int const burst = 10;

    // Without the client's budget, the same burst collects 429s (so the check below can fail).
    {
        Client careless(emu.http, emu.graph_url(), unlimited(20s));
        for (int i = 0; i < burst; ++i) {
            REQUIRE(careless.get_message(adele, msteams::TeamsThreadId(chat), msteams::TeamsMessageId(id)));
        }
        CHECK(careless.counters().throttled > 0);
        CHECK(emu.count(route, 429) > 0);
    }
    emu.control_ok("PUT", "/throttle", throttle);  // setting the limits again starts with full buckets
    emu.control_ok("DELETE", "/counters");

    Limits limits;
    limits.chat_reads_per_second = 3.5;
    limits.deadline = 20s;
    Client careful(emu.http, emu.graph_url(), limits);
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int t = 0; t < 2; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < burst / 2; ++i) {
                if (careful.get_message(adele, msteams::TeamsThreadId(chat), msteams::TeamsMessageId(id))) {
                    ++ok;
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    CHECK(ok == burst);
    auto const c = careful.counters();
    CHECK(c.throttled == 0);
    CHECK(c.message_gets == static_cast<std::uint64_t>(burst));
    CHECK(c.waited_ms > 1000);  // (10 − 3.5 burst) / 3.5 per second ≈ 1.9 s of waiting
    CHECK(emu.count(route, 429) == 0);
    CHECK(emu.count(route, 200) == burst);
}

TEST_CASE("graph: activity-feed notifications keep Graph's 5 a second per tenant", "[graph]") {
    EmulatorOptions options;
    options.throttle = true;
    Emulator emu(options);
    // Graph's documented budget for an app's activity notifications; the emulator counts every request against it,
    // even those it then refuses (Adele does not have the app installed: 403).
    json const throttle{{"enabled", true}, {"limits", {{"activity.app", {{"count", 5}, {"perSeconds", 1}}}}}};
    emu.control_ok("PUT", "/throttle", throttle);
    Entra entra(emu.http, emu.app());
    auto app = entra.app_token();
    REQUIRE(app);
    msteams::graph::ActivityNotification n;
    n.topic = "Town Square";
    n.web_url = "https://teams.microsoft.com/l/entity/x/mattermost";
    n.activity_type = "mention";
    n.preview = "hello";
    n.chain_id = 7;
    std::string const route = "POST /v1.0/users/{uid}/teamwork/sendActivityNotification";
    int const burst = 12;

    // Without the client's budget, the same burst collects 429s (so the check below can fail).
    {
        Client careless(emu.http, emu.graph_url(), unlimited(20s));
        for (int i = 0; i < burst; ++i) {
            auto const sent = careless.send_activity_notification(app->access_token, msteams::TeamsUserId(k_adele), n);
            REQUIRE_FALSE(sent);
            CHECK(sent.error().code == msteams::ErrorCode::permission_denied);
        }
        CHECK(careless.counters().throttled > 0);
    }
    emu.control_ok("PUT", "/throttle", throttle);  // full buckets again
    emu.control_ok("DELETE", "/counters");

    Limits limits;  // the defaults: feed_per_second 5, as the bridge runs with a 2 % margin
    limits.feed_per_second = 0.98 * limits.feed_per_second;
    limits.deadline = 20s;
    Client careful(emu.http, emu.graph_url(), limits);
    auto const start = Steady::now();
    for (int i = 0; i < burst; ++i) {
        auto const sent = careful.send_activity_notification(app->access_token, msteams::TeamsUserId(k_adele), n);
        REQUIRE_FALSE(sent);
        CHECK(sent.error().code == msteams::ErrorCode::permission_denied);
        CHECK_THAT(sent.error().message, Catch::Contains("is not authorized to generate custom text notifications"));
    }
    CHECK(Steady::now() - start > 1200ms);  // (12 − a burst of 4.9) at 4.9 a second ≈ 1.45 s
    CHECK(careful.counters().throttled == 0);
    CHECK(careful.counters().activity_notifications == static_cast<std::uint64_t>(burst));
    CHECK(emu.count(route, 429) == 0);
    CHECK(emu.count(route, 403) == burst);
}

TEST_CASE("graph: a bulk activity notification reaches up to 100 users, 2 requests a second, with a lasting token",
          "[graph]") {
    EmulatorOptions options;
    options.throttle = true;
    Emulator emu(options);
    json const throttle{{"enabled", true}, {"limits", {{"activityRecipients.app", {{"count", 2}, {"perSeconds", 1}}}}}};
    emu.control_ok("PUT", "/throttle", throttle);
    Entra entra(emu.http, emu.app());
    auto app = entra.app_token_valid_for(46min);
    REQUIRE(app);
    msteams::graph::ActivityNotification n;
    n.topic = "Town Square";
    n.web_url = "https://teams.microsoft.com/l/entity/x/mattermost";
    n.activity_type = "channelMention";
    n.preview = "@channel hello";
    n.template_parameters = {{"author", "Alice"}};
    n.chain_id = 9;
    std::string const route = "POST /v1.0/teamwork/sendActivityNotificationToRecipients";
    std::vector<msteams::TeamsUserId> const users{msteams::TeamsUserId(k_adele), msteams::TeamsUserId(k_bianca),
                                                  msteams::TeamsUserId(k_cameron)};
    {
        // A first request opens the connection: its handshake would delay it at Graph, so that the next two arrive
        // closer together than they left.
        Client warm(emu.http, emu.graph_url(), unlimited(20s));
        REQUIRE(warm.send_activity_notification_to_recipients(app->access_token, users, n));
    }
    emu.control_ok("PUT", "/throttle", throttle);  // full buckets again
    emu.control_ok("DELETE", "/counters");
    Limits limits;  // the defaults: feed_bulk_per_second 2, as the bridge runs with a 2 % margin
    limits.feed_bulk_per_second = 0.98 * limits.feed_bulk_per_second;
    limits.deadline = 20s;
    Client client(emu.http, emu.graph_url(), limits);
    auto const start = Steady::now();
    for (int i = 0; i < 5; ++i) {
        auto const sent = client.send_activity_notification_to_recipients(app->access_token, users, n);
        REQUIRE(sent);
    }
    CHECK(Steady::now() - start > 1200ms);  // (5 − a burst of 1.96) at 1.96 a second ≈ 1.55 s
    CHECK(client.counters().activity_bulk_notifications == 5);
    CHECK(emu.count(route, 202) == 5);
    CHECK(emu.count(route, 429) == 0);

    // 1 to 100 recipients, refused before anything is sent.
    auto const none = client.send_activity_notification_to_recipients(app->access_token, {}, n);
    REQUIRE_FALSE(none);
    CHECK(none.error().code == msteams::ErrorCode::invalid_argument);
    std::vector<msteams::TeamsUserId> const crowd(101, msteams::TeamsUserId(k_adele));
    auto const too_many = client.send_activity_notification_to_recipients(app->access_token, crowd, n);
    REQUIRE_FALSE(too_many);
    CHECK(too_many.error().code == msteams::ErrorCode::invalid_argument);
    CHECK(emu.count(route, 400) == 0);

    // Microsoft wants a token valid 45 more minutes: a 10-minute one is refused (412), and app_token_valid_for asks
    // Entra for a new one where app_token() keeps the cached one.
    emu.control_ok("PUT", "/lifetimes", json{{"accessTokenSeconds", 600}});
    Entra brief(emu.http, emu.app());
    auto const short_lived = brief.app_token();
    REQUIRE(short_lived);
    auto const refused = client.send_activity_notification_to_recipients(short_lived->access_token, users, n);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().http_status == 412);
    emu.control_ok("PUT", "/lifetimes", json{{"accessTokenSeconds", 3600}});
    CHECK(brief.app_token().value().access_token == short_lived->access_token);
    auto const lasting = brief.app_token_valid_for(msteams::graph::k_recipients_token_validity + 1min);
    REQUIRE(lasting);
    CHECK(lasting->access_token != short_lived->access_token);
    CHECK(client.send_activity_notification_to_recipients(lasting->access_token, users, n).has_value());
}

// --- against a fake Graph host (answers the emulator never gives) ------------------------------------------------

TEST_CASE("graph: malformed Graph answers become clear errors", "[graph]") {
    FakeGraph f;
    std::string body;
    TlsServer server(f.leaf, [&](Seen const&) { return json_reply(200, body); });
    Client client(f.http, server.url(""), unlimited());
    std::string const token = "SECRET-token-value";

    struct Case {
        std::string body;
        std::string reason;
    };
    std::vector<Case> const messages = {
        {"<html>oops</html>", "without a JSON object"},
        {"[]", "without a JSON object"},
        {R"({"id":5})", "chatMessage.id is not a string"},
        {R"({"id":"m1"})", "chatMessage.id is not an id of the expected shape"},
        {R"({"id":"1","chatId":"chat/../1"})", "chatMessage.chatId is not an id of the expected shape"},
        {R"({"id":"1","lastModifiedDateTime":17})", "lastModifiedDateTime is not a string"},
    };
    for (auto const& c : messages) {
        body = c.body;
        INFO(c.body);
        auto r = client.get_message(token, msteams::TeamsThreadId("19:x@thread.v2"), msteams::TeamsMessageId("1"));
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::internal);
        CHECK(contains(r.error().message, c.reason));
        CHECK_FALSE(contains(r.error().message, token));
    }
    body = R"({"value":{}})";
    auto list = client.list_messages_since(token, msteams::TeamsThreadId("19:x@thread.v2"), 0, 10);
    REQUIRE_FALSE(list);
    CHECK(contains(list.error().message, "no value array"));
    body = R"({"id":"a1b2c3d4-0099-4000-8000-0000000000ff","accountEnabled":"yes"})";
    auto user = client.get_user(token, "u");
    REQUIRE_FALSE(user);
    CHECK(contains(user.error().message, "accountEnabled is not a boolean"));
    body = R"({"id":"19:c@thread.v2","members":[{"userId":"a1b2c3d4-0099-4000-8000-0000000000ff","roles":"owner"}]})";
    auto chat = client.get_chat(token, msteams::TeamsThreadId("c"), true);
    REQUIRE_FALSE(chat);
    CHECK(contains(chat.error().message, "roles is not an array"));
    body = R"({"value":[{"id":"s","expirationDateTime":"soon"}]})";
    auto subs = client.list_subscriptions(token);
    REQUIRE_FALSE(subs);
    CHECK(contains(subs.error().message, "expirationDateTime is not an ISO-8601 date-time"));

    // A next page on another host is refused: the token never leaves Graph.
    body = R"({"value":[],"@odata.nextLink":"https://evil.example/v1.0/chats/x/messages?$skiptoken=1"})";
    auto const before = server.requests().size();
    auto next = client.list_messages_since(token, msteams::TeamsThreadId("19:x@thread.v2"), 0, 10);
    REQUIRE_FALSE(next);
    CHECK(contains(next.error().message, "outside"));
    CHECK(server.requests().size() == before + 1);

    // The request itself: percent-encoded ids, the documented list query.
    body = R"({"value":[]})";
    REQUIRE(client.list_messages_since(token, msteams::TeamsThreadId("19:a_b@unq.gbl.spaces"), 1616965872395, 10));
    auto const seen = server.requests().back();
    CHECK(seen.target ==
          "/v1.0/chats/19%3Aa_b%40unq.gbl.spaces/messages?$top=50&$orderby=lastModifiedDateTime%20desc"
          "&$filter=lastModifiedDateTime%20gt%202021-03-28T21%3A11%3A12.395Z");
    CHECK(seen.header("Authorization") == "Bearer " + token);
}

TEST_CASE("graph: 5xx are retried with backoff, 4xx are not", "[graph]") {
    FakeGraph f;
    std::atomic<int> calls{0};
    int failures = 2;
    int status = 500;
    TlsServer server(f.leaf, [&](Seen const&) {
        if (calls++ < failures) {
            return json_reply(status, R"({"error":{"code":"InternalServerError","message":"boom"}})");
        }
        return json_reply(200, R"({"id":"a1b2c3d4-0099-4000-8000-0000000000ff","displayName":"U"})");
    });
    SECTION("two 500s, then success") {
        Client client(f.http, server.url(""), unlimited(10s));
        auto u = client.get_user("t", "u");
        REQUIRE(u);
        CHECK(u->display_name == "U");
        CHECK(client.counters().retries == 2);
        CHECK(client.counters().requests == 3);
    }
    SECTION("503 without Retry-After until the deadline") {
        failures = 1000;
        status = 503;
        Client client(f.http, server.url(""), unlimited(400ms));
        auto u = client.get_user("t", "u");
        REQUIRE_FALSE(u);
        CHECK(u.error().code == ErrorCode::unavailable);
        CHECK(u.error().retry_after >= 1s);
        CHECK(client.counters().requests >= 2);
        CHECK(client.counters().requests <= 4);
    }
    SECTION("a 400 is returned at once") {
        status = 400;
        Client client(f.http, server.url(""), unlimited(10s));
        auto u = client.get_user("t", "u");
        REQUIRE_FALSE(u);
        CHECK(u.error().code == ErrorCode::invalid_argument);
        CHECK(contains(u.error().message, "boom"));
        CHECK(calls == 1);
    }
}

TEST_CASE("graph: a message POST that may have been applied is never sent again — its outcome is unknown", "[graph]") {
    FakeGraph f;
    std::atomic<int> posts{0};
    Reply answer;  // what a POST gets, after Graph applied it (counted in `posts`)
    TlsServer server(f.leaf, [&](Seen const& s) {
        if (s.method == "POST") {
            ++posts;
            return answer;
        }
        return json_reply(200, R"({"id":"a1b2c3d4-0099-4000-8000-0000000000ff","displayName":"U"})");
    });
    Limits limits = unlimited(10s);
    limits.request_timeout = 1s;
    Client client(f.http, server.url(""), limits);
    NewMessage message;
    message.html = "<p>once</p>";

    auto const unknown = [&](msteams::Result<msteams::graph::ChatMessage> const& r) {
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::unavailable);
        CHECK(r.error().outcome_unknown);
        CHECK(r.error().retry_after >= 1s);
        // Graph saw it once. (A try that timed out before sending anything, on a loaded machine, may be repeated.)
        CHECK(posts == 1);
        CHECK(server.requests().size() == 1);
        CHECK(client.counters().message_posts == 1);
    };
    SECTION("applied, answered after the client's timeout") {
        answer.action = msteams::test::Action::hang;
        unknown(client.send_message("t", msteams::TeamsThreadId("19:c@thread.v2"), message));
    }
    SECTION("applied, then the connection is lost before the answer") {
        answer.action = msteams::test::Action::drop;
        unknown(client.send_message("t", msteams::TeamsThreadId("19:c@thread.v2"), message));
    }
    SECTION("a 5xx of unknown effect") {
        for (int status : {500, 502, 503, 504}) {
            INFO(status);
            posts = 0;
            Client fresh(f.http, server.url(""), limits);
            answer = json_reply(status, R"({"error":{"code":"InternalServerError","message":"boom"}})");
            auto r = fresh.send_message("t", msteams::TeamsThreadId("19:c@thread.v2"), message);
            REQUIRE_FALSE(r);
            CHECK(r.error().outcome_unknown);
            CHECK(posts == 1);
        }
    }
    SECTION("a throttled POST was not applied and is sent again after Retry-After") {
        std::atomic<int> tries{0};
        TlsServer throttled(f.leaf, [&](Seen const&) {
            if (tries++ == 0) {
                auto r = json_reply(429, R"({"error":{"code":"TooManyRequests","message":"slow down"}})");
                r.headers.emplace_back("Retry-After", "1");
                return r;
            }
            return json_reply(201, R"({"id":"1700000000001","body":{"contentType":"html","content":"<p>once</p>"}})");
        });
        Client c(f.http, throttled.url(""), limits);
        auto r = c.send_message("t", msteams::TeamsThreadId("19:c@thread.v2"), message);
        REQUIRE(r);
        CHECK(r->id == "1700000000001");
        CHECK(tries == 2);
        CHECK(c.counters().retries >= 1);
    }
    SECTION("a GET whose answer is late is simply asked again") {
        answer.action = msteams::test::Action::hang;
        std::atomic<int> gets{0};
        TlsServer slow_once(f.leaf, [&](Seen const&) {
            if (gets++ == 0) {
                Reply r;
                r.action = msteams::test::Action::hang;
                return r;
            }
            return json_reply(200, R"({"id":"a1b2c3d4-0099-4000-8000-0000000000ff","displayName":"U"})");
        });
        Client c(f.http, slow_once.url(""), limits);
        auto u = c.get_user("t", "u");
        REQUIRE(u);
        CHECK(gets == 2);
        CHECK(c.counters().retries >= 1);
    }
}

TEST_CASE("graph: a POST that never reached Graph is sent again", "[graph]") {
    FakeGraph f;
    // Accepts connections and never completes TLS: nothing was sent, so trying again is safe.
    TlsServer silent(f.leaf, [](Seen const&) { return json_reply(201, "{}"); }, false);
    Limits limits = unlimited(2s);
    limits.request_timeout = 200ms;
    Client client(f.http, silent.url(""), limits);
    NewMessage message;
    message.html = "<p>x</p>";
    auto r = client.send_message("t", msteams::TeamsThreadId("19:c@thread.v2"), message);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::unavailable);
    CHECK_FALSE(r.error().outcome_unknown);
    CHECK(client.counters().requests >= 2);
    CHECK(silent.requests().empty());
}

TEST_CASE("graph: stop() ends a wait for a rate-limiter turn at once, and every later one", "[graph]") {
    Emulator emu;
    Limits limits = unlimited(std::chrono::milliseconds(4'000'000));
    limits.chat_reads_per_second = 0.001;  // the next turn of a chat is 1,000 s away
    Client client(emu.http, emu.graph_url(), limits);
    auto const first = client.get_message("not-a-token", msteams::TeamsThreadId("19:chat@thread.v2"),
                                          msteams::TeamsMessageId("1"));  // the burst's one token
    CHECK(first.error().code == ErrorCode::unauthenticated);

    msteams::Result<msteams::graph::ChatMessage> waiting = msteams::fail(ErrorCode::internal, "not run");
    std::thread worker([&] {
        waiting = client.get_message("not-a-token", msteams::TeamsThreadId("19:chat@thread.v2"),
                                     msteams::TeamsMessageId("2"));
    });
    client.stop();
    worker.join();  // would take 1,000 s without stop()
    REQUIRE_FALSE(waiting.has_value());
    CHECK(waiting.error().code == ErrorCode::unavailable);
    CHECK_THAT(waiting.error().message, Catch::Contains("stopping"));
    auto const later =
        client.get_message("not-a-token", msteams::TeamsThreadId("19:chat@thread.v2"), msteams::TeamsMessageId("3"));
    CHECK_THAT(later.error().message, Catch::Contains("stopping"));
}

TEST_CASE("graph: retries take their turn under the rate budget", "[graph]") {
    FakeGraph f;
    std::atomic<int> calls{0};
    TlsServer server(f.leaf, [&](Seen const&) {
        if (calls++ < 2) {
            return json_reply(500, R"({"error":{"code":"InternalServerError","message":"boom"}})");
        }
        return json_reply(200, R"({"id":"1"})");
    });
    Limits limits = unlimited(10s);
    limits.chat_reads_per_second = 1;  // a burst of one: each retry waits for a new turn
    Client client(f.http, server.url(""), limits);
    auto m = client.get_message("t", msteams::TeamsThreadId("19:c@thread.v2"), msteams::TeamsMessageId("1"));
    REQUIRE(m);
    auto const c = client.counters();
    CHECK(c.requests == 3);
    CHECK(c.retries == 2);
    CHECK(c.message_gets == 1);
    // The backoffs (at most 250 + 500 ms) are shorter than the budget's second per request: the retries waited.
    CHECK(c.waited_ms > 0);
}

TEST_CASE("graph: download redirects drop the token, stay on https and stop after three", "[graph]") {
    FakeGraph f;
    std::string location;
    int hops = 0;
    TlsServer* self = nullptr;
    TlsServer server(f.leaf, [&](Seen const& s) {
        Reply r;
        if (s.target.rfind("/dl/", 0) == 0 && hops-- <= 0) {
            r.body = "file-bytes";
            return r;
        }
        r.status = 302;
        r.headers = {{"Location", location.empty() ? self->url("/dl/file") : location}};
        return r;
    });
    self = &server;
    Client client(f.http, server.url(""), unlimited());
    std::string const token = "SECRET-token";

    SECTION("followed without Authorization") {
        auto bytes = client.download_shared(token, "https://contoso.sharepoint.com/a b.txt");
        REQUIRE(bytes);
        CHECK(*bytes == "file-bytes");
        auto const seen = server.requests();
        REQUIRE(seen.size() == 2);
        CHECK(seen[0].target ==
              "/v1.0/shares/" + detail::share_token("https://contoso.sharepoint.com/a b.txt") + "/driveItem/content");
        CHECK(seen[0].header("Authorization") == "Bearer " + token);
        CHECK(seen[1].target == "/dl/file");
        CHECK_FALSE(seen[1].has_header("Authorization"));
    }
    SECTION("not to plain http") {
        location = "http://localhost:1/dl/file";
        auto bytes = client.download_shared(token, "https://contoso.sharepoint.com/x");
        REQUIRE_FALSE(bytes);
        CHECK(contains(bytes.error().message, "non-HTTPS"));
        CHECK(server.requests().size() == 1);
    }
    SECTION("at most three redirects") {
        hops = 10;
        auto bytes = client.get_hosted_content(token, msteams::TeamsThreadId("19:c@thread.v2"),
                                               msteams::TeamsMessageId("1"), "h");
        REQUIRE_FALSE(bytes);
        CHECK(contains(bytes.error().message, "more than 3 redirects"));
        CHECK(server.requests().size() == 4);
        CHECK(server.requests()[0].target == "/v1.0/chats/19%3Ac%40thread.v2/messages/1/hostedContents/h/$value");
    }
}
