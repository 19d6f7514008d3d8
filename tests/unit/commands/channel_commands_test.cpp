// /msteams link, unlink and show, and link's autocomplete, over the in-memory store and a fake Teams directory.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <string>

#include "../fake_api.hpp"
#include "commands/channel_commands.hpp"
#include "commands/commands.hpp"
#include "fakes/memory_store.hpp"

using msteams::MmChannelId;
using msteams::MmUserId;
using msteams::Result;
using msteams::TeamsThreadId;
using msteams::commands::Dispatcher;

namespace {

MmUserId const k_owner("owner000000000000000000000");     // the channel's admin, connected to Teams
MmUserId const k_member("member00000000000000000000");    // a member, connected
MmUserId const k_stranger("stranger000000000000000000");  // not connected
MmChannelId const k_town("town0000000000000000000000");
MmChannelId const k_dm("dm000000000000000000000000");
MmChannelId const k_other("other00000000000000000000");
std::string const k_team = "a1b2c3d4-1111-4000-8000-000000000001";
TeamsThreadId const k_general("19:general@thread.tacv2");
TeamsThreadId const k_random("19:random@thread.tacv2");

class ChannelsApi final : public msteams::test::FakeApi {
public:
    Result<msteams::mm::Channel> get_channel(MmChannelId const& id) override {
        auto const it = channels.find(id.str());
        if (it == channels.end()) {
            return msteams::fail(msteams::ErrorCode::not_found, "no channel", 404);
        }
        return it->second;
    }
    std::map<std::string, msteams::mm::Channel> channels;
};

struct World {
    msteams::test::MemoryStore store;
    ChannelsApi api;
    int links_changed = 0;
    std::shared_ptr<msteams::commands::ChannelContext const> ctx;
    Dispatcher dispatcher{api};

    World() {
        api.channels[k_town.str()] = msteams::mm::Channel{k_town, 0, "team1", "O", "Town Square", "town-square", {}};
        api.channels[k_other.str()] = msteams::mm::Channel{k_other, 0, "team1", "P", "Other", "other", {}};
        api.channels[k_dm.str()] = msteams::mm::Channel{k_dm, 0, "", "D", "", "a__b", {}};
        api.channel_admins.insert(k_owner.str() + ":" + k_town.str());
        api.channel_admins.insert(k_owner.str() + ":" + k_other.str());
        api.channel_admins.insert(k_stranger.str() + ":" + k_town.str());
        msteams::commands::TeamsDirectory directory{
            [](std::string const& token) -> Result<std::vector<msteams::graph::TeamInfo>> {
                if (token != "token-owner" && token != "token-member") {
                    return msteams::fail(msteams::ErrorCode::unauthenticated, "bad token");
                }
                return std::vector<msteams::graph::TeamInfo>{{k_team, "Contoso"},
                                                             {"a1b2c3d4-1111-4000-8000-00000000000f", "Fabrikam"}};
            },
            [](std::string const&, std::string const& team) -> Result<std::vector<msteams::graph::ChannelInfo>> {
                if (team != k_team) {
                    return std::vector<msteams::graph::ChannelInfo>{};
                }
                return std::vector<msteams::graph::ChannelInfo>{{k_general, "General", "standard"},
                                                                {k_random, "Random chat", "standard"}};
            }};
        ctx = std::make_shared<msteams::commands::ChannelContext const>(
            msteams::commands::ChannelContext{store.repos,
                                              [](MmUserId const& user) -> Result<std::string> {
                                                  if (user == k_owner) {
                                                      return std::string("token-owner");
                                                  }
                                                  if (user == k_member) {
                                                      return std::string("token-member");
                                                  }
                                                  return msteams::fail(msteams::ErrorCode::not_found, "not connected");
                                              },
                                              directory, [this] { ++links_changed; }});
        msteams::commands::add_channel_commands(dispatcher, api, [this] { return ctx; }, "com.mattermost.msteams");
    }

    std::string run(std::string const& command, MmUserId const& user, MmChannelId const& channel = k_town) {
        msteams::mm::CommandArgs a;
        a.user_id = user;
        a.channel_id = channel;
        a.command = command;
        return dispatcher.execute(a).text;
    }
};

}  // namespace

TEST_CASE("channel commands: a channel admin links a channel by ids or names, once", "[commands]") {
    World w;
    auto const reply = w.run("/msteams link " + k_team + " " + k_general.str(), k_owner);
    CHECK_THAT(reply, Catch::Contains("now linked to **General** in **Contoso**"));
    CHECK(w.links_changed == 1);
    auto const portal = w.store.repos.portals->by_channel(k_town);
    REQUIRE(portal);
    REQUIRE(*portal);
    CHECK((*portal)->kind == msteams::store::PortalKind::channel);
    CHECK((*portal)->teams_team_id == k_team);
    CHECK((*portal)->teams_thread_id == k_general);
    CHECK((*portal)->creator_mm_user_id == k_owner);
    CHECK((*portal)->cursor_ms > 0);  // read from the link on, not the channel's history

    // Linked already: this channel, and that Teams channel from another Mattermost channel.
    CHECK_THAT(w.run("/msteams link Contoso General", k_owner), Catch::Contains("already linked"));
    CHECK_THAT(w.run("/msteams link Contoso General", k_owner, k_other),
               Catch::Contains("linked to another Mattermost channel already (~town-square)"));
    // A channel name with a space, by name, in another channel.
    CHECK_THAT(w.run("/msteams link contoso random chat", k_owner, k_other), Catch::Contains("**Random chat**"));
    CHECK(w.links_changed == 2);
}

