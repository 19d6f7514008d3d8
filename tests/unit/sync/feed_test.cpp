// The Teams activity feed of Teams-primary users (sync::Feed) over PostgreSQL, a fake Mattermost and a fake Graph
// that keeps each user's feed as Teams does (a notification with the chain id of an earlier one replaces it).
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "common/strings.hpp"

#include "fake_api.hpp"
#include "store/accounts.hpp"
#include "store/feed.hpp"
#include "store/pg_support.hpp"
#include "store/roster.hpp"
#include "sync/feed.hpp"

using msteams::Error;
using msteams::ErrorCode;
using msteams::MmChannelId;
using msteams::MmPostId;
using msteams::MmUserId;
using msteams::Status;
using msteams::TeamsUserId;
using msteams::store::FeedKind;
using msteams::store::Platform;

namespace {

constexpr char const* k_app_id = "6f1c2a3b-4d5e-4f60-8a71-92b3c4d5e6f7";
constexpr std::int64_t k_hold = 15'000;

MmUserId id(std::string const& name) {
    auto s = name;
    s.resize(26, 'x');
    return MmUserId(s);
}
TeamsUserId teams_id(char c) { return TeamsUserId("00000000-0000-0000-0000-00000000000" + std::string(1, c)); }
TeamsUserId teams_id(int n) {
    auto digits = std::to_string(n);
    return TeamsUserId("00000000-0000-0000-0001-" + std::string(12 - digits.size(), '0') + digits);
}

// Channels and DMs as Mattermost has them.
class FeedApi final : public msteams::test::FakeApi {
public:
    msteams::Result<msteams::mm::Channel> get_channel(MmChannelId const& channel_id) override {
        std::lock_guard lock(mutex);
        if (!channels.contains(channel_id.str())) {
            return msteams::fail(ErrorCode::not_found, "no channel", 404);
        }
        return channels[channel_id.str()];
    }
    msteams::Result<msteams::mm::Channel> get_direct_channel(MmUserId const& a, MmUserId const& b) override {
        msteams::mm::Channel ch;
        ch.id = MmChannelId("dm-" + a.str().substr(0, 3) + "-" + b.str().substr(0, 3));
        ch.type = "D";
        return ch;
    }
    std::map<std::string, msteams::mm::Channel> channels;
};

struct Entry {
    TeamsUserId user;
    msteams::graph::ActivityNotification n;
};

// Each user's Teams feed; `refuse` answers 403 for a user (and a bulk request skips them, as Teams does),
// `refuse_bulk` answers 403 for every bulk request, `throttle` answers 429 once.
class FakeFeedGraph final : public msteams::sync::FeedGraph {
public:
    Status send(TeamsUserId const& user, msteams::graph::ActivityNotification const& n) override {
        ++sends;
        if (refuse.contains(user.str())) {
            return msteams::fail(ErrorCode::permission_denied, "Forbidden: the Teams app is not installed", 403);
        }
        if (auto const t = throttled(); !t) {
            return t;
        }
        put(user, n);
        if (crash_after_send) {
            throw std::runtime_error("killed after Graph answered");
        }
        return {};
    }
    Status send_bulk(std::vector<TeamsUserId> const& users, msteams::graph::ActivityNotification const& n) override {
        bulk_sizes.push_back(users.size());
        if (users.size() < 2 || users.size() > msteams::graph::k_max_activity_recipients) {
            return msteams::fail(ErrorCode::invalid_argument, "recipients must have between 1 and 100 entries", 400);
        }
        if (refuse_bulk) {
            return msteams::fail(ErrorCode::permission_denied, "Forbidden: missing role permissions", 403);
        }
        if (auto const t = throttled(); !t) {
            return t;
        }
        for (auto const& u : users) {
            if (!refuse.contains(u.str())) {
                put(u, n);
            }
        }
        if (crash_after_send) {
            throw std::runtime_error("killed after Graph answered");
        }
        return {};
    }
    Status throttled() {
        if (throttle > 0) {
            --throttle;
            Error e{ErrorCode::unavailable, "Too many requests", 429, {}};
            e.retry_after = std::chrono::seconds(3);
            return std::unexpected(e);
        }
        return {};
    }
    void put(TeamsUserId const& user, msteams::graph::ActivityNotification const& n) {
        auto& feed = feeds[user.str()];
        std::erase_if(feed, [&](auto const& old) { return n.chain_id != 0 && old.n.chain_id == n.chain_id; });
        feed.push_back(Entry{user, n});
    }
    Status install(TeamsUserId const& user) override {
        installs.push_back(user.str());
        if (install_works) {
            refuse.erase(user.str());
            return {};
        }
        return msteams::fail(ErrorCode::permission_denied, "no consent to install", 403);
    }
    std::map<std::string, std::vector<Entry>> feeds;
    std::set<std::string> refuse;
    std::vector<std::string> installs;
    std::vector<std::size_t> bulk_sizes;  // each bulk request's recipients
    int throttle = 0;
    int sends = 0;
    bool refuse_bulk = false;
    bool install_works = false;
    bool crash_after_send = false;
};

struct World {
    msteams::test::TempDatabase temp;
    std::shared_ptr<msteams::store::Database> db = temp.open_migrated();
    std::shared_ptr<FeedApi> api = std::make_shared<FeedApi>();
    std::shared_ptr<FakeFeedGraph> graph = std::make_shared<FakeFeedGraph>();
    std::shared_ptr<msteams::store::FeedStore> store = std::make_shared<msteams::store::FeedStore>(db);
    std::shared_ptr<msteams::store::Roster> roster = msteams::store::postgres_roster(db);
    std::shared_ptr<msteams::store::Accounts> accounts = msteams::store::postgres_accounts(db);
    std::shared_ptr<msteams::metrics::Counters> stats = std::make_shared<msteams::metrics::Counters>();
    MmUserId alice = id("alice"), bob = id("bob"), carol = id("carol");
    MmChannelId town = MmChannelId(std::string(26, 'c'));

