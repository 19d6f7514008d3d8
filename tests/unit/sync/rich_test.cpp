// Rich change notifications end to end inside the core, without network or PostgreSQL: the certificates, the
// receiver's checks of a batch's validationTokens and of the chat, and the inbound pipeline applying the messages the
// notifications carry with no Graph read.
#include "http/tls_server.hpp"  // first: it includes <utility> before Asio

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test_ids.hpp"
#include "common/clock.hpp"
#include "crypto/crypto.hpp"
#include "crypto/rich.hpp"
#include "fakes/pipeline_world.hpp"
#include "graph/detail/support.hpp"
#include "graph/notification_tokens.hpp"
#include "sync/certificates.hpp"
#include "sync/inbound.hpp"
#include "sync/receiver.hpp"

using msteams::test::one_on_one;
using msteams::test::PipelineWorld;
using msteams::test::Reply;
using msteams::test::Seen;
using msteams::test::teams_id;
using msteams::test::TestPki;
using msteams::test::TlsServer;
using nlohmann::json;

namespace {

std::string const k_alice = "alice00000000000000000000a";  // Mattermost, connected
constexpr char const* k_tenant = "6e7a9c1b-0f3d-4c2a-9b8e-1d2c3b4a5f60";
constexpr char const* k_client = "0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a";
constexpr char const* k_secret = "webhook-secret-0123456789";

using msteams::graph::detail::format_time;  // Graph's own shape of a time

// A chatMessage as Graph serialises it (what a rich notification's content decrypts to).
json chat_message(msteams::TeamsThreadId const& chat, std::string const& id, msteams::TeamsUserId const& from,
                  std::string const& html, std::int64_t created, std::int64_t modified, bool deleted = false) {
    json m{{"id", id},
           {"chatId", chat.str()},
           {"messageType", "message"},
           {"createdDateTime", format_time(created)},
           {"lastModifiedDateTime", format_time(modified)},
           {"from", {{"user", {{"id", from.str()}, {"displayName", "Bob"}}}}},
           {"body", {{"contentType", "html"}, {"content", html}}},
           {"attachments", json::array()},
           {"mentions", json::array()},
           {"reactions", json::array()}};
    if (deleted) {
        m["deletedDateTime"] = format_time(modified);
    }
    if (modified != created) {
        m["lastEditedDateTime"] = format_time(modified);
    }
    return m;
}

// The inbox item a rich notification becomes: its encryptedContent made for `certificate` as Graph makes it.
std::string encrypted(std::string const& certificate_b64, std::string const& certificate_id, json const& message) {
    auto const der = msteams::crypto::base64_decode(certificate_b64);
    REQUIRE(der.has_value());
    auto const c = msteams::crypto::encrypt_rich_content(*der, message.dump());
    return json{{"data", c.data_b64},
                {"dataKey", c.data_key_b64},
                {"dataSignature", c.data_signature_b64},
                {"encryptionCertificateId", certificate_id}}
        .dump();
}

struct RichWorld : PipelineWorld {
    msteams::TeamsUserId alice_teams{teams_id('a')};
    msteams::TeamsUserId bob_teams{teams_id('b')};  // in Teams only
    msteams::TeamsThreadId chat{one_on_one(teams_id('a'), teams_id('b'))};
    std::shared_ptr<msteams::sync::Certificates> certificates = std::make_shared<msteams::sync::Certificates>(
        store.repos.certificates, std::make_shared<msteams::crypto::Sealer const>("encryption-key"));
    msteams::sync::Certificates::Current certificate = certificates->current().value();
    std::unique_ptr<msteams::sync::Inbound> inbound;
    std::int64_t t0 = msteams::now_ms() - 60'000;

