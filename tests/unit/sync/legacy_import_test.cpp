// The upgrade in place from the official Mattermost MS Teams plugin, against PostgreSQL and the Microsoft 365
// emulator: tables seeded the way the official plugin's migrations create them (v1.14's Init sequence, v1.15's
// numbered migrations, and an early shape without the later columns), tokens encrypted its way (written here from the
// facts in docs/upgrade.md, with OpenSSL directly), then the import: users connected with tokens Entra refreshes,
// Teams users, linked channels and the message map; idempotency; resuming after a crash or a stop; a bad token.
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../fake_api.hpp"
#include "../store/pg_support.hpp"
#include "common/clock.hpp"
#include "crypto/crypto.hpp"
#include "graph/emulator.hpp"
#include "graph/entra.hpp"
#include "store/legacy.hpp"
#include "store/repositories.hpp"
#include "sync/legacy_import.hpp"
#include "sync/logins.hpp"

using msteams::MmUserId;
using msteams::TeamsUserId;
using msteams::store::LegacyStep;
using msteams::sync::LegacyImport;
using msteams::sync::LegacyImportSettings;
using msteams::sync::LegacyOutcome;

namespace {

// The official plugin's encryptionKey: 32 characters of base64 (its generateSecret), used as the AES key's bytes.
std::string const k_key = "eyPBz0mBhwfGGwce9hp4TWaYzgY7MdIB";
std::string const k_other_key = "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MDEy";

// --- the official plugin's side -------------------------------------------------------------------------------------

// AES-GCM with the key's raw bytes, a random 12-byte nonce, no associated data; stored as base64 with the URL alphabet
// and padding, of nonce || ciphertext || tag.
std::string official_encrypt(std::string const& key, std::string const& plaintext) {
    EVP_CIPHER const* cipher = key.size() == 16   ? EVP_aes_128_gcm()
                               : key.size() == 24 ? EVP_aes_192_gcm()
                                                  : EVP_aes_256_gcm();
    unsigned char nonce[12];
    REQUIRE(RAND_bytes(nonce, sizeof nonce) == 1);
    std::string out(reinterpret_cast<char*>(nonce), sizeof nonce);
    std::string ct(plaintext.size(), '\0');
    unsigned char tag[16];
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    int len = 0;
    REQUIRE(EVP_EncryptInit_ex(ctx, cipher, nullptr, reinterpret_cast<unsigned char const*>(key.data()), nonce) == 1);
    REQUIRE(EVP_EncryptUpdate(ctx, reinterpret_cast<unsigned char*>(ct.data()), &len,
                              reinterpret_cast<unsigned char const*>(plaintext.data()),
                              static_cast<int>(plaintext.size())) == 1);
    int fin = 0;
    REQUIRE(EVP_EncryptFinal_ex(ctx, reinterpret_cast<unsigned char*>(ct.data()) + len, &fin) == 1);
    REQUIRE(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1);
    EVP_CIPHER_CTX_free(ctx);
    out += ct;
    out.append(reinterpret_cast<char*>(tag), sizeof tag);
    std::string encoded = msteams::crypto::base64url_encode(out);
    while (encoded.size() % 4 != 0) {
        encoded += '=';
    }
    return encoded;
}

// golang.org/x/oauth2's Token as encoding/json writes it (expiry: RFC 3339 with nanoseconds).
std::string oauth2_json(std::string const& access, std::string const& refresh, std::string const& expiry) {
    return nlohmann::json{
        {"access_token", access}, {"token_type", "Bearer"}, {"refresh_token", refresh}, {"expiry", expiry}}
        .dump();
}

enum class Shape { v0_3, v1_14, v1_15 };

char const* name(Shape s) { return s == Shape::v0_3 ? "v0.3" : s == Shape::v1_14 ? "v1.14" : "v1.15"; }

// The statements the official plugin ran, in its order. v0.3 to v1.14 ran them from SQLStore.Init (each version
// adding to the list; v0.3 is the shape before the connect-time columns), v1.15 and later as numbered migrations.
std::vector<std::string> official_schema(Shape shape) {
    if (shape == Shape::v1_15) {
        return {
            "CREATE TABLE IF NOT EXISTS msteamssync_system_settings (id VARCHAR(100), value TEXT, PRIMARY KEY(id))",
            "CREATE TABLE IF NOT EXISTS msteamssync_subscriptions (subscriptionID VARCHAR(255) PRIMARY KEY, type "
            "VARCHAR(255), msTeamsTeamID VARCHAR(255), msTeamsChannelID VARCHAR(255), msTeamsUserID VARCHAR(255), "
            "secret VARCHAR(255), expiresOn BIGINT)",
            "CREATE TABLE IF NOT EXISTS msteamssync_links (mmChannelID VARCHAR(255) PRIMARY KEY, mmTeamID "
            "VARCHAR(255), "
            "msTeamsChannelID VARCHAR(255), msTeamsTeamID VARCHAR(255), creator VARCHAR(255))",
            "ALTER TABLE msteamssync_links ADD COLUMN IF NOT EXISTS creator VARCHAR(255)",
            "CREATE TABLE IF NOT EXISTS msteamssync_users (mmUserID VARCHAR(255), msTeamsUserID VARCHAR(255), token "
            "TEXT, PRIMARY KEY(mmUserID, msTeamsUserID))",
            "CREATE TABLE IF NOT EXISTS msteamssync_posts (mmPostID VARCHAR(255) PRIMARY KEY, msTeamsPostID "
            "VARCHAR(255), msTeamsChannelID VARCHAR(255), msTeamsLastUpdateAt BIGINT)",
            "CREATE INDEX IF NOT EXISTS idx_msteamssync_links_msteamsteamid_msteamschannelid ON msteamssync_links "
            "(msTeamsTeamID, msTeamsChannelID)",
            "CREATE INDEX IF NOT EXISTS idx_msteamssync_users_msteamsuserid ON msteamssync_users (msTeamsUserID)",
            "CREATE INDEX IF NOT EXISTS idx_msteamssync_posts_msteamschannelid_msteamspostid ON msteamssync_posts "
            "(msTeamsChannelID, msTeamsPostID)",
            "ALTER TABLE msteamssync_subscriptions ADD COLUMN IF NOT EXISTS certificate TEXT",
            "ALTER TABLE msteamssync_subscriptions ADD COLUMN IF NOT EXISTS lastActivityAt BIGINT",
            "CREATE TABLE IF NOT EXISTS msteamssync_invited_users (mmUserID VARCHAR(255) PRIMARY KEY)",
            "ALTER TABLE msteamssync_invited_users ADD COLUMN IF NOT EXISTS invitePendingSince BIGINT",
            "ALTER TABLE msteamssync_invited_users ADD COLUMN IF NOT EXISTS inviteLastSentAt BIGINT",
            "ALTER TABLE msteamssync_users ADD COLUMN IF NOT EXISTS lastConnectAt BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE msteamssync_users ADD COLUMN IF NOT EXISTS lastDisconnectAt BIGINT NOT NULL DEFAULT 0",
            "CREATE TABLE IF NOT EXISTS msteamssync_whitelist (mmUserID VARCHAR(255) PRIMARY KEY)",
            "CREATE UNIQUE INDEX IF NOT EXISTS idx_msteamssync_users_msteamsuserid_unq ON msteamssync_users "
            "(msTeamsUserID)",
            "DROP TABLE IF EXISTS msteamssync_whitelisted_users",
            "ALTER TABLE msteamssync_users ADD COLUMN IF NOT EXISTS LastChatSentAt BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE msteamssync_users ADD COLUMN IF NOT EXISTS LastChatReceivedAt BIGINT NOT NULL DEFAULT 0",
        };
    }
    std::vector<std::string> s = {
        "CREATE TABLE IF NOT EXISTS msteamssync_subscriptions (subscriptionID VARCHAR(255) PRIMARY KEY, type "
        "VARCHAR(255), msTeamsTeamID VARCHAR(255), msTeamsChannelID VARCHAR(255), msTeamsUserID VARCHAR(255), secret "
        "VARCHAR(255), expiresOn BIGINT)",
        "CREATE TABLE IF NOT EXISTS msteamssync_links (mmChannelID VARCHAR(255) PRIMARY KEY, mmTeamID VARCHAR(255), "
        "msTeamsChannelID VARCHAR(255), msTeamsTeamID VARCHAR(255), creator VARCHAR(255))",
        "ALTER TABLE msteamssync_links ADD COLUMN IF NOT EXISTS creator VARCHAR(255)",
        // Created with mmUserID alone as the key, which addPrimaryKey then replaces.
        "CREATE TABLE IF NOT EXISTS msteamssync_users (mmUserID VARCHAR(255) PRIMARY KEY, msTeamsUserID VARCHAR(255), "
        "token TEXT)",
        "ALTER TABLE msteamssync_users DROP CONSTRAINT msteamssync_users_pkey, ADD PRIMARY KEY(mmUserID, "
        "msTeamsUserID)",
        "CREATE TABLE IF NOT EXISTS msteamssync_posts (mmPostID VARCHAR(255) PRIMARY KEY, msTeamsPostID VARCHAR(255), "
        "msTeamsChannelID VARCHAR(255), msTeamsLastUpdateAt BIGINT)",
        "CREATE INDEX IF NOT EXISTS idx_msteamssync_links_msteamsteamid_msteamschannelid ON msteamssync_links "
        "(msTeamsTeamID, msTeamsChannelID)",
        "CREATE INDEX IF NOT EXISTS idx_msteamssync_users_msteamsuserid ON msteamssync_users (msTeamsUserID)",
        "CREATE INDEX IF NOT EXISTS idx_msteamssync_posts_msteamschannelid_msteamspostid ON msteamssync_posts "
        "(msTeamsChannelID, msTeamsPostID)",
    };
    if (shape == Shape::v0_3) {
        return s;
    }
    for (char const* more : {
             "ALTER TABLE msteamssync_subscriptions ADD COLUMN IF NOT EXISTS certificate TEXT",
             "ALTER TABLE msteamssync_subscriptions ADD COLUMN IF NOT EXISTS lastActivityAt BIGINT",
             "CREATE TABLE IF NOT EXISTS msteamssync_invited_users (mmUserID VARCHAR(255) PRIMARY KEY)",
             "ALTER TABLE msteamssync_invited_users ADD COLUMN IF NOT EXISTS invitePendingSince BIGINT",
             "ALTER TABLE msteamssync_invited_users ADD COLUMN IF NOT EXISTS inviteLastSentAt BIGINT",
             "ALTER TABLE msteamssync_users ADD COLUMN IF NOT EXISTS lastConnectAt BIGINT NOT NULL DEFAULT 0",
             "ALTER TABLE msteamssync_users ADD COLUMN IF NOT EXISTS lastDisconnectAt BIGINT NOT NULL DEFAULT 0",
             "CREATE TABLE IF NOT EXISTS msteamssync_whitelist (mmUserID VARCHAR(255) PRIMARY KEY)",
             "CREATE UNIQUE INDEX IF NOT EXISTS idx_msteamssync_users_msteamsuserid_unq ON msteamssync_users "
             "(msTeamsUserID)",
             "ALTER TABLE msteamssync_users ADD COLUMN IF NOT EXISTS LastChatSentAt BIGINT NOT NULL DEFAULT 0",
             "ALTER TABLE msteamssync_users ADD COLUMN IF NOT EXISTS LastChatReceivedAt BIGINT NOT NULL DEFAULT 0",
         }) {
        s.emplace_back(more);
    }
    return s;
}

// The few columns of Mattermost's own tables that the import reads.
std::vector<std::string> const k_mattermost_schema = {
    "CREATE TABLE users (id varchar(26) PRIMARY KEY, username varchar(64) NOT NULL, email varchar(128) NOT NULL, "
    "firstname varchar(64) NOT NULL DEFAULT '', lastname varchar(64) NOT NULL DEFAULT '', nickname varchar(64) NOT "
    "NULL DEFAULT '', remoteid varchar(26), deleteat bigint NOT NULL DEFAULT 0)",
    "CREATE TABLE channels (id varchar(26) PRIMARY KEY, type varchar(1), deleteat bigint NOT NULL DEFAULT 0)",
    "CREATE TABLE posts (id varchar(26) PRIMARY KEY, channelid varchar(26) NOT NULL, userid varchar(26) NOT NULL, "
    "props jsonb, deleteat bigint NOT NULL DEFAULT 0)",
};

std::string q(std::string const& s) { return "'" + s + "'"; }

std::string id26(std::string const& stem) {
    std::string out = stem;
    out.resize(26, '0');
    return out;
}

struct Db {
    msteams::test::TempDatabase temp;
    std::shared_ptr<msteams::store::Database> db = temp.open_migrated();
    msteams::store::Repositories repos = msteams::store::postgres_repositories(db);
    std::shared_ptr<msteams::store::LegacyImportStore> legacy = std::make_shared<msteams::store::LegacyImportStore>(db);
    std::shared_ptr<msteams::crypto::Sealer const> sealer = std::make_shared<msteams::crypto::Sealer const>(k_key);
    std::vector<std::string> told;