    World() {
        for (auto const& [u, first, email, push] :
             {std::tuple{alice, "Alice", "true", "mention"}, std::tuple{bob, "Bob", "true", "all"},
              std::tuple{carol, "Carol", "false", "mention"}}) {
            msteams::mm::User user;
            user.id = u;
            user.username = msteams::strings::to_lower(first);
            user.first_name = first;
            user.last_name = "Example";
            user.notify_props = {{"email", email}, {"push", push}};
            api->users[u.str()] = user;
        }
        connect(bob, 'b');
        connect(carol, 'c');
        msteams::mm::Channel ch;
        ch.id = town;
        ch.type = "O";
        ch.name = "town-square";
        ch.display_name = "Town Square";
        api->channels[town.str()] = ch;
        api->channel_members[town.str()] = {alice.str(), bob.str(), carol.str()};
    }
    // A connected, Teams-primary user `name` (Teams user number n), a member of the town square.
    MmUserId teams_member(std::string const& name, int n) {
        auto const u = id(name);
        msteams::mm::User user;
        user.id = u;
        user.username = name;
        user.first_name = name;
        api->users[u.str()] = user;
        connect(u, teams_id(n));
        REQUIRE(roster->set_primary(u, Platform::teams, 1).has_value());
        api->channel_members[town.str()].push_back(u.str());
        return u;
    }
    void connect(MmUserId const& u, char c) { connect(u, teams_id(c)); }
    void connect(MmUserId const& u, TeamsUserId const& teams_user) {
        msteams::store::Account a;
        a.mm_user_id = u;
        a.teams_user_id = teams_user;
        a.token_sealed = "sealed";
        a.connected_at = 1;
        REQUIRE(accounts->connect(a, 1000).has_value());
    }
    msteams::sync::Feed feed(Platform default_primary = Platform::mattermost) {
        msteams::sync::FeedSettings s;
        s.enabled = true;
        s.bot_user_id = id("bot");
        s.teams_app_id = k_app_id;
        s.hold = std::chrono::milliseconds(k_hold);
        s.default_primary = default_primary;
        return msteams::sync::Feed(s, api, store, roster, accounts, graph, stats);
    }
    msteams::mm::Post post(std::string const& p, MmChannelId const& channel, std::string const& message,
                           std::int64_t at = 1000) {
        msteams::mm::Post out;
        out.id = MmPostId(std::string(25, 'p') + p);
        out.user_id = alice;
        out.channel_id = channel;
        out.message = message;
        out.create_at = at;
        return out;
    }
    // Runs the feed at `now` until nothing is due.
    static void drain(msteams::sync::Feed& f, std::int64_t now) {
        for (int i = 0; i < 1000; ++i) {
            auto const did = f.step(now);
            REQUIRE(did.has_value());
            if (!*did) {
                return;
            }
        }
        FAIL("the feed never ran out of work");
    }
    std::vector<Entry> const& feed_of(char c) { return graph->feeds[teams_id(c).str()]; }
    std::vector<Entry> const& feed_of(int n) { return graph->feeds[teams_id(n).str()]; }
    // A post in the town square as Mattermost has it (the thread lookups read these).
    msteams::mm::Post stored(std::string const& p, MmUserId const& author, std::string const& message, std::int64_t at,
                             MmPostId const& root = MmPostId()) {
        auto out = post(p, town, message, at);
        out.user_id = author;
        out.root_id = root;
        api->posts[out.id.str()] = out;
        return out;
    }
};

std::vector<std::string> types_of(std::vector<Entry> const& feed) {
    std::vector<std::string> out;
    for (auto const& e : feed) {
        out.push_back(e.n.activity_type);
    }
    return out;
}

}  // namespace

