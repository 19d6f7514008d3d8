#include <catch2/catch.hpp>

#include <string>

#include "convert/convert.hpp"
#include "convert/detail/emoji_table.hpp"

namespace c = msteams::convert;

TEST_CASE("convert: emoji names map to unicode, aliases included", "[convert]") {
    CHECK(c::emoji_to_unicode("+1") == "\xF0\x9F\x91\x8D");
    CHECK(c::emoji_to_unicode("thumbsup") == "\xF0\x9F\x91\x8D");
    CHECK(c::emoji_to_unicode("smile") == "\xF0\x9F\x98\x84");
    CHECK(c::emoji_to_unicode("joy") == "\xF0\x9F\x98\x82");
    CHECK(c::emoji_to_unicode("heart") == "\xE2\x9D\xA4\xEF\xB8\x8F");
    CHECK(c::emoji_to_unicode("laughing") == c::emoji_to_unicode("satisfied"));
    CHECK(c::emoji_to_unicode("white_check_mark") == "\xE2\x9C\x85");
    CHECK_FALSE(c::emoji_to_unicode("").has_value());
    CHECK_FALSE(c::emoji_to_unicode("custom_party_parrot").has_value());
    CHECK_FALSE(c::emoji_to_unicode("Smile").has_value());  // names are lower case
}

TEST_CASE("convert: emoji skin tones use mattermost names and accept slack style", "[convert]") {
    CHECK(c::emoji_to_unicode("+1_light_skin_tone") == "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBB");
    CHECK(c::emoji_to_unicode("thumbsup_dark_skin_tone") == "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBF");
    CHECK(c::emoji_to_unicode("+1::skin-tone-2") == c::emoji_to_unicode("+1_light_skin_tone"));
    CHECK(c::emoji_to_unicode("+1::skin-tone-5") == c::emoji_to_unicode("+1_medium_dark_skin_tone"));
    CHECK(c::emoji_to_unicode("+1::skin-tone-6") == c::emoji_to_unicode("+1_dark_skin_tone"));
    CHECK(c::emoji_to_unicode("+1::skin-tone-1") == c::emoji_to_unicode("+1"));
    CHECK_FALSE(c::emoji_to_unicode("+1::skin-tone-7").has_value());
    CHECK_FALSE(c::emoji_to_unicode("joy::skin-tone-2").has_value());  // no toned variant exists
    CHECK(c::unicode_to_emoji("\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD") == "+1_medium_skin_tone");
}

TEST_CASE("convert: unicode maps back to the primary emoji name", "[convert]") {
    CHECK(c::unicode_to_emoji("\xF0\x9F\x91\x8D") == "+1");
    CHECK(c::unicode_to_emoji("\xF0\x9F\x98\x84") == "smile");
    CHECK(c::unicode_to_emoji("\xE2\x9D\xA4\xEF\xB8\x8F") == "heart");
    CHECK(c::unicode_to_emoji("\xE2\x9D\xA4") == "heart");  // without the variation selector
    CHECK_FALSE(c::unicode_to_emoji("a").has_value());
    CHECK_FALSE(c::unicode_to_emoji("").has_value());
    CHECK_FALSE(c::unicode_to_emoji(std::string(100, 'x')).has_value());
    // Every name maps to Unicode that maps back to a name with the same Unicode.
    for (auto const& e : msteams::convert::detail::emoji_by_name()) {
        auto const back = c::unicode_to_emoji(e.unicode);
        INFO(e.name);
        REQUIRE(back.has_value());
        CHECK(c::emoji_to_unicode(*back) == e.unicode);
    }
    CHECK(msteams::convert::detail::emoji_by_name().size() > 3000);
}

TEST_CASE("convert: teams reactions map to mattermost emoji and back", "[convert]") {
    CHECK(c::reaction_to_emoji("like") == "+1");
    CHECK(c::reaction_to_emoji("heart") == "heart");
    CHECK(c::reaction_to_emoji("laugh") == "laughing");
    CHECK(c::reaction_to_emoji("surprised") == "open_mouth");
    CHECK(c::reaction_to_emoji("sad") == "cry");
    CHECK(c::reaction_to_emoji("angry") == "angry");
    CHECK(c::reaction_to_emoji("checkmarkbutton") == "white_check_mark");
    CHECK(c::reaction_to_emoji("\xF0\x9F\x98\x84") == "smile");
    CHECK(c::reaction_to_emoji("\xF0\x9F\x92\x98") == "cupid");
    CHECK_FALSE(c::reaction_to_emoji("somethingnew").has_value());
    CHECK_FALSE(c::reaction_to_emoji("").has_value());

    CHECK(c::emoji_to_reaction("+1") == "like");
    CHECK(c::emoji_to_reaction("thumbsup") == "like");
    CHECK(c::emoji_to_reaction("heart") == "heart");
    CHECK(c::emoji_to_reaction("laughing") == "laugh");
    CHECK(c::emoji_to_reaction("satisfied") == "laugh");
    CHECK(c::emoji_to_reaction("open_mouth") == "surprised");
    CHECK(c::emoji_to_reaction("cry") == "sad");
    CHECK(c::emoji_to_reaction("angry") == "angry");
    CHECK(c::emoji_to_reaction("smile") == "\xF0\x9F\x98\x84");
    CHECK(c::emoji_to_reaction("+1_dark_skin_tone") == "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBF");
    CHECK(c::emoji_to_reaction("white_check_mark") == "\xE2\x9C\x85");
    CHECK_FALSE(c::emoji_to_reaction("custom_party_parrot").has_value());
    // The six round-trip.
    for (char const* r : {"like", "heart", "laugh", "surprised", "sad", "angry"}) {
        CHECK(c::emoji_to_reaction(c::reaction_to_emoji(r).value()) == r);
    }
}