    void run(std::string const& sql) {
        auto r = db->exec(sql);
        INFO(sql << ": " << (r ? std::string("ok") : r.error().message));
        REQUIRE(r.has_value());
    }
    std::string one(std::string const& sql) {
        auto r = db->exec(sql);
        INFO(sql << ": " << (r ? std::string("ok") : r.error().message));
        REQUIRE(r.has_value());
        REQUIRE(r->size() == 1);
        return r->text(0, "v");
    }
    void schema(Shape shape) {
        for (auto const& s : k_mattermost_schema) {
            run(s);
        }
        for (auto const& s : official_schema(shape)) {
            run(s);
        }
    }
    LegacyImport importer(std::string const& node, std::size_t batch = 2,
                          std::chrono::seconds ttl = std::chrono::seconds(60)) {
        LegacyImportSettings s;
        s.legacy_key = k_key;
        s.node_id = node;
        s.batch_size = batch;
        s.lease_ttl = ttl;
        return LegacyImport(s, legacy, repos.leases, repos.notices, sealer,
                            [this](std::string const& text) { told.push_back(text); });
    }
    // Everything the import writes, and the official plugin's tables, as one text: equal texts, equal contents.
    std::string snapshot(std::string const& table, std::string const& order) {
        return one("SELECT coalesce(string_agg(t::text, '|' ORDER BY " + order + "), '') AS v FROM " + table + " t");
    }
    std::string ours() {
        return snapshot("msteams_accounts", "mm_user_id") + "#" + snapshot("msteams_users", "teams_user_id") + "#" +
               snapshot("msteams_portals", "teams_thread_id") + "#" +
               snapshot("msteams_messages", "teams_thread_id, teams_message_id") + "#" +
               snapshot("msteams_legacy_import", "step") + "#" +
               snapshot("msteams_legacy_import_problems", "step, source_key");
    }
    std::string theirs() {
        return snapshot("msteamssync_users", "mmuserid") + "#" + snapshot("msteamssync_links", "mmchannelid") + "#" +
               snapshot("msteamssync_posts", "mmpostid");
    }
    void official_user(std::string const& mm, std::string const& teams, std::string const& token, Shape shape,
                       std::int64_t connect_us = 0) {
        if (shape == Shape::v0_3) {
            run("INSERT INTO msteamssync_users (mmUserID, msTeamsUserID, token) VALUES (" + q(mm) + ", " + q(teams) +
                ", " + q(token) + ")");
        } else {
            run("INSERT INTO msteamssync_users (mmUserID, msTeamsUserID, token, lastConnectAt) VALUES (" + q(mm) +
                ", " + q(teams) + ", " + q(token) + ", " + std::to_string(connect_us) + ")");
        }
    }
    void mm_user(std::string const& id, std::string const& username, std::string const& email,
                 std::string const& remote = "") {
        run("INSERT INTO users (id, username, email, firstname, lastname, remoteid) VALUES (" + q(id) + ", " +
            q(username) + ", " + q(email) + ", " + q(username) + ", 'Test', " + (remote.empty() ? "NULL" : q(remote)) +
            ")");
    }
};

std::string const k_adele = "a1b2c3d4-0001-4000-8000-000000000001";
std::string const k_bianca = "a1b2c3d4-0002-4000-8000-000000000002";
std::string const k_cameron = "a1b2c3d4-0003-4000-8000-000000000003";
std::string const k_diego = "a1b2c3d4-0004-4000-8000-000000000004";
std::string const k_emily = "a1b2c3d4-0005-4000-8000-000000000005";

}  // namespace