TEST_CASE("feed: a Teams-primary user mentioned gets one notification linking to the post, and is muted", "[pg]") {
    World w;
    REQUIRE(w.roster->set_primary(w.bob, Platform::teams, 1).has_value());
    auto feed = w.feed();
    auto const p = w.post("1", w.town, "Hello @bob, the   report\nis ready");
    REQUIRE(feed.enqueue({p}).has_value());
    REQUIRE(feed.enqueue({p}).has_value());  // the hook delivered twice
    World::drain(feed, 1000);
    CHECK(w.graph->sends == 0);  // held for the user to read it in Mattermost first
    World::drain(feed, 1000 + k_hold);
    REQUIRE(w.feed_of('b').size() == 1);
    auto const& n = w.feed_of('b').front().n;
    CHECK(n.activity_type == "mention");
    CHECK(n.topic == "Town Square");
    CHECK(n.preview == "Hello @bob, the report is ready");
    CHECK(n.template_parameters ==
          std::vector<std::pair<std::string, std::string>>{{"author", "Alice Example"}, {"channel", "Town Square"}});
    CHECK(n.web_url == msteams::sync::feed_deep_link("https://teams.microsoft.com", k_app_id, "mattermost", p.id));
    CHECK_THAT(n.web_url, Catch::StartsWith(std::string("https://teams.microsoft.com/l/entity/") + k_app_id +
                                            "/mattermost?context="));
    CHECK_THAT(n.web_url, Catch::Contains(p.id.str()));
    CHECK(n.chain_id == msteams::sync::feed_chain_id(p.id));
    CHECK(w.feed_of('c').empty());  // Carol was not mentioned
    // Teams notifies Bob now: Mattermost's email and push are off, his own settings kept.
    CHECK(w.api->users[w.bob.str()].notify_props.at("email") == "false");
    CHECK(w.api->users[w.bob.str()].notify_props.at("push") == "none");
    REQUIRE(feed.enqueue({p}).has_value());  // a late repeat of the hook
    World::drain(feed, 100'000);
    CHECK(w.graph->sends == 1);
    // Back to Mattermost: his settings come back.
    REQUIRE(feed.primary_changed(w.bob, Platform::mattermost).has_value());
    CHECK(w.api->users[w.bob.str()].notify_props.at("email") == "true");
    CHECK(w.api->users[w.bob.str()].notify_props.at("push") == "all");
    CHECK(w.stats->feed_sent == 1);
}

TEST_CASE("feed: nothing is sent for a post read in Mattermost meanwhile, nor to a user online there", "[pg]") {
    World w;
    REQUIRE(w.roster->set_primary(w.bob, Platform::teams, 1).has_value());
    REQUIRE(w.roster->set_primary(w.carol, Platform::teams, 1).has_value());
    auto feed = w.feed();
    REQUIRE(feed.enqueue({w.post("1", w.town, "@bob and @carol: lunch?")}).has_value());
    World::drain(feed, 1000);
    w.api->memberships[w.town.str() + "/" + w.bob.str()].last_viewed_at = 1200;  // Bob read the channel
    w.api->statuses[w.carol.str()] = "online";                                   // Carol is in the Mattermost tab
    World::drain(feed, 1000 + k_hold);
    CHECK(w.graph->sends == 0);
    auto const counts = w.store->counts().value();
    CHECK(counts.dropped == 2);
    CHECK(counts.sent == 0);
}

TEST_CASE("feed: only Teams-primary users are notified, the admins' default counting for those who never chose",
          "[pg]") {
    World w;
    REQUIRE(w.roster->set_primary(w.carol, Platform::mattermost, 1).has_value());
    SECTION("the default is Mattermost") {
        auto feed = w.feed(Platform::mattermost);
        REQUIRE(feed.enqueue({w.post("1", w.town, "@bob @carol")}).has_value());
        World::drain(feed, 100'000);
        CHECK(w.graph->sends == 0);
    }
    SECTION("the default is Teams") {
        auto feed = w.feed(Platform::teams);
        REQUIRE(feed.enqueue({w.post("1", w.town, "@bob @carol")}).has_value());
        World::drain(feed, 1000);
        World::drain(feed, 100'000);
        CHECK(w.feed_of('b').size() == 1);
        CHECK(w.feed_of('c').empty());  // Carol chose Mattermost
    }
}

TEST_CASE("feed: direct and group messages, replies to a user's thread and channel-wide mentions", "[pg]") {
    World w;
    REQUIRE(w.roster->set_primary(w.bob, Platform::teams, 1).has_value());
    REQUIRE(w.roster->set_primary(w.carol, Platform::teams, 1).has_value());
    auto feed = w.feed();
    msteams::mm::Channel dm;
    dm.id = MmChannelId(std::string(26, 'd'));
    dm.type = "D";
    dm.name = w.alice.str() + "__" + w.bob.str();
    w.api->channels[dm.id.str()] = dm;
    w.api->channel_members[dm.id.str()] = {w.alice.str(), w.bob.str()};
    msteams::mm::Channel gm;
    gm.id = MmChannelId(std::string(26, 'g'));
    gm.type = "G";
    gm.display_name = "alice, bob, carol";
    w.api->channels[gm.id.str()] = gm;
    w.api->channel_members[gm.id.str()] = {w.alice.str(), w.bob.str(), w.carol.str()};
    // Carol started a thread in the town square; Alice replies; then Alice notifies @channel, which Carol ignores.
    auto root = w.post("0", w.town, "a question", 500);
    root.user_id = w.carol;
    w.api->posts[root.id.str()] = root;
    auto reply = w.post("3", w.town, "an answer", 1001);
    reply.root_id = root.id;
    w.api->memberships[w.town.str() + "/" + w.carol.str()].notify_props["ignore_channel_mentions"] = "on";
    // A reply in the DM is a direct message: the thread is not read for its followers.
    auto const dm_root = w.post("1", dm.id, "psst");
    auto dm_reply = w.post("5", dm.id, "psst again", 1003);
    dm_reply.root_id = dm_root.id;
    REQUIRE(feed.enqueue({dm_root, w.post("2", gm.id, "hi all"), reply,
                          w.post("4", w.town, "@channel the build is green", 1002), dm_reply})
                .has_value());
    World::drain(feed, 1000);
    World::drain(feed, 100'000);
    std::vector<std::string> bob, carol;
    for (auto const& e : w.feed_of('b')) {
        bob.push_back(e.n.activity_type);
    }
    for (auto const& e : w.feed_of('c')) {
        carol.push_back(e.n.activity_type);
    }
    CHECK(bob == std::vector<std::string>{"directMessage", "groupMessage", "channelMention", "directMessage"});
    CHECK(carol == std::vector<std::string>{"groupMessage", "threadReply"});
    CHECK(w.api->thread_reads == 1);
    CHECK(w.feed_of('b').front().n.template_parameters ==
          std::vector<std::pair<std::string, std::string>>{{"author", "Alice Example"}});
}

TEST_CASE("feed: a user Teams refuses to notify is told once, counted, and gets Mattermost's notifications back",
          "[pg]") {
    World w;
    REQUIRE(w.roster->set_primary(w.bob, Platform::teams, 1).has_value());
    auto feed = w.feed();
    REQUIRE(feed.primary_changed(w.bob, Platform::teams).has_value());  // muted when he chose Teams
    CHECK(w.api->users[w.bob.str()].notify_props.at("push") == "none");
    w.graph->refuse.insert(teams_id('b').str());
    REQUIRE(feed.enqueue({w.post("1", w.town, "@bob one"), w.post("2", w.town, "@bob two")}).has_value());
    World::drain(feed, 1000);
    World::drain(feed, 100'000);
    CHECK(w.graph->sends == 2);
    CHECK(feed.blocked_users().value() == 1);
    int told = 0;
    for (auto const& [pid, p] : w.api->posts) {
        if (p.user_id == id("bot")) {
            ++told;
            CHECK_THAT(p.message, Catch::Contains("select **Apps**"));
        }
    }
    CHECK(told == 1);
    CHECK(w.api->users[w.bob.str()].notify_props.at("email") == "true");
    CHECK(w.api->users[w.bob.str()].notify_props.at("push") == "all");
    CHECK(w.store->counts().value().failed == 2);

    // The app is installed later: the next notification goes through, he is muted again and no longer counted.
    w.graph->refuse.clear();
    REQUIRE(feed.enqueue({w.post("3", w.town, "@bob three", 2000)}).has_value());
    World::drain(feed, 2000);
    World::drain(feed, 100'000);
    CHECK(w.feed_of('b').size() == 1);
    CHECK(feed.blocked_users().value() == 0);
    CHECK(w.api->users[w.bob.str()].notify_props.at("push") == "none");
}

TEST_CASE("feed: with proactive installation a refused notification installs the app and goes through", "[pg]") {
    World w;
    REQUIRE(w.roster->set_primary(w.bob, Platform::teams, 1).has_value());
    msteams::sync::FeedSettings s;
    s.enabled = true;
    s.teams_app_id = k_app_id;
    s.hold = std::chrono::milliseconds(k_hold);
    s.proactive_install = true;
    msteams::sync::Feed feed(s, w.api, w.store, w.roster, w.accounts, w.graph, w.stats);
    w.graph->refuse.insert(teams_id('b').str());
    w.graph->install_works = true;
    REQUIRE(feed.enqueue({w.post("1", w.town, "@bob")}).has_value());
    World::drain(feed, 1000);
    World::drain(feed, 100'000);
    CHECK(w.graph->installs == std::vector<std::string>{teams_id('b').str()});
    CHECK(w.feed_of('b').size() == 1);
    CHECK(feed.blocked_users().value() == 0);
}

TEST_CASE("feed: a throttled notification waits for Retry-After, and one sent before a crash is not added twice",
          "[pg]") {
    World w;
    REQUIRE(w.roster->set_primary(w.bob, Platform::teams, 1).has_value());
    {
        auto feed = w.feed();
        REQUIRE(feed.enqueue({w.post("1", w.town, "@bob first")}).has_value());
        World::drain(feed, 1000);
        w.graph->throttle = 1;
        World::drain(feed, 1000 + k_hold);
        CHECK(w.feed_of('b').empty());
        World::drain(feed, 1000 + k_hold + 2999);
        CHECK(w.feed_of('b').empty());
        World::drain(feed, 1000 + k_hold + 3000);
        CHECK(w.feed_of('b').size() == 1);
    }
    // Killed after Graph took the notification and before it was marked sent: the lease runs out, another worker
    // sends it again with the same chain id, and Teams replaces the first.
    auto crashing = w.feed();
    REQUIRE(crashing.enqueue({w.post("2", w.town, "@bob second", 50'000)}).has_value());
    World::drain(crashing, 50'000);
    w.graph->crash_after_send = true;
    CHECK_THROWS(crashing.step(50'000 + k_hold));
    w.graph->crash_after_send = false;
    auto restarted = w.feed();
    World::drain(restarted, 50'000 + k_hold + 1000);  // still leased
    CHECK(w.graph->sends == 3);
    World::drain(restarted, 50'000 + k_hold + 15'000);
    CHECK(w.graph->sends == 4);
    CHECK(w.feed_of('b').size() == 2);  // "first" and "second", each once
    CHECK(w.store->counts().value().sent == 2);
}

TEST_CASE("feed: a reply notifies the thread's followers: its starter, who replied, who was mentioned, not its author",
          "[pg]") {
    World w;
    auto feed = w.feed();
    auto const dave = w.teams_member("dave", 4);
    auto const erin = w.teams_member("erin", 5);
    auto const fred = w.teams_member("fred", 6);
    REQUIRE(w.roster->set_primary(w.bob, Platform::teams, 1).has_value());
    REQUIRE(w.roster->set_primary(w.carol, Platform::teams, 1).has_value());
    // Erin hears only of replies that mention her (Mattermost's "Notify me about replies to threads I'm following"
    // off); Fred takes no part in the thread.
    w.api->users[erin.str()].notify_props["desktop_threads"] = "mention";
    auto const root = w.stored("0", w.carol, "a question for @dave and @nobody", 100);
    w.stored("1", w.bob, "me too", 200, root.id);
    w.stored("2", erin, "same here", 300, root.id);
    auto const gone = w.stored("3", fred, "gone", 350, root.id);
    w.api->posts[gone.id.str()].delete_at = 360;  // Fred deleted his reply
    auto const reply = w.stored("4", w.alice, "an answer", 1000, root.id);
    REQUIRE(feed.enqueue({reply}).has_value());
    World::drain(feed, 1000);
    World::drain(feed, 1000 + k_hold);
    CHECK(types_of(w.feed_of('b')) == std::vector<std::string>{"threadReply"});  // replied
    CHECK(types_of(w.feed_of('c')) == std::vector<std::string>{"threadReply"});  // started it
    CHECK(types_of(w.feed_of(4)) == std::vector<std::string>{"threadReply"});    // mentioned in it
    CHECK(w.feed_of(5).empty());                                                 // mentions only
    CHECK(w.feed_of(6).empty());                                                 // his reply is deleted
    CHECK(w.api->thread_reads == 1);
    auto const& n = w.feed_of(4).front().n;
    CHECK(n.template_parameters ==
          std::vector<std::pair<std::string, std::string>>{{"author", "Alice Example"}, {"channel", "Town Square"}});
    CHECK(n.preview == "an answer");

    // Bob answers, mentioning Erin: she is told (a mention), Alice follows now that she replied, Bob does not hear
    // of his own reply.
    REQUIRE(w.roster->set_primary(w.alice, Platform::teams, 1).has_value());
    w.connect(w.alice, 'a');
    auto const second = w.stored("5", w.bob, "thanks, @erin see above", 5000, root.id);
    REQUIRE(feed.enqueue({second}).has_value());
    World::drain(feed, 5000);
    World::drain(feed, 5000 + k_hold);
    CHECK(types_of(w.feed_of(5)) == std::vector<std::string>{"mention"});
    CHECK(types_of(w.feed_of('a')) == std::vector<std::string>{"threadReply"});
    CHECK(w.feed_of('b').size() == 1);
    CHECK(w.feed_of('c').size() == 2);
    CHECK(w.feed_of(4).size() == 2);
}

TEST_CASE("feed: a channel-wide mention to 150 Teams-primary members goes out in 2 bulk requests, once to each",
          "[pg]") {
    World w;
    auto feed = w.feed();
    w.api->channel_members[w.town.str()] = {w.alice.str()};
    std::vector<MmUserId> members;
    for (int i = 0; i < 150; ++i) {
        members.push_back(w.teams_member("member" + std::to_string(i), i));
    }
    // The first reaches each alone: Microsoft's answer for one user tells whether Teams notifies them (a bulk
    // request skips, silently, whom it does not).
    REQUIRE(feed.enqueue({w.post("1", w.town, "@channel first", 1000)}).has_value());
    World::drain(feed, 1000);
    World::drain(feed, 1000 + k_hold);
    CHECK(w.graph->sends == 150);
    CHECK(w.graph->bulk_sizes.empty());

    // The next goes in bulk: 100 rows at a time, 99 and 50 recipients (one read the channel meanwhile: checked again,
    // left out).
    REQUIRE(feed.enqueue({w.post("2", w.town, "@channel second", 50'000)}).has_value());
    World::drain(feed, 50'000);
    w.api->memberships[w.town.str() + "/" + members[7].str()].last_viewed_at = 50'100;
    World::drain(feed, 50'000 + k_hold);
    CHECK(w.graph->sends == 150);
    CHECK(w.graph->bulk_sizes == std::vector<std::size_t>{99, 50});
    CHECK(w.stats->feed_bulk_requests == 2);
    for (int i = 0; i < 150; ++i) {
        INFO(i);
        auto const& f = w.feed_of(i);
        REQUIRE(f.size() == (i == 7 ? 1U : 2U));
        CHECK(f.back().n.activity_type == "channelMention");
        CHECK(f.back().n.preview == (i == 7 ? "@channel first" : "@channel second"));
    }
    auto const counts = w.store->counts().value();
    CHECK(counts.sent == 299);
    CHECK(counts.dropped == 1);
    CHECK(counts.queued == 0);
}

TEST_CASE("feed: a bulk request repeated after a crash between send and mark replaces, by its chain id", "[pg]") {
    World w;
    auto first = w.feed();
    for (int i = 0; i < 3; ++i) {
        w.teams_member("member" + std::to_string(i), i);
    }
    REQUIRE(first.enqueue({w.post("1", w.town, "@channel one", 1000)}).has_value());
    World::drain(first, 1000);
    World::drain(first, 1000 + k_hold);  // each alone: reached
    auto crashing = w.feed();
    auto const p = w.post("2", w.town, "@channel two", 50'000);
    REQUIRE(crashing.enqueue({p}).has_value());
    World::drain(crashing, 50'000);
    w.graph->crash_after_send = true;
    CHECK_THROWS(crashing.step(50'000 + k_hold));
    w.graph->crash_after_send = false;
    CHECK(w.graph->bulk_sizes == std::vector<std::size_t>{3});
    auto restarted = w.feed();
    World::drain(restarted, 50'000 + k_hold + 1000);  // still leased
    CHECK(w.graph->bulk_sizes.size() == 1);
    World::drain(restarted, 50'000 + k_hold + 15'000);
    CHECK(w.graph->bulk_sizes == std::vector<std::size_t>{3, 3});
    for (int i = 0; i < 3; ++i) {
        REQUIRE(w.feed_of(i).size() == 2);  // "one" and "two", each once
        CHECK(w.feed_of(i).back().n.chain_id == msteams::sync::feed_chain_id(p.id));
    }
    CHECK(w.store->counts().value().sent == 6);
}

TEST_CASE("feed: a refused bulk request is sent one by one, which finds who is blocked", "[pg]") {
    World w;
    auto feed = w.feed();
    for (int i = 0; i < 3; ++i) {
        w.teams_member("member" + std::to_string(i), i);
    }
    REQUIRE(feed.enqueue({w.post("1", w.town, "@channel one", 1000)}).has_value());
    World::drain(feed, 1000);
    World::drain(feed, 1000 + k_hold);
    REQUIRE(w.graph->sends == 3);

    SECTION("Microsoft refuses the whole request") {
        w.graph->refuse_bulk = true;
        w.graph->refuse.insert(teams_id(1).str());  // member1's app was removed meanwhile
        REQUIRE(feed.enqueue({w.post("2", w.town, "@channel two", 50'000)}).has_value());
        World::drain(feed, 50'000);
        World::drain(feed, 50'000 + k_hold);
        CHECK(w.graph->bulk_sizes == std::vector<std::size_t>{3});
        CHECK(w.graph->sends == 6);
        CHECK(w.feed_of(0).size() == 2);
        CHECK(w.feed_of(1).size() == 1);
        CHECK(w.feed_of(2).size() == 2);
        CHECK(feed.blocked(id("member1")).value());
        CHECK(feed.blocked_users().value() == 1);
        CHECK(w.store->counts().value().failed == 1);
    }
    SECTION("a bulk request skips a user Teams no longer notifies: found out once the recheck time has passed") {
        w.graph->refuse.insert(teams_id(1).str());
        REQUIRE(feed.enqueue({w.post("2", w.town, "@channel two", 50'000)}).has_value());
        World::drain(feed, 50'000);
        World::drain(feed, 50'000 + k_hold);
        CHECK(w.graph->bulk_sizes == std::vector<std::size_t>{3});
        CHECK(w.feed_of(1).size() == 1);  // skipped, silently
        CHECK(feed.blocked_users().value() == 0);
        std::int64_t const day = 24 * 3600 * 1000;
        REQUIRE(feed.enqueue({w.post("3", w.town, "@channel three", day + 20'000)}).has_value());
        World::drain(feed, day + 20'000);
        World::drain(feed, day + 20'000 + k_hold);
        CHECK(w.graph->bulk_sizes.size() == 1);  // each alone again: the last time was over a day ago
        CHECK(w.graph->sends == 6);
        CHECK(feed.blocked(id("member1")).value());
        CHECK(w.feed_of(0).size() == 3);
    }
}

TEST_CASE("feed: mentions are Mattermost usernames, previews are short and the templates name their parameters") {
    CHECK(msteams::sync::mention_names("Hi @Bob, ask @bob. or @carol_b! mail a@b.example @here", 10) ==
          std::vector<std::string>{"bob", "carol_b", "here"});
    CHECK(msteams::sync::mention_names("@a @b @c", 2).size() == 2);
    CHECK(msteams::sync::feed_preview("") == "(a message with attachments)");
    auto const long_text = msteams::sync::feed_preview(std::string(400, 'x'));
    CHECK(long_text.size() == 149 + std::string("…").size());
    CHECK(msteams::sync::feed_preview(std::string(300, 'a').replace(0, 2, "é")).find("é") == 0);
    for (auto const& t : msteams::sync::k_activity_types) {
        auto const params = msteams::sync::template_parameters(t.template_text);
        REQUIRE_FALSE(params.empty());
        CHECK(params.front() == "author");
    }
    CHECK(msteams::sync::template_parameters("{actor} {author} in {channel} {author}") ==
          std::vector<std::string>{"author", "channel"});
    CHECK(msteams::sync::feed_chain_id(MmPostId("a")) != msteams::sync::feed_chain_id(MmPostId("b")));
    CHECK(msteams::sync::feed_chain_id(MmPostId("a")) > 0);
    CHECK(msteams::sync::feed_chain_id(MmPostId("a")) < (std::int64_t{1} << 53));
}
