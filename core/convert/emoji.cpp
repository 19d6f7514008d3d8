// Emoji names ⇄ Unicode and Teams reactions. The tables are generated (detail/emoji_table.cpp).

#include <algorithm>
#include <array>
#include <string>
#include <string_view>

#include "convert/convert.hpp"
#include "convert/detail/emoji_table.hpp"

namespace msteams::convert {
namespace {

constexpr std::string_view k_vs16 = "\xEF\xB8\x8F";  // U+FE0F VARIATION SELECTOR-16

// Teams' classic reactions and the Mattermost emoji each stands for.
struct ClassicReaction {
    std::string_view teams;
    std::string_view emoji;
};
constexpr std::array<ClassicReaction, 7> k_classic_reactions{{
    {"like", "+1"},
    {"heart", "heart"},
    {"laugh", "laughing"},
    {"surprised", "open_mouth"},
    {"sad", "cry"},
    {"angry", "angry"},
    {"checkmarkbutton", "white_check_mark"},  // seen from Teams; set back as Unicode
}};
constexpr std::size_t k_six = 6;  // the first six are the reactionTypes Teams knows by name

// Slack-style skin tones ("+1::skin-tone-2"), which some clients send, in Mattermost's naming. skin-tone-1 is
// no tone at all.
constexpr std::array<std::string_view, 6> k_slack_tones{"",
                                                        "_light_skin_tone",
                                                        "_medium_light_skin_tone",
                                                        "_medium_skin_tone",
                                                        "_medium_dark_skin_tone",
                                                        "_dark_skin_tone"};

std::optional<std::string_view> lookup_name(std::string_view name) {
    auto const table = detail::emoji_by_name();
    auto const it = std::ranges::lower_bound(table, name, {}, &detail::EmojiName::name);
    if (it == table.end() || it->name != name) {
        return std::nullopt;
    }
    return it->unicode;
}

}  // namespace

std::optional<std::string_view> emoji_to_unicode(std::string_view name) {
    if (auto const found = lookup_name(name)) {
        return found;
    }
    // "+1::skin-tone-3" → "+1_medium_light_skin_tone"; the table is the authority.
    constexpr std::string_view k_marker = "::skin-tone-";
    auto const at = name.find(k_marker);
    if (at == std::string_view::npos || at + k_marker.size() + 1 != name.size()) {
        return std::nullopt;
    }
    char const digit = name.back();
    if (digit < '1' || digit > '6') {
        return std::nullopt;
    }
    std::string composed(name.substr(0, at));
    composed += k_slack_tones.at(static_cast<std::size_t>(digit - '1'));
    return lookup_name(composed);
}

std::optional<std::string_view> unicode_to_emoji(std::string_view unicode) {
    if (unicode.empty() || unicode.size() > 64) {
        return std::nullopt;
    }
    std::string key;
    key.reserve(unicode.size());
    for (std::size_t i = 0; i < unicode.size();) {
        if (unicode.substr(i, k_vs16.size()) == k_vs16) {
            i += k_vs16.size();
        } else {
            key += unicode[i++];
        }
    }
    auto const table = detail::emoji_by_glyph();
    auto const it = std::ranges::lower_bound(table, std::string_view(key), {}, &detail::EmojiGlyph::glyph);
    if (it == table.end() || it->glyph != key) {
        return std::nullopt;
    }
    return it->name;
}

std::optional<std::string> reaction_to_emoji(std::string_view reaction_type) {
    for (auto const& r : k_classic_reactions) {
        if (r.teams == reaction_type) {
            return std::string(r.emoji);
        }
    }
    if (auto const name = unicode_to_emoji(reaction_type)) {
        return std::string(*name);
    }
    return std::nullopt;
}

std::optional<std::string> emoji_to_reaction(std::string_view emoji_name) {
    auto const unicode = emoji_to_unicode(emoji_name);
    if (!unicode) {
        return std::nullopt;
    }
    // Compare glyphs, not names: "thumbsup" and "satisfied" are aliases of two of the six.
    for (std::size_t i = 0; i < k_six; ++i) {
        if (emoji_to_unicode(k_classic_reactions.at(i).emoji) == unicode) {
            return std::string(k_classic_reactions.at(i).teams);
        }
    }
    return std::string(*unicode);
}

}  // namespace msteams::convert