TEST_CASE("channel commands: who may link, and what", "[commands]") {
    World w;
    CHECK_THAT(w.run("/msteams link Contoso General", k_member), Catch::Contains("Only an admin of this channel"));
    CHECK_THAT(w.run("/msteams link Contoso General", k_stranger), Catch::Contains("/msteams connect"));
    CHECK_THAT(w.run("/msteams link Contoso General", k_owner, k_dm), Catch::Contains("direct and group messages"));
    CHECK_THAT(w.run("/msteams link Nowhere General", k_owner),
               Catch::Contains("not a member of a Microsoft Teams team"));
    CHECK_THAT(w.run("/msteams link Contoso Nope", k_owner), Catch::Contains("no channel **Nope**"));
    CHECK_THAT(w.run("/msteams link Contoso", k_owner), Catch::Contains("Usage"));
    CHECK(w.links_changed == 0);
    auto const portal = w.store.repos.portals->by_channel(k_town);
    REQUIRE(portal);
    CHECK_FALSE(*portal);
    // A system admin may, in any channel.
    w.api.admins.insert(k_member.str());
    CHECK_THAT(w.run("/msteams link Contoso General", k_member), Catch::Contains("now linked"));
}

TEST_CASE("channel commands: show and unlink", "[commands]") {
    World w;
    CHECK_THAT(w.run("/msteams show", k_member), Catch::Contains("not linked"));
    CHECK_THAT(w.run("/msteams unlink", k_owner), Catch::Contains("not linked"));
    REQUIRE_THAT(w.run("/msteams link Contoso General", k_owner), Catch::Contains("now linked"));
    msteams::mm::User olivia;
    olivia.id = k_owner;
    olivia.username = "olivia";
    w.api.users[k_owner.str()] = olivia;
    auto const shown = w.run("/msteams show", k_member);
    CHECK_THAT(shown, Catch::Contains("**General**") && Catch::Contains("**Contoso**") && Catch::Contains("@olivia"));
    CHECK_THAT(w.run("/msteams show", k_stranger), Catch::Contains(k_general.str()));  // ids without a connection
    CHECK_THAT(w.run("/msteams unlink", k_member), Catch::Contains("Only an admin of this channel"));
    CHECK_THAT(w.run("/msteams unlink", k_owner), Catch::Contains("no longer linked"));
    CHECK(w.links_changed == 2);
    auto const portal = w.store.repos.portals->by_thread(k_general);
    REQUIRE(portal);
    CHECK_FALSE(*portal);
}

TEST_CASE("channel commands: link's arguments are suggested from what the user sees in Teams", "[commands]") {
    World w;
    auto const registration = nlohmann::json::parse(w.dispatcher.registration("").autocomplete_data_json);
    nlohmann::json link;
    for (auto const& sub : registration["SubCommands"]) {
        if (sub["Trigger"] == "link") {
            link = sub;
        }
    }
    REQUIRE(link["Arguments"].size() == 2);
    CHECK(link["Arguments"][0]["Type"] == "DynamicList");
    CHECK(link["Arguments"][0]["Data"]["FetchURL"] == "plugins/com.mattermost.msteams/autocomplete/teams");
    CHECK(link["Arguments"][1]["Data"]["FetchURL"] == "plugins/com.mattermost.msteams/autocomplete/channels");

    auto teams = msteams::commands::suggest_teams(*w.ctx, k_owner, "con");
    REQUIRE(teams);
    REQUIRE(teams->size() == 1);
    CHECK(teams->front().item == k_team);
    CHECK(teams->front().help == "Contoso");
    auto channels = msteams::commands::suggest_channels(*w.ctx, k_owner, "msteams link " + k_team + " ", "");
    REQUIRE(channels);
    CHECK(channels->size() == 2);
    auto const json = nlohmann::json::parse(msteams::commands::suggestions_json(*channels));
    CHECK(json[0]["Item"] == k_general.str());
    CHECK(json[1]["HelpText"] == "Random chat");
    auto none = msteams::commands::suggest_teams(*w.ctx, k_stranger, "");
    REQUIRE(none);
    REQUIRE(none->size() == 1);
    CHECK_THAT(none->front().help, Catch::Contains("/msteams connect"));
}
