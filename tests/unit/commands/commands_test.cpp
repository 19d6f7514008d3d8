#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "../fake_api.hpp"
#include "../store/pg_support.hpp"
#include "commands/admin_commands.hpp"
#include "commands/commands.hpp"
#include "common/strings.hpp"
#include "store/repositories.hpp"

using msteams::commands::Dispatcher;
using msteams::commands::SubCommand;

namespace {

msteams::mm::CommandArgs args_for(std::string command, std::string user = "user1") {
    msteams::mm::CommandArgs a;
    a.user_id = msteams::MmUserId(std::move(user));
    a.channel_id = msteams::MmChannelId("channel1");
    a.command = std::move(command);
    return a;
}

}  // namespace

TEST_CASE("commands: /msteams alone and /msteams help answer the help text", "[commands]") {
    msteams::test::FakeApi api;
    Dispatcher d(api);
    for (auto const* cmd : {"/msteams", "/msteams   ", "/msteams help", "/MSTEAMS HELP"}) {
        auto const r = d.execute(args_for(cmd));
        CHECK(r.response_type == "ephemeral");
        CHECK_THAT(r.text, Catch::Contains("MS Teams commands") && Catch::Contains("/msteams help"));
        CHECK_THAT(r.text, !Catch::Contains("Unknown command"));
    }
}

TEST_CASE("commands: an unknown sub-command says so and shows the help", "[commands]") {
    msteams::test::FakeApi api;
    Dispatcher d(api);
    auto const r = d.execute(args_for("/msteams frobnicate now"));
    CHECK_THAT(r.text, Catch::Contains("Unknown command: `frobnicate`") && Catch::Contains("/msteams help"));
}

TEST_CASE("commands: a long unknown sub-command is echoed cut on a character boundary", "[commands]") {
    msteams::test::FakeApi api;
    Dispatcher d(api);
    // 63 bytes, then "é": the 64-byte echo limit falls inside the character.
    auto const r = d.execute(args_for("/msteams " + std::string(63, 'x') + "\xC3\xA9\xC3\xA9"));
    CHECK(msteams::strings::is_valid_utf8(r.text));  // else the reply cannot cross gRPC to Mattermost
    CHECK_THAT(r.text, Catch::Contains("Unknown command: `" + std::string(63, 'x') + "`"));
}

TEST_CASE("commands: admin-only sub-commands are hidden from and refused to other users", "[commands]") {
    msteams::test::FakeApi api;
    api.admins.insert("admin1");
    Dispatcher d(api);
    int runs = 0;
    d.add(SubCommand{"show-links", "", "List linked channels.", true, [&](auto const& inv) {
                         ++runs;
                         return msteams::Result<std::string>("links for " + inv.args.user_id.str());
                     }});
    CHECK_THAT(d.execute(args_for("/msteams help", "user1")).text, !Catch::Contains("show-links"));
    CHECK_THAT(d.execute(args_for("/msteams help", "admin1")).text, Catch::Contains("show-links"));
    CHECK_THAT(d.execute(args_for("/msteams show-links", "user1")).text, Catch::Contains("for system admins only"));
    CHECK(runs == 0);
    CHECK(d.execute(args_for("/msteams show-links", "admin1")).text == "links for admin1");
    CHECK(runs == 1);
}

TEST_CASE("commands: arguments reach the sub-command — its errors and exceptions become replies", "[commands]") {
    msteams::test::FakeApi api;
    Dispatcher d(api);
    d.add(SubCommand{"echo", "[words]", "Echo.", false, [](auto const& inv) {
                         if (inv.words.empty()) {
                             return msteams::Result<std::string>(
                                 msteams::fail(msteams::ErrorCode::invalid_argument, "Say something."));
                         }
                         return msteams::Result<std::string>(inv.words[0] + "|" + inv.words.back());
                     }});
    d.add(SubCommand{"boom", "", "Throws.", false,
                     [](auto const&) -> msteams::Result<std::string> { throw std::runtime_error("kaput"); }});
    CHECK(d.execute(args_for("/msteams echo  a\tb  c ")).text == "a|c");
    CHECK(d.execute(args_for("/msteams echo")).text == "Say something.");
    auto const boom = d.execute(args_for("/msteams boom"));
    CHECK_THAT(boom.text, Catch::Contains("Something went wrong"));
    CHECK_THAT(boom.text, !Catch::Contains("kaput"));  // details go to the log, not to the user
}

TEST_CASE("commands: overlong input is refused without parsing", "[commands]") {
    msteams::test::FakeApi api;
    Dispatcher d(api);
    auto const r = d.execute(args_for("/msteams " + std::string(5000, 'x')));
    CHECK_THAT(r.text, Catch::Contains("too long"));
}