TEST_CASE("legacy import: the official plugin's tables become connected users, Teams users, links and the message map",
          "[pg][graph]") {
    auto const shape = GENERATE(Shape::v0_3, Shape::v1_14, Shape::v1_15);
    INFO("the official plugin's shape " << name(shape));
    msteams::test::Emulator emu;
    Db d;
    d.schema(shape);

    // Tokens Entra issued to the official plugin (the same app): Adele's expired (the first use refreshes it), Bianca's
    // still good; Cameron's was encrypted with a key that is not the setting's any more.
    auto const adele_token = emu.user_token("adele@contoso.onmicrosoft.com");
    auto const bianca_token = emu.user_token("bianca@contoso.onmicrosoft.com");
    auto const cameron_token = emu.user_token("cameron@contoso.onmicrosoft.com");
    std::string const alice = id26("alice"), bob = id26("bob"), carol = id26("carol"), megan = id26("megan"),
                      dave = id26("dave"), gone = id26("gone"), bot = id26("bot");
    d.mm_user(alice, "alice", "adele@contoso.onmicrosoft.com");
    d.mm_user(bob, "bob", "bianca@contoso.onmicrosoft.com");
    d.mm_user(carol, "carol", "cameron@contoso.onmicrosoft.com");
    d.mm_user(megan, "msteams_diego", "diego@contoso.onmicrosoft.com", "remoteidofofficialplugin0");  // synthetic
    d.mm_user(dave, "dave", "emily@contoso.onmicrosoft.com");
    d.official_user(alice, k_adele,
                    official_encrypt(k_key, oauth2_json(adele_token.access_token, adele_token.refresh_token,
                                                        "2020-01-02T03:04:05.123456789Z")),
                    shape, 1'700'000'000'000'000);
    d.official_user(bob, k_bianca,
                    official_encrypt(k_key, oauth2_json(bianca_token.access_token, bianca_token.refresh_token,
                                                        "2099-01-02T03:04:05+01:00")),
                    shape);
    d.official_user(carol, k_cameron,
                    official_encrypt(k_other_key, oauth2_json(cameron_token.access_token, cameron_token.refresh_token,
                                                              "2099-01-01T00:00:00Z")),
                    shape);
    d.official_user(megan, k_diego, "", shape);
    d.official_user(dave, k_emily, "", shape);
    d.official_user(gone, "a1b2c3d4-0009-4000-8000-000000000009",
                    official_encrypt(k_key, oauth2_json("x", "y", "2099-01-01T00:00:00Z")), shape);
    (void)bot;

    // Links: one to a live channel, one to an archived channel, one to a channel that is gone.
    std::string const town = id26("town"), archived = id26("archived"), missing = id26("missing"), dm = id26("dm");
    d.run("INSERT INTO channels (id, type) VALUES (" + q(town) + ", 'O'), (" + q(dm) + ", 'D')");
    d.run("INSERT INTO channels (id, type, deleteat) VALUES (" + q(archived) + ", 'O', 5)");
    d.run("INSERT INTO msteamssync_links (mmChannelID, mmTeamID, msTeamsChannelID, msTeamsTeamID, creator) VALUES (" +
          q(town) + ", 'mmteam', '19:town@thread.tacv2', 'teams-team-1', " + q(alice) + "), (" + q(archived) +
          ", 'mmteam', '19:old@thread.tacv2', 'teams-team-1', " + q(alice) + "), (" + q(missing) +
          ", 'mmteam', '19:gone@thread.tacv2', 'teams-team-1', " + q(alice) + ")");

    // The post map: a DM post written in Mattermost, one the official plugin made from Teams, a deleted one, one
    // whose post is gone, a linked channel's.
    std::string const chat = "19:" + k_adele + "_" + k_diego + "@unq.gbl.spaces";
    std::string const p1 = id26("p1"), p2 = id26("p2"), p3 = id26("p3"), p4 = id26("p4"), p5 = id26("p5");
    d.run("INSERT INTO posts (id, channelid, userid, props, deleteat) VALUES (" + q(p1) + ", " + q(dm) + ", " +
          q(alice) + ", '{}', 0), (" + q(p2) + ", " + q(dm) + ", " + q(megan) + ", '{\"msteams_sync_" + bot +
          "\": true}', 0), (" + q(p3) + ", " + q(dm) + ", " + q(alice) + ", NULL, 77), (" + q(p5) + ", " + q(town) +
          ", " + q(alice) + ", '{\"from_bot\": \"true\"}', 0)");
    d.run("INSERT INTO msteamssync_posts (mmPostID, msTeamsPostID, msTeamsChannelID, msTeamsLastUpdateAt) VALUES (" +
          q(p1) + ", '1700000000001', " + q(chat) + ", 1700000000001000), (" + q(p2) + ", '1700000000002', " + q(chat) +
          ", 1700000000002000), (" + q(p3) + ", '1700000000003', " + q(chat) + ", 0), (" + q(p4) +
          ", '1700000000004', " + q(chat) + ", NULL), (" + q(p5) +
          ", '1700000000005', '19:town@thread.tacv2', "
          "1700000000005000)");
    auto const before = d.theirs();

    auto importer = d.importer("node-a");
    int quick = 0;
    auto outcome = importer.run({}, [&] { ++quick; });
    INFO((outcome ? std::string("ok") : outcome.error().message));
    REQUIRE(outcome.has_value());
    CHECK(*outcome == LegacyOutcome::finished);
    CHECK(quick == 1);

    // Connected: Alice and Bob, their tokens sealed the bridge's way and usable: Entra refreshes Alice's.
    auto const accounts = msteams::store::postgres_accounts(d.db);
    auto const a = accounts->by_mm_user(MmUserId(alice));
    REQUIRE(a.has_value());
    REQUIRE(a->has_value());
    CHECK((*a)->teams_user_id.str() == k_adele);
    CHECK((*a)->teams_email == "adele@contoso.onmicrosoft.com");
    CHECK((*a)->connected());
    CHECK((*a)->connected_at == (shape == Shape::v0_3 ? (*a)->connected_at : 1'700'000'000'000));
    CHECK(accounts->count_connected().value_or(-1) == 2);
    for (auto const& who : {carol, megan, dave, gone}) {
        CHECK_FALSE(accounts->by_mm_user(MmUserId(who)).value().has_value());
    }
    auto api = std::make_shared<msteams::test::FakeApi>();
    auto entra = std::make_shared<msteams::graph::Entra>(emu.http, emu.app());
    msteams::sync::Logins logins({"http://localhost:8065", "com.mattermost.msteams", MmUserId(bot), 1000}, api,
                                 accounts, d.repos.oauth_states, entra, d.sealer);
    auto const refreshed = logins.access_token(MmUserId(alice));
    INFO((refreshed ? std::string("ok") : refreshed.error().message));
    REQUIRE(refreshed.has_value());
    CHECK(*refreshed != adele_token.access_token);  // a new one: the stored one had expired
    auto const me = logins.whoami(MmUserId(alice));
    REQUIRE(me.has_value());
    CHECK(me->id.str() == k_adele);
    auto const bobs = logins.access_token(MmUserId(bob));
    REQUIRE(bobs.has_value());
    CHECK(*bobs == bianca_token.access_token);  // not expired: used as it is
    CHECK(logins.whoami(MmUserId(bob)).value().id.str() == k_bianca);

    // Teams users: the synthetic one, the one matched by email, and Carol, whose token could not be read.
    auto const users = d.repos.users;
    auto const diego = users->by_teams_id(TeamsUserId(k_diego)).value();
    REQUIRE(diego.has_value());
    CHECK(diego->mm_user_id.str() == megan);
    CHECK(diego->synthetic);
    CHECK(diego->email == "diego@contoso.onmicrosoft.com");
    auto const emily = users->by_teams_id(TeamsUserId(k_emily)).value();
    REQUIRE(emily.has_value());
    CHECK(emily->mm_user_id.str() == dave);
    CHECK_FALSE(emily->synthetic);
    auto const cameron = users->by_teams_id(TeamsUserId(k_cameron)).value();
    REQUIRE(cameron.has_value());
    CHECK(cameron->mm_user_id.str() == carol);
    CHECK(d.one("SELECT count(*) AS v FROM msteams_users") == "3");

    // Links: the live channel only, a channel portal for the linked-channel feature.
    auto const portal = d.repos.portals->by_channel(msteams::MmChannelId(town)).value();
    REQUIRE(portal.has_value());
    CHECK(portal->kind == msteams::store::PortalKind::channel);
    CHECK(portal->teams_thread_id.str() == "19:town@thread.tacv2");
    CHECK(portal->teams_team_id == "teams-team-1");
    CHECK(portal->creator_mm_user_id.str() == alice);
    CHECK(d.one("SELECT count(*) AS v FROM msteams_portals") == "1");

    // The message map.
    auto const m1 = d.repos.messages->by_post(msteams::MmPostId(p1)).value();
    REQUIRE(m1.has_value());
    CHECK(m1->teams_thread_id.str() == chat);
    CHECK(m1->teams_message_id.str() == "1700000000001");
    CHECK(m1->mm_channel_id.str() == dm);
    CHECK(m1->origin == msteams::store::Origin::mattermost);
    CHECK(m1->teams_modified_at == 1700000000001);
    CHECK_FALSE(m1->deleted);
    auto const m2 = d.repos.messages->by_post(msteams::MmPostId(p2)).value();
    REQUIRE(m2.has_value());
    CHECK(m2->origin == msteams::store::Origin::teams);
    auto const m3 = d.repos.messages->by_post(msteams::MmPostId(p3)).value();
    REQUIRE(m3.has_value());
    CHECK(m3->deleted);
    CHECK_FALSE(d.repos.messages->by_post(msteams::MmPostId(p4)).value().has_value());
    auto const m5 = d.repos.messages->by_post(msteams::MmPostId(p5)).value();
    REQUIRE(m5.has_value());
    CHECK(m5->teams_thread_id.str() == "19:town@thread.tacv2");
    CHECK(m5->mm_channel_id.str() == town);
    CHECK(m5->origin == msteams::store::Origin::mattermost);

    // Counted and reported: Carol by name, once.
    auto const progress = d.legacy->progress().value();
    auto const problems = d.legacy->problems(LegacyStep::accounts, 10).value();
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].source_key == carol);
    CHECK(problems[0].username == "carol");
    CHECK(problems[0].problem.find("does not decrypt") != std::string::npos);
    REQUIRE(d.told.size() == 1);
    CHECK(d.told[0].find("**Connected users:** 2 stay connected") != std::string::npos);
    CHECK(d.told[0].find("1 were connected here already or are no longer in Mattermost") != std::string::npos);
    CHECK(d.told[0].find("**Not imported as connected:** 1 users") != std::string::npos);
    CHECK(d.told[0].find("@carol") != std::string::npos);
    CHECK(d.told[0].find("**Linked channels:** 1 imported, 2 skipped") != std::string::npos);
    CHECK(d.told[0].find("**Message map:** 4 messages imported") != std::string::npos);
    auto const status = msteams::sync::legacy_status(progress, problems);
    CHECK(status.starts_with("imported "));
    CHECK(status.find("2 connected users, 3 Teams users, 1 linked channels, 4 messages") != std::string::npos);
    CHECK(status.find("token unreadable: @carol") != std::string::npos);

    // Idempotent: running again (on any node) changes nothing and tells nobody again; the old tables are untouched.
    auto const after = d.ours();
    for (auto const* node : {"node-a", "node-b"}) {
        auto again = d.importer(node).run();
        REQUIRE(again.has_value());
        CHECK(*again == LegacyOutcome::nothing_to_import);
    }
    CHECK(d.ours() == after);
    CHECK(d.told.size() == 1);
    CHECK(d.theirs() == before);
}