    explicit RichWorld(std::int64_t hold_ms = 0) {
        connect(k_alice, "alice", alice_teams);
        teams->add_chat(chat, "oneOnOne", {alice_teams, bob_teams});
        msteams::sync::InboundSettings settings;
        settings.rich_hold_ms = hold_ms;
        settings.bot_user_id = msteams::MmUserId("bot0000000000000000000000b");
        settings.certificates = certificates;
        inbound =
            std::make_unique<msteams::sync::Inbound>(settings, api, store.repos, connections, teams,
                                                     std::make_shared<msteams::test::FakeAppTokens>(), people, stats);
    }
    void heard(json const& message, msteams::store::Change change = msteams::store::Change::created,
               std::string content = {}) {
        if (content.empty()) {
            content = encrypted(certificate.certificate, certificate.id, message);
        }
        msteams::store::InboxItem item{0,
                                       msteams::now_ms(),
                                       msteams::SubscriptionId("sub"),
                                       change,
                                       chat,
                                       msteams::TeamsMessageId(message["id"].get<std::string>()),
                                       0};
        item.content = std::move(content);
        REQUIRE(store.repos.inbox->enqueue({item}).has_value());
    }
    int drain() {
        return msteams::test::run_until_idle([this] { return inbound->run_once(); });
    }
    [[nodiscard]] std::vector<std::string> messages() {
        auto const p = store.repos.portals->by_thread(chat);
        REQUIRE(p.has_value());
        if (!*p) {
            return {};
        }
        std::vector<std::string> out;
        for (auto const& post : api->posts_in((*p)->mm_channel_id)) {
            out.push_back(post.delete_at ? "(deleted)" : post.message);
        }
        return out;
    }
    [[nodiscard]] int graph_reads() const {
        return teams->calls("get_message") + teams->calls("list_oldest_messages_since") + teams->calls("get_chat");
    }
    [[nodiscard]] std::uint64_t refused(std::string const& stage, std::string const& reason) const {
        for (auto const& s : stats->rich_refused.snapshot()) {
            if (s.values == std::vector<std::string>{stage, reason}) {
                return s.value;
            }
        }
        return 0;
    }
};

}  // namespace

