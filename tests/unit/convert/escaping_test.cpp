// Issue 11 #7: Teams text never becomes a live Mattermost channel-wide mention and renders as typed.
//
// The rules checked here are Mattermost's: its server finds mentions in the text nodes of the parsed Markdown
// (character references and backslash escapes already decoded), splitting words at every character that is not a
// letter, a digit or one of : . - _ @, trimming : . - _ from a word's front, and splitting once more at . - : ;
// its webapp renders with marked, whose backslash escapes cover ` * { } [ ] ( ) # + - . ! _ > | ~ and "\\" only
// before a non-word character, and which decodes character references.
#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include "convert/convert.hpp"

namespace c = msteams::convert;

namespace {

std::string const k_wj = "\xE2\x81\xA0";  // U+2060 WORD JOINER

std::string md(std::string const& html, std::string const& type = "html") {
    std::vector<c::TeamsMention> const mentions{{0, "Jane", "u-jane"}};
    auto const username_for = [](std::string const& id) -> std::optional<std::string> {
        return id == "u-jane" ? std::optional<std::string>("jane") : std::nullopt;
    };
    auto const out = c::teams_to_markdown(html, type, mentions, username_for);
    INFO(html);
    REQUIRE(out.has_value());
    return out->markdown;
}

}  // namespace

TEST_CASE("convert: punctuation before @channel cannot make it notify", "[convert][escaping]") {
    // Mattermost's scan trims . - _ : from a word's front and splits at . - : inside it.
    CHECK(md(".@channel") == ".@" + k_wj + "channel");
    CHECK(md("-@here") == "\\-@" + k_wj + "here");
    CHECK(md("_@all") == "\\_@" + k_wj + "all");
    CHECK(md("end.@channel") == "end.@" + k_wj + "channel");
    CHECK(md("a:@all b-@here") == "a:@" + k_wj + "all b-@" + k_wj + "here");
    CHECK(md("@@channel") == "@" + k_wj + "@" + k_wj + "channel");
    // After a letter or digit the scan sees no mention, and e-mail addresses stay intact.
    CHECK(md("bob@example.com x@channel") == "bob@example.com x@channel");
}

TEST_CASE("convert: character references for @ cannot make a mention", "[convert][escaping]") {
    // Gumbo decodes these to "@": the joiner follows.
    CHECK(md("&#64;channel &#x40;all &commat;here") == "@" + k_wj + "channel @" + k_wj + "all @" + k_wj + "here");
    // Typed as text (the reference itself): Mattermost must not decode it.
    CHECK(md("&amp;#64;channel") == "&amp;#64;channel");
    CHECK(md("&#64;channel &#x40;all", "text") == "&amp;#64;channel &amp;#x40;all");
}

TEST_CASE("convert: an @ and a name split across elements cannot make a mention", "[convert][escaping]") {
    CHECK(md("@<span>channel</span>") == "@" + k_wj + "channel");
    CHECK(md("<b>@</b>all") == "**@" + k_wj + "**all");
    CHECK(md("x<span>@</span>here") == "x@here");  // one word "x@here" for the scan
}

TEST_CASE("convert: text renders as typed in Mattermost", "[convert][escaping]") {
    // marked shows "\\U" as two backslashes: a backslash before a letter stays single.
    CHECK(md("C:\\Users\\x") == "C:\\Users\\x");
    CHECK(md("a\\*b end\\") == "a\\\\\\*b end\\\\");
    CHECK(md("&amp;lt;br&amp;gt; and a &amp; b") == "&amp;lt;br&amp;gt; and a & b");
    CHECK(md("&lt;br&gt;") == "<br>");  // shown as text: Mattermost renders no HTML
    // A line of "=" would make the line before it a heading.
    CHECK(md("Title<br>===") == "Title\n&#61;==");
    CHECK(md("<p>a = b == c</p>") == "a = b == c");
    // A pipe in a code span of a table cell would end the cell.
    CHECK(md("<table><tr><td><code>a|b</code></td><td>c|d</td></tr></table>") == "| `a\\|b` | c\\|d |\n| --- | --- |");
    CHECK(md("<code>a|b</code>") == "`a|b`");
    // Adjacent bold runs are one, not "**a****b**".
    CHECK(md("<b>a</b><b>b</b>") == "**ab**");
    CHECK(md("<b>a</b> <b>b</b>") == "**a** **b**");
}

TEST_CASE("convert: a resolved mention glued to text is still a mention for Mattermost", "[convert][escaping]") {
    // "cc:@jane": the scan splits at ':' and finds "@jane".
    CHECK(md("cc:<at id=\"0\">Jane</at>") == "cc:@jane");
    // A letter or digit either side would hide it.
    CHECK(md("x<at id=\"0\">Jane</at>y") == "x @jane y");
    CHECK(md("(<at id=\"0\">Jane</at>)") == "(@jane)");
    CHECK(md("<at id=\"0\">Jane</at>.") == "@jane.");
    CHECK(md("<at id=\"0\">Jane</at>.x") == "@jane .x");
    CHECK(md("<at id=\"0\">Jane</at>'s") == "@jane's");
}

TEST_CASE("convert: NUL and control characters never reach the database", "[convert][escaping]") {
    std::string const nul(1, '\0');
    CHECK(md("a" + nul +
                 "b\x01"
                 "c",
             "text") == "abc");
    auto const html = md("<p>a" + nul +
                         "b\x7f"
                         "c</p>");  // gumbo drops or replaces some of these itself
    CHECK(html.find('\0') == std::string::npos);
    CHECK(html.find('\x7f') == std::string::npos);
    CHECK(html.starts_with("ab"));
    CHECK(md("<pre>x" + nul + "y</pre>") == "```\nxy\n```");
    auto const out = c::teams_to_markdown("<attachment id=\"a" + nul + "b\"></attachment>", "html", {}, {});
    REQUIRE(out.has_value());
    for (auto const& id : out->attachment_ids) {
        CHECK(id.find('\0') == std::string::npos);
    }
}
