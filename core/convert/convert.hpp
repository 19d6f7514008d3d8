#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

// Message formats: Teams HTML ⇄ Mattermost Markdown, mentions and emoji. Pure functions: no I/O, no globals that
// change, safe on any thread. HTML is parsed with gumbo, Markdown with cmark-gfm; never with regular expressions.
namespace msteams::convert {

struct Limits {
    std::size_t max_input_bytes = 512 * 1024;  // larger input → ErrorCode::too_large
    std::size_t max_depth = 256;               // deeper nesting is flattened to text, never a crash; HTML that
                                               // nests over 4x deeper is not parsed (plain text, see below)
    std::size_t max_output_bytes = 1 << 20;    // Mattermost's post limit is far lower; the caller trims
};

// Both converters are bounded in time and memory by construction: besides the limits above, fixed budgets (an
// estimate of the parse tree's depth and size before parsing, its real size after, table cells, the patterns that
// are quadratic in cmark-gfm 0.29.0.gfm.6). A message over a budget, or whose conversion would pass
// max_output_bytes, is converted as plain text instead: escaped, line breaks kept, cut to max_output_bytes, ending
// with the note "shown as plain text: too complex to format". Only input over max_input_bytes is refused.

// ---- Teams → Mattermost --------------------------------------------------------------------------------------

// A Graph chatMessage mention: <at id="N">text</at> in the body, mentions[N] in the message.
struct TeamsMention {
    int id = 0;
    std::string text;
    std::string teams_user_id;  // empty for @channel/@team style mentions or apps
};

// The Mattermost username for a Teams user, when there is one (connected, matched or synthetic user).
using UsernameForTeamsUser = std::function<std::optional<std::string>(std::string const& teams_user_id)>;

struct FromTeams {
    std::string markdown;
    // Images pasted into the message (<img src=".../hostedContents/{id}/$value">), in document order. They are
    // left out of `markdown`: the caller uploads them as files.
    std::vector<std::string> hosted_content_ids;
    // <attachment id="..."></attachment> markers, in document order (files and quoted replies); left out too.
    std::vector<std::string> attachment_ids;
};

// Converts a Teams message body. `content_type` is the body's contentType ("html" or "text"). Text is escaped so
// that Teams content cannot become Mattermost markup (no accidental @channel, links, emphasis, HTML); formatting
// becomes Markdown: bold, italic, strike, inline code, code blocks (with language when given), links, lists,
// block quotes, headings, tables, line breaks, images by URL, emoji <img alt> → the emoji itself.
// Mentions: <at id="N"> → "@username" when `username_for` knows the user, else the mention text in bold; adjacent
// <at> elements of one user (Teams splits "Jane Smith" in two) become one mention, kept apart from letters around
// it so that Mattermost's mention scan finds it. An "@" typed in Teams that no letter or digit precedes gets an
// invisible U+2060 WORD JOINER after it, so "@channel", ".@here" or "@someone" written in Teams notifies no one
// (from_teams.cpp lists the escaping rules). NUL and other control characters never reach the output.
[[nodiscard]] Result<FromTeams> teams_to_markdown(std::string_view body, std::string_view content_type,
                                                  std::vector<TeamsMention> const& mentions,
                                                  UsernameForTeamsUser const& username_for, Limits const& limits = {});

// ---- Mattermost → Teams --------------------------------------------------------------------------------------

struct TeamsUser {
    std::string teams_user_id;
    std::string display_name;
};

// The Teams user behind a Mattermost username, when there is one.
using TeamsUserForUsername = std::function<std::optional<TeamsUser>(std::string const& username)>;

struct ToTeams {
    std::string html;
    std::vector<TeamsMention> mentions;  // ids 0, 1, ... matching <at id="N"> in `html`
};

// Converts a Mattermost message (GitHub-flavoured Markdown: tables, strikethrough, autolinks) to Teams HTML.
// Raw HTML in the Markdown is escaped, never passed through. Emoji shortcodes (:smile:) outside code become
// Unicode; @username mentions of known Teams users become <at> mentions (one per occurrence, ids 0, 1, ...);
// others, including @channel/@all/@here, stay text. Links keep only http, https and mailto URLs.
[[nodiscard]] Result<ToTeams> markdown_to_teams(std::string_view markdown, TeamsUserForUsername const& teams_user_for,
                                                Limits const& limits = {});

// ---- Emoji and reactions -------------------------------------------------------------------------------------

// Mattermost's system emoji name ("+1", "smile", "heart") → its Unicode text; nullopt for unknown (custom) names.
[[nodiscard]] std::optional<std::string_view> emoji_to_unicode(std::string_view name);
// Unicode emoji text → Mattermost's name; nullopt when Mattermost has no such system emoji.
[[nodiscard]] std::optional<std::string_view> unicode_to_emoji(std::string_view unicode);

// A Teams reactionType ("like", "heart", "laugh", "surprised", "sad", "angry", or a Unicode emoji) → a Mattermost
// emoji name; nullopt when there is none.
[[nodiscard]] std::optional<std::string> reaction_to_emoji(std::string_view reaction_type);
// A Mattermost emoji name → the Teams reactionType to set (the six classic names map to Teams' own; others to
// Unicode); nullopt for custom emoji.
[[nodiscard]] std::optional<std::string> emoji_to_reaction(std::string_view emoji_name);

}  // namespace msteams::convert
