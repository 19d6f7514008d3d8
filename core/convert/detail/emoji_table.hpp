#pragma once

#include <span>
#include <string_view>

// Mattermost's system emoji, generated from emoji-datasource by core/convert/gen_emoji_table.py.
namespace msteams::convert::detail {

struct EmojiName {
    std::string_view name;     // "+1", "thumbsup", "+1_dark_skin_tone"
    std::string_view unicode;  // fully qualified UTF-8
};

struct EmojiGlyph {
    std::string_view glyph;  // UTF-8 with every U+FE0F (variation selector 16) removed
    std::string_view name;   // the emoji's primary name
};

// Sorted by name (byte order); every alias has its own entry.
[[nodiscard]] std::span<EmojiName const> emoji_by_name() noexcept;
// Sorted by glyph (byte order); fully and non-qualified forms both appear (they are equal once U+FE0F is gone).
[[nodiscard]] std::span<EmojiGlyph const> emoji_by_glyph() noexcept;

}  // namespace msteams::convert::detail
