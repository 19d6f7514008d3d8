// Issue 11 #6: hostile message content is bounded in time and memory by construction. Each crafted input is one
// that crashed the core or took gigabytes before; the checks are on what a user sees (the text survives, escaped,
// with a note) and on sizes produced (never on time).
#include <catch2/catch.hpp>

#include <string>

#include "convert/convert.hpp"
#include "common/strings.hpp"

namespace c = msteams::convert;
using msteams::strings::is_valid_utf8;

namespace {

constexpr char const* k_note = "shown as plain text: too complex to format";

std::string repeat(std::string const& unit, std::size_t bytes) {
    std::string out;
    while (out.size() + unit.size() <= bytes) {
        out += unit;
    }
    return out;
}

std::string from_teams(std::string const& html) {
    auto const out = c::teams_to_markdown(html, "html", {}, {});
    INFO(html.substr(0, 80));
    REQUIRE(out.has_value());
    CHECK(is_valid_utf8(out->markdown));
    return out->markdown;
}

std::string to_teams(std::string const& markdown) {
    auto const out = c::markdown_to_teams(markdown, {});
    INFO(markdown.substr(0, 80));
    REQUIRE(out.has_value());
    CHECK(is_valid_utf8(out->html));
    return out->html;
}

}  // namespace

TEST_CASE("convert: a Markdown table with thousands of columns is sent as plain text", "[convert][hostile]") {
    // 16 KB: 1,000 columns, then 7,000 one-cell rows that cmark-gfm pads to 1,000 cells each (1.8 GB before).
    std::string md = "|" + repeat("a|", 2000) + "\n|" + repeat("-|", 2000) + "\n";
    md += repeat("x\n", 30 * 1024 - md.size());
    auto const html = to_teams(md);
    CHECK(html.find(k_note) != std::string::npos);
    CHECK(html.find("<table>") == std::string::npos);
    CHECK(html.find("x<br>x<br>x") != std::string::npos);  // the text survives
    CHECK(html.size() < 4 * md.size());
    // A real table is still a table.
    CHECK(to_teams("| a | b |\n|---|---|\n| 1 | 2 |").starts_with("<table><thead><tr><th>a</th>"));
}

TEST_CASE("convert: repeated image-link openers are sent as plain text, not parsed", "[convert][hostile]") {
    auto const md = repeat("![[]()", 24 * 1024);
    auto const html = to_teams(md);
    CHECK(html.find(k_note) != std::string::npos);
    CHECK(html.find("![[]()![[]()") != std::string::npos);
}

TEST_CASE("convert: thousands of <ul/> and <ol/> do not recurse", "[convert][hostile]") {
    // HTML5 ignores the "/" of a non-void element: these nest 6,000 deep (a segfault before).
    auto const md = from_teams(repeat("<ul/><ol/>", 60 * 1024) + "tail text");
    CHECK(md.find("tail text") != std::string::npos);
    CHECK(md.find(k_note) != std::string::npos);
    // A few hundred levels (within the limits) are flattened past max_depth, never refused.
    auto const shallow = from_teams(repeat("<ul/>", 300 * 5) + "deep");
    CHECK(shallow.find("deep") != std::string::npos);
}

TEST_CASE("convert: formatting re-opened across paragraphs is bounded", "[convert][hostile]") {
    // 1,000 distinct <b> left open, closed by </p>: gumbo would re-create all of them in each of 1,500 paragraphs.
    std::string html = "<p>";
    for (int i = 0; i < 1000; ++i) {
        html += "<b class=\"c" + std::to_string(i) + "\">";
    }
    html += "</p>" + repeat("<p>x</p>", 12 * 1024);
    auto const md = from_teams(html);
    CHECK(md.find(k_note) != std::string::npos);
    CHECK(md.find("x\nx\nx") != std::string::npos);
    CHECK(md.size() < 2 * html.size());
    // Ordinary formatting across paragraphs is still formatted.
    CHECK(from_teams("<p><b>bold</p><p>still</b> not</p>") == "**bold**\n\n**still** not");
}