TEST_CASE("legacy import: a crash or a stop midway continues where it stopped, once per cluster", "[pg]") {
    Db d;
    d.schema(Shape::v1_15);
    constexpr int k_users = 9;
    constexpr int k_posts = 23;
    std::string const dm = id26("dm");
    d.run("INSERT INTO channels (id, type) VALUES (" + q(dm) + ", 'D')");
    for (int i = 0; i < k_users; ++i) {
        auto const id = id26("user" + std::to_string(i));
        d.mm_user(id, "user" + std::to_string(i), "user" + std::to_string(i) + "@example.com");
        d.official_user(
            id, "teams-user-" + std::to_string(i),
            i % 3 == 0 ? official_encrypt(k_key, oauth2_json("at", "rt" + std::to_string(i), "2099-01-01T00:00:00Z"))
                       : "",
            Shape::v1_15, 1'600'000'000'000'000);
    }
    for (int i = 0; i < k_posts; ++i) {
        auto const id = id26("post" + std::to_string(100 + i));
        d.run("INSERT INTO posts (id, channelid, userid, props) VALUES (" + q(id) + ", " + q(dm) + ", " +
              q(id26("user0")) + ", '{}')");
        d.run(
            "INSERT INTO msteamssync_posts (mmPostID, msTeamsPostID, msTeamsChannelID, msTeamsLastUpdateAt) VALUES (" +
            q(id) + ", 'm" + std::to_string(i) + "', '19:chat@unq.gbl.spaces', 1600000000000000)");
    }

    // Node A crashes after its second batch of messages (its lease stays until it expires).
    struct Crash : std::runtime_error {
        Crash() : std::runtime_error("crash") {}
    };
    auto a = d.importer("node-a", 5, std::chrono::seconds(2));
    int message_batches = 0;
    a.after_batch = [&](LegacyStep step) {
        if (step == LegacyStep::messages && ++message_batches == 2) {
            throw Crash();
        }
    };
    CHECK_THROWS_AS((void)a.run(), Crash);
    CHECK(d.one("SELECT count(*) AS v FROM msteams_messages") == "10");
    CHECK(d.one("SELECT imported AS v FROM msteams_legacy_import WHERE step = 'messages'") == "10");
    CHECK(d.one("SELECT count(*) AS v FROM msteams_accounts") == "3");
    CHECK(d.told.empty());

    // While A's lease lasts, node B leaves the import to it.
    auto b = d.importer("node-b", 5, std::chrono::seconds(2));
    int b_quick = 0;
    auto waiting = b.run({}, [&] { ++b_quick; });
    REQUIRE(waiting.has_value());
    CHECK(*waiting == LegacyOutcome::elsewhere);
    CHECK(b_quick == 1);

    // Once it expired, B takes over, and stops when asked after one more batch.
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));
    int batches = 0;
    b.after_batch = [&](LegacyStep) { ++batches; };
    auto stopped = b.run([&] { return batches >= 1; });
    REQUIRE(stopped.has_value());
    CHECK(*stopped == LegacyOutcome::stopped);
    CHECK(d.one("SELECT count(*) AS v FROM msteams_messages") == "15");

    // The next run finishes: every row once, every count exact.
    auto finished = b.run();
    REQUIRE(finished.has_value());
    CHECK(*finished == LegacyOutcome::finished);
    CHECK(d.one("SELECT count(*) AS v FROM msteams_messages") == std::to_string(k_posts));
    CHECK(d.one("SELECT imported AS v FROM msteams_legacy_import WHERE step = 'messages'") == std::to_string(k_posts));
    CHECK(d.one("SELECT skipped AS v FROM msteams_legacy_import WHERE step = 'messages'") == "0");
    CHECK(d.one("SELECT imported AS v FROM msteams_legacy_import WHERE step = 'accounts'") == "3");
    CHECK(d.one("SELECT imported AS v FROM msteams_legacy_import WHERE step = 'users'") == "6");
    CHECK(d.one("SELECT count(*) AS v FROM msteams_accounts WHERE connected_at = 1600000000000") == "3");
    REQUIRE(d.told.size() == 1);
    CHECK(d.told[0].find("**Message map:** 23 messages imported") != std::string::npos);
}

