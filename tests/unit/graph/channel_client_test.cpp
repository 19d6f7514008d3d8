// graph::Client on linked channels, against the Microsoft 365 emulator: roots and replies (a reply known as
// "<root>/<reply>"), edits, deletes and reactions through the reply path, a channel read forward with its replies,
// the teams and channels a user sees, and the team's budget.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>

#include "common/strings.hpp"
#include "graph/client.hpp"
#include "graph/emulator.hpp"

using msteams::ErrorCode;
using msteams::TeamsMessageId;
using msteams::TeamsThreadId;
using msteams::graph::Client;
using msteams::graph::Limits;
using msteams::graph::NewMessage;
using msteams::graph::Thread;
using msteams::test::Emulator;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr char const* k_adele_upn = "adele@contoso.onmicrosoft.com";

bool contains(std::string const& haystack, std::string const& needle) {
    return haystack.find(needle) != std::string::npos;
}

Limits unlimited() {
    Limits l;
    l.deadline = 10s;
    l.chat_reads_per_second = 0;
    l.chat_posts_per_second = 0;
    l.chat_writes_per_second = 0;
    l.tenant_reads_per_second = 0;
    l.tenant_posts_per_second = 0;
    l.team_requests_per_second = 0;
    return l;
}

// The emulator's built-in team and its General channel.
std::pair<std::string, std::string> general(Emulator const& emu) {
    auto const teams = emu.control_ok("GET", "/teams");
    auto const& team = teams.at("value").at(0);
    return {team.at("id").get<std::string>(), team.at("channels").at(0).at("id").get<std::string>()};
}

NewMessage text(std::string html, TeamsMessageId reply_to = {}) {
    NewMessage m;
    m.html = std::move(html);
    m.reply_to = std::move(reply_to);
    return m;
}

}  // namespace

TEST_CASE("graph: channel roots and replies, edited, reacted to and deleted through their ids", "[graph]") {
    Emulator emu;
    auto const [team, channel] = general(emu);
    auto const adele = emu.user_token(k_adele_upn).access_token;
    Client client(emu.http, emu.graph_url(), unlimited());
    Thread const thread(team, TeamsThreadId(channel));

    auto root = client.send_message(adele, thread, text("<p>a root</p>"));
    REQUIRE(root);
    CHECK_FALSE(msteams::graph::is_channel_reply(root->id));
    auto reply = client.send_message(adele, thread, text("<p>a reply</p>", root->id));
    REQUIRE(reply);
    REQUIRE(msteams::graph::is_channel_reply(reply->id));
    CHECK(msteams::graph::channel_root_of(reply->id) == root->id);
    CHECK(reply->reply_to_id == root->id);
    // A reply to a reply goes to the same root.
    auto again = client.send_message(adele, thread, text("<p>and another</p>", reply->id));
    REQUIRE(again);
    CHECK(msteams::graph::channel_root_of(again->id) == root->id);

    auto got = client.get_message(adele, thread, reply->id);
    REQUIRE(got);
    CHECK(got->id == reply->id);
    CHECK(contains(got->body, "a reply"));
    REQUIRE(client.update_message(adele, thread, reply->id, text("<p>a reply, edited</p>")));
    REQUIRE(client.set_reaction(adele, thread, reply->id, "like"));
    got = client.get_message(adele, thread, reply->id);
    REQUIRE(got);
    CHECK(contains(got->body, "edited"));
    REQUIRE(got->reactions.size() == 1);
    REQUIRE(client.soft_delete_message(adele, {}, thread, reply->id));
    got = client.get_message(adele, thread, reply->id);
    REQUIRE(got);
    CHECK(got->deleted_at > 0);
    // The root was untouched by all of it.
    auto const stored = emu.control_ok(
        "GET", "/teams/" + team + "/channels/" + msteams::strings::url_encode(channel) + "/messages/" + root->id.str());
    CHECK(stored.at("deletedDateTime").is_null());

    // Read forward: roots and replies changed since, oldest first, replies under their "<root>/<reply>" ids.
    auto page = client.list_oldest_messages_since(adele, thread, root->created_at - 1, 100);
    REQUIRE(page);
    std::vector<std::string> ids;
    for (auto const& m : page->messages) {
        ids.push_back(m.id.str());
    }
    CHECK(ids.size() == 3);
    CHECK(std::find(ids.begin(), ids.end(), root->id.str()) != ids.end());
    CHECK(std::find(ids.begin(), ids.end(), reply->id.str()) != ids.end());
    CHECK(std::find(ids.begin(), ids.end(), again->id.str()) != ids.end());
    for (std::size_t i = 1; i < page->messages.size(); ++i) {
        CHECK(page->messages[i - 1].last_modified_at <= page->messages[i].last_modified_at);
    }
    auto later = client.list_oldest_messages_since(adele, thread, page->messages.back().last_modified_at + 1, 100);
    REQUIRE(later);
    CHECK(later->messages.empty());

    // A reply in a chat is refused before any request.
    auto const before = client.counters().requests;
    auto chat_reply = client.send_message(adele, Thread(TeamsThreadId("19:x@thread.v2")), text("<p>x</p>", root->id));
    REQUIRE_FALSE(chat_reply);
    CHECK(chat_reply.error().code == ErrorCode::invalid_argument);
    CHECK(client.counters().requests == before);
}

TEST_CASE("graph: the teams and channels a user sees", "[graph]") {
    Emulator emu;
    auto const [team, channel] = general(emu);
    auto const adele = emu.user_token(k_adele_upn).access_token;
    Client client(emu.http, emu.graph_url(), unlimited());
    auto teams = client.list_joined_teams(adele);
    REQUIRE(teams);
    REQUIRE_FALSE(teams->empty());
    CHECK(teams->front().id == team);
    CHECK_FALSE(teams->front().display_name.empty());
    auto channels = client.list_channels(adele, team);
    REQUIRE(channels);
    REQUIRE(channels->size() >= 2);
    CHECK(channels->front().id.str() == channel);
    auto one = client.get_channel(adele, team, TeamsThreadId(channel));
    REQUIRE(one);
    CHECK(one->display_name == channels->front().display_name);
}

TEST_CASE("graph: requests about a team's channels share the team's budget", "[graph]") {
    Emulator emu;
    auto const [team, channel] = general(emu);
    auto const adele = emu.user_token(k_adele_upn).access_token;
    auto limits = unlimited();
    limits.team_requests_per_second = 5;  // a burst of 5, then 200 ms apart
    Client client(emu.http, emu.graph_url(), limits);
    Thread const thread(team, TeamsThreadId(channel));
    auto const started = std::chrono::steady_clock::now();
    for (int i = 0; i < 8; ++i) {
        REQUIRE(client.send_message(adele, thread, text("<p>paced " + std::to_string(i) + "</p>")));
    }
    // 3 past the burst, each 200 ms after the one before.
    CHECK(std::chrono::steady_clock::now() - started >= 550ms);
    CHECK(client.counters().waited_ms >= 400);  // each wait starts when its request asks, after the one before ended
}