TEST_CASE("convert: a Teams table with 20,000 cells in one row is bounded", "[convert][hostile]") {
    std::string html =
        "<table><tr>" + repeat("<td>x</td>", 200'000) + "</tr>" + repeat("<tr><td>y</td></tr>", 200'000) + "</table>";
    auto const md = from_teams(html);
    CHECK(md.find(k_note) != std::string::npos);
    CHECK(md.find("y\ny\ny") != std::string::npos);
    CHECK(md.size() < html.size());
    // A wide but small table is still a table.
    CHECK(from_teams("<table><tr><td>a</td><td>b</td></tr><tr><td>1</td></tr></table>") ==
          "| a | b |\n| --- | --- |\n| 1 |  |");
}

TEST_CASE("convert: plain-text fallbacks are escaped and cut to the output limit", "[convert][hostile]") {
    // Text of a message too complex to format still cannot notify or format.
    auto const md = from_teams(repeat("<ul/>", 10'000) + "@channel **x** &#64;all");
    CHECK(md.find("@\xE2\x81\xA0"
                  "channel \\*\\*x\\*\\* @\xE2\x81\xA0"
                  "all") != std::string::npos);
    CHECK(md.find(k_note) != std::string::npos);
    // Over the output limit: cut, with the note, never refused.
    c::Limits limits;
    limits.max_output_bytes = 4096;
    auto const cut = c::teams_to_markdown(repeat("<ul/>", 10'000) + repeat("text ", 2000), "html", {}, {}, limits);
    REQUIRE(cut.has_value());
    CHECK(cut->markdown.size() <= 4096);
    CHECK(cut->markdown.ends_with(std::string(k_note) + ")*"));
    auto const md_cut = c::markdown_to_teams(repeat("![[]()", 300'000), {}, limits);
    REQUIRE(md_cut.has_value());
    CHECK(md_cut->html.size() <= 4096);
    CHECK(md_cut->html.find(k_note) != std::string::npos);
}

TEST_CASE("convert: deep quotes and lists over many lines stop at the output limit", "[convert][hostile]") {
    // Each level prefixed every line again: 250 quotes over 80,000 lines copied gigabytes (76 s) before the
    // output limit was seen. Now each level checks the size its prefixes will add first.
    c::Limits limits;
    limits.max_output_bytes = 64 * 1024;
    std::string html;
    for (int i = 0; i < 250; ++i) {
        html += "<blockquote>";
    }
    html += repeat("x<br>", 80'000 * 5);
    auto const out = c::teams_to_markdown(html, "html", {}, {}, limits);
    REQUIRE(out.has_value());
    CHECK(out->markdown.size() <= limits.max_output_bytes);
    CHECK(out->markdown.find(k_note) != std::string::npos);
    // Within the limit nothing changes.
    CHECK(from_teams("<blockquote><ul><li>a<br>b</li></ul></blockquote>") == "> - a\n>   b");
}

TEST_CASE("convert: an overlong numeric character reference gives valid UTF-8", "[convert][hostile]") {
    // Found by fuzz_from_teams: gumbo turns "&#" and a hundred digits into a lone 0xC7 byte, which Mattermost (and
    // PostgreSQL) would refuse.
    auto const md = from_teams("a &#" + std::string(100, '1') + "\n\nb <attachment id=\"x&#" + std::string(60, '9') +
                               "\"></attachment>");
    CHECK(md.starts_with("a "));
    auto const out =
        c::teams_to_markdown("<attachment id=\"x&#" + std::string(60, '9') + "\"></attachment>", "html", {}, {});
    REQUIRE(out.has_value());
    for (auto const& id : out->attachment_ids) {
        CHECK(is_valid_utf8(id));
    }
}