TEST_CASE("rich: a notification's own message is posted, edited and deleted with no Graph read", "[sync][rich]") {
    RichWorld w;
    w.heard(chat_message(w.chat, "1001", w.bob_teams, "<p>hello <b>Alice</b></p>", w.t0, w.t0));
    w.heard(chat_message(w.chat, "1002", w.bob_teams, "<p>second</p>", w.t0 + 10, w.t0 + 10));
    w.drain();
    CHECK(w.messages() == std::vector<std::string>{"hello **Alice**", "second"});
    CHECK(w.graph_reads() == 0);
    CHECK(w.stats->rich_applied == 2);

    // An edit, then the older version again (Graph does not keep the order): the newer text stays.
    w.heard(chat_message(w.chat, "1001", w.bob_teams, "<p>hello again</p>", w.t0, w.t0 + 5'000),
            msteams::store::Change::updated);
    w.drain();
    w.heard(chat_message(w.chat, "1001", w.bob_teams, "<p>hello <b>Alice</b></p>", w.t0, w.t0),
            msteams::store::Change::updated);
    w.drain();
    CHECK(w.messages() == std::vector<std::string>{"hello again", "second"});

    // The same message delivered twice in one batch (two subscriptions' copies): one post, once.
    w.heard(chat_message(w.chat, "1003", w.bob_teams, "<p>third</p>", w.t0 + 20, w.t0 + 20));
    w.heard(chat_message(w.chat, "1003", w.bob_teams, "<p>third</p>", w.t0 + 20, w.t0 + 20));
    w.drain();
    CHECK(w.messages() == std::vector<std::string>{"hello again", "second", "third"});

    w.heard(chat_message(w.chat, "1002", w.bob_teams, "", w.t0 + 10, w.t0 + 9'000, /*deleted=*/true),
            msteams::store::Change::deleted);
    w.drain();
    CHECK(w.messages() == std::vector<std::string>{"hello again", "(deleted)", "third"});
    CHECK(w.graph_reads() == 0);
    CHECK(w.store.repos.inbox->size().value() == 0);

    // The chat counts as active for the periodic read forward (its cursor stays where reading stopped).
    CHECK(w.store.repos.inbox->enqueue_reconcile(w.t0 - 1, msteams::now_ms()).value() == 1);
}

TEST_CASE("rich: messages whose notifications came out of order are posted in the order they were written",
          "[sync][rich]") {
    RichWorld w(/*hold_ms=*/1'000);
    // The second message's notification comes first; the first's a moment later (Graph keeps no order).
    w.heard(chat_message(w.chat, "3002", w.bob_teams, "<p>second</p>", w.t0 + 10, w.t0 + 10));
    w.drain();
    CHECK(w.messages().empty());  // held: an earlier message's notification may be on its way
    w.heard(chat_message(w.chat, "3001", w.bob_teams, "<p>first</p>", w.t0, w.t0));
    // Once the oldest has waited the hold, everything that came meanwhile is applied together, in order.
    w.store.with([](auto& t) {
        for (auto& q : t.inbox) {
            q.item.received_at -= 1'500;
        }
    });
    w.make_due();
    w.drain();
    CHECK(w.messages() == std::vector<std::string>{"first", "second"});
    CHECK(w.graph_reads() == 0);
    // A held item's wait is no failed attempt.
    CHECK(w.stats->failures == 0);
}

TEST_CASE("rich: tampered content, an unknown certificate or another message's content is refused, nothing posted",
          "[sync][rich]") {
    RichWorld w;
    auto const message = chat_message(w.chat, "2001", w.bob_teams, "<p>secret plans</p>", w.t0, w.t0);
    auto const good = json::parse(encrypted(w.certificate.certificate, w.certificate.id, message));
    auto const flip = [](std::string b64) {
        auto raw = msteams::crypto::base64_decode(b64).value();
        raw[raw.size() / 2] = static_cast<char>(raw[raw.size() / 2] ^ 0x01);
        return msteams::crypto::base64_encode(raw);
    };
    auto tampered_data = good;
    tampered_data["data"] = flip(good["data"]);
    auto tampered_key = good;
    tampered_key["dataKey"] = flip(good["dataKey"]);
    auto tampered_signature = good;
    tampered_signature["dataSignature"] = flip(good["dataSignature"]);
    auto unknown_certificate = good;
    unknown_certificate["encryptionCertificateId"] = "not-ours";
    auto other_key = msteams::crypto::make_encryption_certificate("someone else", 0, 4'000'000'000);
    auto const other =
        json::parse(encrypted(msteams::crypto::base64_encode(other_key.certificate_der), w.certificate.id, message));

    for (auto const& content : {tampered_data, tampered_key, tampered_signature, unknown_certificate, other}) {
        w.heard(message, msteams::store::Change::created, content.dump());
    }
    // Content that decrypts but names another message than the notification does (a replayed item).
    auto const replayed = encrypted(w.certificate.certificate, w.certificate.id,
                                    chat_message(w.chat, "2002", w.bob_teams, "<p>old</p>", w.t0, w.t0));
    w.heard(message, msteams::store::Change::created, replayed);
    w.drain();

    CHECK(w.messages().empty());
    CHECK(w.graph_reads() == 0);
    CHECK(w.refused("worker", "signature") == 2);  // the data or the signature changed
    CHECK(w.refused("worker", "key") == 2);        // the wrapped key changed, or wrapped for another certificate
    CHECK(w.refused("worker", "certificate") == 1);
    CHECK(w.refused("worker", "content") == 1);
    CHECK(w.stats->rich_applied == 0);
    CHECK(w.store.repos.inbox->size().value() == 0);

    // The genuine notification still works.
    w.heard(message);
    w.drain();
    CHECK(w.messages() == std::vector<std::string>{"secret plans"});
}

TEST_CASE("rich: a batch that also needs a read reads only what was not heard, and posts both in order",
          "[sync][rich]") {
    RichWorld w;
    auto const read = w.teams->post(w.chat, w.bob_teams, "<p>read from Graph</p>");
    msteams::store::InboxItem basic{
        0, msteams::now_ms(), msteams::SubscriptionId("sub"), msteams::store::Change::created, w.chat, read.id, 0};
    REQUIRE(w.store.repos.inbox->enqueue({basic}).has_value());
    // Heard only (Graph's copy is not in this fake Teams: reading it would find nothing).
    w.heard(chat_message(w.chat, "9000000000001", w.bob_teams, "<p>heard</p>", read.created_at + 1'000,
                         read.created_at + 1'000));
    w.drain();
    CHECK(w.messages() == std::vector<std::string>{"read from Graph", "heard"});
    CHECK(w.graph_reads() == 1);  // the chat is new: one listing from a little before its notified message
}

TEST_CASE("certificates: reused until a week before they end, then a new one, old keys kept a day past expiry",
          "[sync][rich]") {
    msteams::test::MemoryStore store;
    auto const sealer = std::make_shared<msteams::crypto::Sealer const>("encryption-key");
    auto clock = std::make_shared<std::atomic<std::int64_t>>(1'700'000'000'000);
    msteams::sync::CertificateSettings settings;
    settings.clock_ms = [clock] { return clock->load(); };
    msteams::sync::Certificates leader(store.repos.certificates, sealer, settings);
    auto const first = leader.current().value();
    CHECK(leader.current().value().id == first.id);
    *clock += 22LL * 24 * 3600 * 1000;  // 8 days left
    CHECK(leader.current().value().id == first.id);
    *clock += 2LL * 24 * 3600 * 1000;  // 6 days left: rotated
    auto const second = leader.current().value();
    CHECK(second.id != first.id);
    CHECK(store.repos.certificates->list().value().size() == 2);

    // Another node opens both keys from the database; the sealed key does not open with another encryption key.
    msteams::sync::Certificates follower(store.repos.certificates, sealer, settings);
    auto const key = follower.private_key(first.id);
    REQUIRE(key.has_value());
    // The key opened on this node decrypts what was encrypted for the leader's certificate.
    auto const der = msteams::crypto::base64_decode(first.certificate).value();
    auto const sealed = msteams::crypto::encrypt_rich_content(der, "for the follower");
    auto const opened =
        msteams::crypto::decrypt_rich_content(**key, sealed.data_b64, sealed.data_key_b64, sealed.data_signature_b64);
    CHECK(opened.ok);
    CHECK(opened.plaintext == "for the follower");
    CHECK(follower.private_key("unknown").error().code == msteams::ErrorCode::not_found);
    msteams::sync::Certificates wrong(store.repos.certificates,
                                      std::make_shared<msteams::crypto::Sealer const>("another key"), settings);
    CHECK(wrong.private_key(first.id).error().code == msteams::ErrorCode::permission_denied);
    // Stored sealed, never in the clear.
    auto const rows = store.repos.certificates->list().value();
    for (auto const& row : rows) {
        CHECK(row.private_key_sealed.find("PRIVATE KEY") == std::string::npos);
    }

    *clock += 6LL * 24 * 3600 * 1000;  // the first expired now; kept a day longer (Graph retries for hours)
    CHECK(leader.prune().value() == 0);
    *clock += 25LL * 3600 * 1000;
    CHECK(leader.prune().value() == 1);
    CHECK(leader.private_key(first.id).error().code == msteams::ErrorCode::not_found);
    CHECK(leader.private_key(second.id).has_value());
}

namespace {

// Microsoft's published keys, served over HTTPS; validation tokens signed with them.
struct TokenWorld {
    TestPki pki;
    msteams::crypto::EncryptionCertificate signer =
        msteams::crypto::make_encryption_certificate("signer", 0, 4'000'000'000);
    msteams::crypto::EncryptionCertificate forger =
        msteams::crypto::make_encryption_certificate("forger", 0, 4'000'000'000);
    std::atomic<int> key_reads{0};
    std::atomic<bool> keys_down{false};
    TlsServer login{pki.issue("localhost", "DNS:localhost,IP:127.0.0.1"), [this](Seen const& s) {
                        Reply r;
                        if (s.target != "/common/discovery/v2.0/keys" || keys_down) {
                            r.status = keys_down ? 503 : 404;
                            return r;
                        }
                        ++key_reads;
                        r.headers = {{"Content-Type", "application/json"}};
                        r.body = R"({"keys":[)" + msteams::crypto::public_jwk(signer.private_key_pem, "key-1") + "]}";
                        return r;
                    }};
    std::shared_ptr<msteams::http::Client> http =
        std::make_shared<msteams::http::Client>(msteams::http::TlsOptions{pki.ca_pem(), false}, 2);
    std::shared_ptr<msteams::graph::NotificationTokens> tokens = [this] {
        msteams::graph::NotificationTokenSettings s;
        s.login_base = login.url("", "localhost");
        s.client_id = k_client;
        s.tenant_id = k_tenant;
        return std::make_shared<msteams::graph::NotificationTokens>(http, s);
    }();

    [[nodiscard]] json claims() const {
        auto const now = msteams::now_ms() / 1000;
        return json{{"aud", k_client},  {"iss", std::string("https://sts.windows.net/") + k_tenant + "/"},
                    {"tid", k_tenant},  {"appid", msteams::graph::k_notification_publisher},
                    {"iat", now},       {"nbf", now},
                    {"exp", now + 3600}};
    }
    [[nodiscard]] std::string token(json const& claims, bool forged = false) const {
        return msteams::crypto::sign_rs256_jwt(claims.dump(), forged ? forger.private_key_pem : signer.private_key_pem,
                                               "key-1");
    }
};

}  // namespace

TEST_CASE("notification tokens: only Graph's current tokens for this app and tenant are trusted", "[sync][rich]") {
    TokenWorld w;
    using msteams::graph::TokenRefusal;
    auto const good = w.token(w.claims());
    CHECK(w.tokens->check({good}) == TokenRefusal::none);
    CHECK(w.tokens->check({good}) == TokenRefusal::none);
    CHECK(w.key_reads == 1);  // the key set is read once, a known token is not checked again

    CHECK(w.tokens->check({}) == TokenRefusal::missing);
    CHECK(w.tokens->check({w.token(w.claims(), /*forged=*/true)}) == TokenRefusal::signature);
    CHECK(w.tokens->check({good, w.token(w.claims(), true)}) == TokenRefusal::signature);
    CHECK(w.tokens->check({"not.a.token"}) == TokenRefusal::malformed);
    auto expired = w.claims();
    expired["exp"] = msteams::now_ms() / 1000 - 3600;
    CHECK(w.tokens->check({w.token(expired)}) == TokenRefusal::expired);
    auto early = w.claims();
    early["nbf"] = msteams::now_ms() / 1000 + 3600;
    CHECK(w.tokens->check({w.token(early)}) == TokenRefusal::expired);
    auto other_tenant = w.claims();
    other_tenant["tid"] = "11111111-2222-3333-4444-555555555555";
    other_tenant["iss"] = "https://sts.windows.net/11111111-2222-3333-4444-555555555555/";
    CHECK(w.tokens->check({w.token(other_tenant)}) == TokenRefusal::claims);
    auto not_graph = w.claims();
    not_graph["appid"] = k_client;
    CHECK(w.tokens->check({w.token(not_graph)}) == TokenRefusal::claims);
    // A token for another app proves nothing for ours; with one of ours beside it, the batch is trusted.
    auto other_app = w.claims();
    other_app["aud"] = "99999999-0000-0000-0000-000000000000";
    CHECK(w.tokens->check({w.token(other_app)}) == TokenRefusal::claims);
    CHECK(w.tokens->check({w.token(other_app), good}) == TokenRefusal::none);
}

TEST_CASE("notification tokens: keys that cannot be read ask Graph to send the batch again", "[sync][rich]") {
    TokenWorld w;
    w.keys_down = true;
    CHECK(w.tokens->check({w.token(w.claims())}) == msteams::graph::TokenRefusal::keys_unavailable);
    w.keys_down = false;
    CHECK(w.tokens->check({w.token(w.claims())}) == msteams::graph::TokenRefusal::none);
}

TEST_CASE("receiver: a rich batch is kept encrypted for bridged chats, dropped unread for others, refused if forged",
          "[sync][rich]") {
    TokenWorld tw;
    PipelineWorld w;
    auto const alice_teams = msteams::TeamsUserId(teams_id('a'));
    w.connect(k_alice, "alice", alice_teams);
    REQUIRE(w.store.repos.subscriptions->put({msteams::SubscriptionId("sub-1"), msteams::store::SubscriptionKind::chats,
                                              "chats/getAllMessages", "", 1, 1,
                                              msteams::store::SubscriptionState::active, "", "cert-1"}));
    auto const bridged = one_on_one(teams_id('a'), teams_id('b'));
    auto const unbridged = one_on_one(teams_id('c'), teams_id('d'));
    std::string const known_group = "19:known-group@thread.v2";
    std::string const new_group = "19:new-group@thread.v2";
    REQUIRE(w.store.repos.chats->put({msteams::TeamsThreadId(known_group),
                                      {msteams::TeamsUserId(teams_id('c')), msteams::TeamsUserId(teams_id('d'))},
                                      "",
                                      msteams::now_ms()}));
    int woken = 0;
    msteams::sync::Receiver receiver(
        w.store.repos, k_secret, w.stats, [&] { ++woken; }, {}, k_tenant,
        [&](auto const& tokens) { return tw.tokens->check(tokens); }, 1000);
    auto const item = [](std::string const& chat, std::string const& id) {
        return json{{"subscriptionId", "sub-1"},
                    {"clientState", k_secret},
                    {"changeType", "created"},
                    {"tenantId", k_tenant},
                    {"resource", "chats('" + chat + "')/messages('" + id + "')"},
                    {"resourceData", {{"id", id}}},
                    {"encryptedContent",
                     {{"data", "ZGF0YQ=="},
                      {"dataKey", "a2V5"},
                      {"dataSignature", "c2ln"},
                      {"encryptionCertificateId", "cert-1"},
                      {"encryptionCertificateThumbprint", "AB"}}}};
    };
    auto const batch = [&](std::vector<std::string> const& tokens) {
        return json{{"value", {item(bridged, "1"), item(unbridged, "2"), item(known_group, "3"), item(new_group, "4")}},
                    {"validationTokens", tokens}}
            .dump();
    };

    auto const answer = receiver.changes(batch({tw.token(tw.claims())}));
    CHECK(answer.status == 202);
    auto const queued = w.store.with([](auto& t) { return t.inbox; });
    REQUIRE(queued.size() == 2);
    CHECK(queued[0].item.thread_id.str() == bridged);
    CHECK(json::parse(queued[0].item.content)["encryptionCertificateId"] == "cert-1");
    CHECK(json::parse(queued[0].item.content).size() == 4);
    // The item with its content waits out the order hold in the inbox: no worker claims it for a second.
    CHECK(queued[0].not_before == queued[0].item.received_at + 1000);
    CHECK(w.store.repos.inbox->claim(queued[0].item.received_at + 999, msteams::now_ms() + 60'000, 10)
              .value()
              .front()
              .thread_id.str() == new_group);
    // A group chat the bridge has not seen: kept without its content (read, not held); the worker reads its members
    // first.
    CHECK(queued[1].item.thread_id.str() == new_group);
    CHECK(queued[1].item.content.empty());
    CHECK(queued[1].not_before == 0);
    CHECK(w.stats->rich_unbridged == 2);

    // Forged or missing tokens: nothing of the batch is kept.
    CHECK(receiver.changes(batch({tw.token(tw.claims(), true)})).status == 202);
    CHECK(receiver.changes(batch({})).status == 202);
    CHECK(w.store.with([](auto& t) { return t.inbox.size(); }) == 2);
    std::uint64_t webhook_refused = 0;
    for (auto const& s : w.stats->rich_refused.snapshot()) {
        webhook_refused += s.values.front() == "webhook" ? s.value : 0;
    }
    CHECK(webhook_refused == 8);

    // The keys cannot be read: Graph is asked to send the batch again.
    tw.keys_down = true;
    auto cold_tokens = std::make_shared<msteams::graph::NotificationTokens>(
        tw.http, msteams::graph::NotificationTokenSettings{tw.login.url("", "localhost"),
                                                           k_client,
                                                           k_tenant,
                                                           86'400'000,
                                                           300'000,
                                                           300'000,
                                                           std::chrono::milliseconds(2'000),
                                                           {}});
    msteams::sync::Receiver cold(w.store.repos, k_secret, w.stats, {}, {}, k_tenant,
                                 [&](auto const& tokens) { return cold_tokens->check(tokens); });
    CHECK(cold.changes(batch({tw.token(tw.claims())})).status == 503);
}