TEST_CASE("commands: the registration carries autocomplete data for every sub-command", "[commands]") {
    msteams::test::FakeApi api;
    Dispatcher d(api);
    d.add(SubCommand{"status", "", "Show your connection.", false,
                     [](auto const&) { return msteams::Result<std::string>("ok"); }});
    d.add(SubCommand{"promote", "[username] [new-username]", "Promote.", true,
                     [](auto const&) { return msteams::Result<std::string>("ok"); }});
    auto const cmd = d.registration("<svg/>");
    CHECK(cmd.trigger == "msteams");
    CHECK(cmd.auto_complete);
    CHECK(cmd.icon == "<svg/>");
    auto const data = nlohmann::json::parse(cmd.autocomplete_data_json);
    CHECK(data["Trigger"] == "msteams");
    REQUIRE(data["SubCommands"].size() == 3);
    CHECK(data["SubCommands"][1]["Trigger"] == "status");
    // Mattermost offers an entry to users with its role: every user sees /msteams and the user sub-commands.
    CHECK(data["RoleID"] == "system_user");
    CHECK(data["SubCommands"][0]["RoleID"] == "system_user");
    CHECK(data["SubCommands"][1]["RoleID"] == "system_user");
    CHECK(data["SubCommands"][2]["RoleID"] == "system_admin");
    CHECK(data["SubCommands"][2]["Hint"] == "[username] [new-username]");
}

TEST_CASE("commands: system admins see dead letters in /msteams status and put them back — others cannot",
          "[commands][pg]") {
    msteams::test::TempDatabase temp;
    auto repos = msteams::store::postgres_repositories(temp.open_migrated());
    msteams::test::FakeApi api;
    api.admins.insert("admin1");
    Dispatcher d(api);
    d.add(SubCommand{"status", "", "Show your connection.", false,
                     [](auto const&) { return msteams::Result<std::string>("You are connected."); }});
    auto const ctx = std::make_shared<msteams::commands::AdminContext const>(msteams::commands::AdminContext{
        repos, msteams::sync::SyntheticAuth{}, [] { return std::string("\n\n#### Bridge status (node mm-1)"); }});
    msteams::commands::add_admin_commands(d, api, [ctx] { return ctx; });

    CHECK_THAT(d.execute(args_for("/msteams status", "admin1")).text,
               Catch::Contains("You are connected.") && Catch::Contains("Bridge status (node mm-1)") &&
                   Catch::Contains("No dead letters"));
    REQUIRE(repos.db->transact([&](msteams::store::Tx& tx) {
        return repos.inbox->dead_letter_message(tx, msteams::TeamsThreadId("19:chat@thread.v2"),
                                                msteams::TeamsMessageId("1"), "Mattermost refused | the post", 5, 1000);
    }));
    auto const admin_view = d.execute(args_for("/msteams status", "admin1")).text;
    CHECK_THAT(admin_view, Catch::Contains("You are connected.") && Catch::Contains("Dead letters: 1") &&
                               Catch::Contains("19:chat@thread.v2") &&
                               Catch::Contains("Mattermost refused   the post"));
    CHECK(d.execute(args_for("/msteams status", "user1")).text == "You are connected.");

    CHECK_THAT(d.execute(args_for("/msteams retry-dead-letters all", "user1")).text,
               Catch::Contains("for system admins only"));
    CHECK_THAT(d.execute(args_for("/msteams retry-dead-letters x1", "admin1")).text,
               Catch::Contains("is not a dead-letter id"));
    CHECK_THAT(d.execute(args_for("/msteams retry-dead-letters 999", "admin1")).text,
               Catch::Contains("There is no dead letter 999"));
    CHECK_THAT(d.execute(args_for("/msteams retry-dead-letters all", "admin1")).text,
               Catch::Contains("1 change was put back"));
    CHECK(repos.dead_letters->count().value() == 0);
    CHECK(repos.inbox->size().value() == 1);

    // Discarded: gone for good, nothing put back.
    REQUIRE(repos.db->transact([&](msteams::store::Tx& tx) {
        return repos.inbox->dead_letter_message(tx, msteams::TeamsThreadId("19:chat@thread.v2"),
                                                msteams::TeamsMessageId("2"), "refused", 5, 1000);
    }));
    CHECK_THAT(d.execute(args_for("/msteams discard-dead-letters all", "user1")).text,
               Catch::Contains("for system admins only"));
    CHECK_THAT(d.execute(args_for("/msteams discard-dead-letters", "admin1")).text,
               Catch::Contains("Usage: `/msteams discard-dead-letters [id|all]`"));
    CHECK_THAT(d.execute(args_for("/msteams discard-dead-letters -3", "admin1")).text,
               Catch::Contains("is not a dead-letter id"));
    CHECK_THAT(d.execute(args_for("/msteams discard-dead-letters all", "admin1")).text,
               Catch::Contains("1 change was discarded"));
    CHECK(repos.dead_letters->count().value() == 0);
    CHECK(repos.inbox->size().value() == 1);
    CHECK_THAT(d.execute(args_for("/msteams discard-dead-letters all", "admin1")).text,
               Catch::Contains("There are no dead letters"));

    auto const data = nlohmann::json::parse(d.registration("<svg/>").autocomplete_data_json);
    bool listed = false;
    for (auto const& sub : data["SubCommands"]) {
        if (sub["Trigger"] == "retry-dead-letters") {
            listed = true;
            CHECK(sub["RoleID"] == "system_admin");
            CHECK(sub["Hint"] == "[id|all]");
        }
    }
    CHECK(listed);
}
