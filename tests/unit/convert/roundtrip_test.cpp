#include <catch2/catch.hpp>

#include <string>

#include "convert/convert.hpp"

namespace c = msteams::convert;

namespace {

std::optional<c::TeamsUser> to_teams_user(std::string const& username) {
    if (username == "jane") {
        return c::TeamsUser{"u-jane", "Jane Smith"};
    }
    return std::nullopt;
}

std::optional<std::string> to_username(std::string const& teams_user_id) {
    if (teams_user_id == "u-jane") {
        return "jane";
    }
    return std::nullopt;
}

std::string round_trip(std::string const& markdown) {
    auto const teams = c::markdown_to_teams(markdown, to_teams_user);
    REQUIRE(teams.has_value());
    auto const back = c::teams_to_markdown(teams->html, "html", teams->mentions, to_username);
    REQUIRE(back.has_value());
    return back->markdown;
}

}  // namespace

TEST_CASE("convert: markdown to teams and back keeps the meaning", "[convert]") {
    // Markdown that is already in the converter's own spelling comes back unchanged.
    for (char const* markdown : {
             "plain text",
             "**bold** *italic* ~~strike~~ `code`",
             "line one\nline two",
             "para one\n\npara two",
             "# Heading\n\ntext",
             "> quoted\n> lines",
             "- a\n- b\n  - nested",
             "1. one\n2. two",
             "```go\nfunc main() {}\n```",
             "[link](https://example.com/path)",
             "| a | b |\n| --- | --- |\n| 1 | **2** |",
             "hi @jane, look",
             "---",
         }) {
        INFO(markdown);
        CHECK(round_trip(markdown) == markdown);
    }
    // Other spellings come back in the canonical one.
    CHECK(round_trip("__bold__ _it_") == "**bold** *it*");
    CHECK(round_trip("* item") == "- item");
    CHECK(round_trip(":smile: https://e.com") == "\xF0\x9F\x98\x84 [https://e.com](https://e.com)");
    // Text that looks like markup survives as text.
    CHECK(round_trip("\\*not bold\\*") == "\\*not bold\\*");
    CHECK(round_trip("<b>raw</b>") == "<b>raw</b>");
}
