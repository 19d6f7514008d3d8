#include <catch2/catch.hpp>

#include <string>
#include <unordered_set>

#include "common/ids.hpp"

using msteams::MmChannelId;
using msteams::MmPostId;
using msteams::SubscriptionId;
using msteams::TeamsMessageId;
using msteams::TeamsThreadId;
using msteams::TeamsUserId;

TEST_CASE("Teams conversation ids of every kind parse, and text that could escape a URL path does not") {
    for (char const* ok :
         {"19:a1b2c3d4e5f60718293a4b5c6d7e8f90@thread.v2", "19:meeting_MjA0@thread.v2",
          "19:3c0b6d1e-0000-4000-8000-000000000001_5d2e7f3a-0000-4000-8000-000000000002@unq.gbl.spaces",
          "19:1f2e3d4c5b6a@thread.tacv2", "48:notes"}) {
        INFO(ok);
        auto const id = TeamsThreadId::parse(ok);
        REQUIRE(id);
        CHECK(id->str() == ok);
    }
    for (char const* bad : {"", "19:", ":abc", "chat-1", "x9:abc", "19:a b", "19:a/b", "19:a'b", "19:a?b", "19:a#b",
                            "19:a\\b", "19:a\"b", "19:caf\xC3\xA9", "19:a\nb"}) {
        INFO(bad);
        CHECK_FALSE(TeamsThreadId::parse(bad));
    }
    CHECK(TeamsThreadId::parse("19:" + std::string(509, 'a')));
    CHECK_FALSE(TeamsThreadId::parse("19:" + std::string(510, 'a')));
}

TEST_CASE("Teams message ids are decimal milliseconds and nothing else") {
    CHECK(TeamsMessageId::parse("1677774058888"));
    CHECK(TeamsMessageId::parse("0"));
    CHECK(TeamsMessageId::parse("18446744073709551615"));
    CHECK_FALSE(TeamsMessageId::parse("184467440737095516150"));
    CHECK_FALSE(TeamsMessageId::parse(""));
    CHECK_FALSE(TeamsMessageId::parse("16777740588x8"));
    CHECK_FALSE(TeamsMessageId::parse("-1"));
    CHECK_FALSE(TeamsMessageId::parse(" 1"));
}

TEST_CASE("Teams user ids are Entra object ids and subscription ids are plain tokens") {
    CHECK(TeamsUserId::parse("5d2e7f3a-0000-4000-8000-000000000002"));
    CHECK(TeamsUserId::parse("5D2E7F3A-0000-4000-8000-000000000002"));
    CHECK_FALSE(TeamsUserId::parse("5d2e7f3a00004000800000000000002"));
    CHECK_FALSE(TeamsUserId::parse("jane@contoso.com"));
    CHECK(SubscriptionId::parse("7f105c7d-2dc5-4530-97cd-4e7ae6534c07"));
    CHECK(SubscriptionId::parse("sub-1"));
    CHECK_FALSE(SubscriptionId::parse(""));
    CHECK_FALSE(SubscriptionId::parse("a b"));
    CHECK_FALSE(SubscriptionId::parse(std::string(129, 'a')));
}

TEST_CASE("Mattermost ids are 26 lower-case letters and digits") {
    CHECK(MmPostId::parse("8xk3tbw7n7gdpfu1yzq5c9hqfr"));
    CHECK_FALSE(MmPostId::parse("8xk3tbw7n7gdpfu1yzq5c9hqf"));
    CHECK_FALSE(MmPostId::parse("8XK3TBW7N7GDPFU1YZQ5C9HQFR"));
    CHECK_FALSE(MmPostId::parse("8xk3tbw7n7gdpfu1yzq5c9hq-r"));
}

TEST_CASE("ids of one kind compare and hash by value, and an empty id is no id") {
    MmChannelId const a("aaaaaaaaaaaaaaaaaaaaaaaaaa");
    MmChannelId const b("bbbbbbbbbbbbbbbbbbbbbbbbbb");
    CHECK(a == MmChannelId("aaaaaaaaaaaaaaaaaaaaaaaaaa"));
    CHECK(a < b);
    CHECK(MmChannelId().empty());
    std::unordered_set<MmChannelId> const set{a, b, a};
    CHECK(set.size() == 2);
}