TEST_CASE("legacy import: nothing to do without the official plugin's tables", "[pg]") {
    Db d;
    for (auto const& s : k_mattermost_schema) {
        d.run(s);
    }
    int quick = 0;
    auto outcome = d.importer("node-a").run({}, [&] { ++quick; });
    REQUIRE(outcome.has_value());
    CHECK(*outcome == LegacyOutcome::nothing_to_import);
    CHECK(quick == 1);
    CHECK(d.one("SELECT count(*) AS v FROM msteams_legacy_import") == "0");
    CHECK(d.told.empty());
    CHECK(msteams::sync::legacy_status(d.legacy->progress().value(), {}).empty());
}

TEST_CASE("legacy token: the official plugin's format, and what does not open") {
    auto const json = oauth2_json("access", "refresh", "2030-05-06T07:08:09.5Z");
    for (auto const& key : {std::string(16, 'k'), std::string(24, 'k'), k_key}) {
        auto const t = msteams::sync::open_legacy_token(key, official_encrypt(key, json));
        REQUIRE(t.has_value());
        CHECK(t->access_token == "access");
        CHECK(t->refresh_token == "refresh");
        CHECK(t->expires_at == 1904281689500);
    }
    // Go's zero time: expired, refreshed at first use.
    auto const zero =
        msteams::sync::open_legacy_token(k_key, official_encrypt(k_key, oauth2_json("a", "r", "0001-01-01T00:00:00Z")));
    REQUIRE(zero.has_value());
    CHECK(zero->expires_at == 0);

    auto const wrong = msteams::sync::open_legacy_token(k_other_key, official_encrypt(k_key, json));
    REQUIRE_FALSE(wrong.has_value());
    CHECK(wrong.error().code == msteams::ErrorCode::permission_denied);
    CHECK(msteams::sync::open_legacy_token("short", official_encrypt(k_key, json)).error().code ==
          msteams::ErrorCode::invalid_argument);
    CHECK_FALSE(msteams::sync::open_legacy_token(k_key, "not base64!").has_value());
    CHECK_FALSE(msteams::sync::open_legacy_token(k_key, "").has_value());
    CHECK_FALSE(msteams::sync::open_legacy_token(k_key, official_encrypt(k_key, "[1, 2]")).has_value());
    CHECK_FALSE(
        msteams::sync::open_legacy_token(k_key, official_encrypt(k_key, oauth2_json("a", "", "2030-01-01T00:00:00Z")))
            .has_value());
    // A modified token does not open.
    auto tampered = official_encrypt(k_key, json);
    tampered[20] = tampered[20] == 'A' ? 'B' : 'A';
    CHECK_FALSE(msteams::sync::open_legacy_token(k_key, tampered).has_value());
}
