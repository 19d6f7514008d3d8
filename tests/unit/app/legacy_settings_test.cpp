// The official plugin's settings that this plugin reads under another name, carried over once.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "app/config.hpp"

using msteams::app::carry_over_legacy_settings;

namespace {

nlohmann::json carried_json(std::string const& in) {
    return nlohmann::json::parse(carry_over_legacy_settings(in).settings_json);
}

}  // namespace

TEST_CASE("legacy settings: chat mirroring of v1.14 and v1.15 becomes chatSync = mirror") {
    auto const a =
        carry_over_legacy_settings(R"({"tenantid":"t","syncdirectmessages":true,"syncgroupmessages":false})");
    REQUIRE(a.carried.size() == 1);
    CHECK(a.carried[0] == "chatSync = mirror (from syncDirectMessages)");
    CHECK(nlohmann::json::parse(a.settings_json).at("chatsync") == "mirror");
    CHECK(nlohmann::json::parse(a.settings_json).at("tenantid") == "t");  // the rest stays
    // v1.15's hidden setting, in System Console's case and as a string.
    auto const b = carry_over_legacy_settings(R"({"experimentalSyncChats":"true","syncnotifications":true})");
    REQUIRE(b.carried.size() == 1);
    CHECK(b.carried[0] == "chatSync = mirror (from experimentalSyncChats)");
}

TEST_CASE("legacy settings: notifications only, and no chats at all") {
    CHECK(carried_json(R"({"syncnotifications":true,"syncdirectmessages":false,"syncgroupmessages":false})")
              .at("chatsync") == "notifications");
    auto const off = carry_over_legacy_settings(
        R"({"syncnotifications":false,"syncdirectmessages":false,"syncgroupmessages":false})");
    REQUIRE(off.carried.size() == 1);
    CHECK(off.carried[0] == "chatSync = off (from syncDirectMessages, syncGroupMessages, syncNotifications)");
    CHECK(nlohmann::json::parse(off.settings_json).at("chatsync") == "off");
}

TEST_CASE("legacy settings: nothing is carried over when ours is set or the old values say nothing") {
    // Set already (the admin saved this plugin's settings, or a carry-over ran before): once only.
    CHECK(carry_over_legacy_settings(R"({"chatSync":"off","syncdirectmessages":true})").carried.empty());
    // v2.x: notifications were always on whatever the stored value; a lone false says nothing.
    CHECK(carry_over_legacy_settings(R"({"syncnotifications":false})").carried.empty());
    CHECK(carry_over_legacy_settings(R"({"tenantid":"t"})").carried.empty());
    CHECK(carry_over_legacy_settings("").carried.empty());
    CHECK(carry_over_legacy_settings("[1]").carried.empty());
    CHECK(carry_over_legacy_settings("{").settings_json == "{");
    // Applied twice, the second changes nothing.
    auto const first = carry_over_legacy_settings(R"({"syncgroupmessages":true})");
    CHECK(carry_over_legacy_settings(first.settings_json).carried.empty());
}
