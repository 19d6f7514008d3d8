#include <catch2/catch.hpp>

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "convert/convert.hpp"
#include "common/strings.hpp"

namespace c = msteams::convert;
using msteams::strings::is_valid_utf8;

namespace {

std::optional<c::TeamsUser> known_users(std::string const& username) {
    if (username == "jane") {
        return c::TeamsUser{"u-jane", "Jane Smith"};
    }
    if (username == "bob.o") {
        return c::TeamsUser{"u-bob", "Bob <O'Neil>"};
    }
    return std::nullopt;
}

c::ToTeams convert_ok(std::string const& markdown, c::TeamsUserForUsername const& users = known_users,
                      c::Limits const& limits = {}) {
    auto out = c::markdown_to_teams(markdown, users, limits);
    INFO(markdown);
    REQUIRE(out.has_value());
    return *out;
}

std::string html(std::string const& markdown) { return convert_ok(markdown).html; }

struct Vector {
    char const* what;
    char const* markdown;
    char const* html;
};

void check_vectors(std::vector<Vector> const& vectors) {
    for (auto const& v : vectors) {
        INFO(v.what << "\n  markdown: " << v.markdown);
        CHECK(html(v.markdown) == v.html);
    }
}

}  // namespace

TEST_CASE("convert: markdown inline formatting becomes teams html", "[convert]") {
    check_vectors({
        {"paragraph", "hello", "<p>hello</p>"},
        {"bold and italic", "**b** __b2__ *i* _i2_",
         "<p><strong>b</strong> <strong>b2</strong> <em>i</em> <em>i2</em></p>"},
        {"strikethrough needs two tildes", "~~gone~~ ~kept~", "<p><s>gone</s> ~kept~</p>"},
        {"inline code is escaped", "`a<b>&`", "<p><code>a&lt;b&gt;&amp;</code></p>"},
        {"soft break is a line break", "one\ntwo", "<p>one<br>two</p>"},
        {"hard break", "one  \ntwo", "<p>one<br>two</p>"},
        {"paragraphs", "one\n\ntwo", "<p>one</p><p>two</p>"},
        {"text is escaped", "a < b & \"c\" 'd'", "<p>a &lt; b &amp; &quot;c&quot; &#39;d&#39;</p>"},
    });
}

TEST_CASE("convert: markdown blocks become teams html blocks", "[convert]") {
    check_vectors({
        {"headings", "# One\n### Three", "<h1>One</h1><h3>Three</h3>"},
        {"rule", "a\n\n---\n\nb", "<p>a</p><hr><p>b</p>"},
        {"quote", "> a\n> b", "<blockquote><p>a<br>b</p></blockquote>"},
        {"bullet list", "- a\n- b", "<ul><li>a</li><li>b</li></ul>"},
        {"ordered list with start", "3. c\n4. d", "<ol start=\"3\"><li>c</li><li>d</li></ol>"},
        {"nested list", "- a\n  1. b\n- c", "<ul><li>a<ol><li>b</li></ol></li><li>c</li></ul>"},
        {"loose list keeps paragraphs", "- a\n\n- b", "<ul><li><p>a</p></li><li><p>b</p></li></ul>"},
        {"fenced code with language", "```Python\nif a < b:\n    pass\n```",
         "<pre><code class=\"language-python\">if a &lt; b:\n    pass</code></pre>"},
        {"code without language", "```\nx\n```", "<pre><code>x</code></pre>"},
        {"hostile info string", "```js\"onclick=\"x\nx\n```",
         "<pre><code class=\"language-jsonclickx\">x</code></pre>"},
        {"indented code", "    code", "<pre><code>code</code></pre>"},
        {"table", "| a | b |\n|---|:-:|\n| 1 | **2** |",
         "<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>1</td><td><strong>2</strong></td></tr>"
         "</tbody></table>"},
        {"header-only table", "| a |\n|---|", "<table><thead><tr><th>a</th></tr></thead></table>"},
    });
}

TEST_CASE("convert: markdown links and raw html are safe in teams", "[convert]") {
    check_vectors({
        {"link", "[site](https://e.com/?a=1&b=2)", "<p><a href=\"https://e.com/?a=1&amp;b=2\">site</a></p>"},
        {"javascript link is text", "[a](javascript:alert(1))", "<p>a</p>"},
        {"data link is text", "[a](data:text/html,x)", "<p>a</p>"},
        {"relative link is text", "[a](/team/pl/x)", "<p>a</p>"},
        {"quote in url is escaped", "[a](https://e.com/\"onmouseover=x)",
         "<p><a href=\"https://e.com/&quot;onmouseover=x\">a</a></p>"},
        {"autolink", "see https://e.com/x ok", "<p>see <a href=\"https://e.com/x\">https://e.com/x</a> ok</p>"},
        {"angle autolink", "<https://e.com>", "<p><a href=\"https://e.com\">https://e.com</a></p>"},
        {"mailto", "[m](mailto:a@b.c)", "<p><a href=\"mailto:a@b.c\">m</a></p>"},
        {"image becomes a link", "![cat](https://e.com/c.png)", "<p><a href=\"https://e.com/c.png\">cat</a></p>"},
        {"image with a bad source is its alt text", "![cat](javascript:x)", "<p>cat</p>"},
        {"inline html is text", "a <script>alert(1)</script> <b>b</b>",
         "<p>a &lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;b&lt;/b&gt;</p>"},
        {"html block is text", "<div onclick=\"x\">\nhi\n</div>",
         "<p>&lt;div onclick=&quot;x&quot;&gt;<br>hi<br>&lt;/div&gt;</p>"},
        {"html comment is text", "<!-- c -->", "<p>&lt;!-- c --&gt;</p>"},
        {"entities are decoded then escaped", "&lt;b&gt; &amp;", "<p>&lt;b&gt; &amp;</p>"},
    });
}

TEST_CASE("convert: markdown emoji shortcodes become unicode outside code", "[convert]") {
    check_vectors({
        {"shortcodes", ":smile: :+1: :thumbsup: :heart:",
         "<p>\xF0\x9F\x98\x84 \xF0\x9F\x91\x8D \xF0\x9F\x91\x8D \xE2\x9D\xA4\xEF\xB8\x8F</p>"},
        {"skin tones", ":+1_dark_skin_tone: :wave::skin-tone-3:",
         "<p>\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBF \xF0\x9F\x91\x8B\xF0\x9F\x8F\xBC</p>"},
        {"unknown names stay", ":not_an_emoji: :custom-party: a:b:c :smile:x",
         "<p>:not_an_emoji: :custom-party: a:b:c :smile:x</p>"},
        {"adjacent", ":smile::smile:", "<p>\xF0\x9F\x98\x84\xF0\x9F\x98\x84</p>"},
        {"not in code", "`:smile:`\n\n```\n:smile:\n```", "<p><code>:smile:</code></p><pre><code>:smile:</code></pre>"},
        {"in link text", "[:smile:](https://e.com)", "<p><a href=\"https://e.com\">\xF0\x9F\x98\x84</a></p>"},
    });
}

TEST_CASE("convert: markdown mentions of teams users become at elements", "[convert]") {
    auto const out = convert_ok("hi @jane and @Jane, also @bob.o. and @nobody");
    CHECK(out.html ==
          "<p>hi <at id=\"0\">Jane Smith</at> and <at id=\"1\">Jane Smith</at>, also "
          "<at id=\"2\">Bob &lt;O&#39;Neil&gt;</at>. and @nobody</p>");
    REQUIRE(out.mentions.size() == 3);
    CHECK(out.mentions[0].id == 0);
    CHECK(out.mentions[0].teams_user_id == "u-jane");
    CHECK(out.mentions[0].text == "Jane Smith");
    CHECK(out.mentions[1].id == 1);  // the same user twice: two mentions, as Graph pairs each <at> with one entry
    CHECK(out.mentions[1].teams_user_id == "u-jane");
    CHECK(out.mentions[2].id == 2);
    CHECK(out.mentions[2].teams_user_id == "u-bob");

    CHECK(html("`@jane` [@jane](https://e.com) ![@jane](https://e.com/i.png)") ==
          "<p><code>@jane</code> <a href=\"https://e.com\">@jane</a> <a href=\"https://e.com/i.png\">@jane</a></p>");
    CHECK(convert_ok("`@jane`").mentions.empty());
    CHECK(html("mail jane@jane.com") == "<p>mail <a href=\"mailto:jane@jane.com\">jane@jane.com</a></p>");
    CHECK(html("x@jane") == "<p>x@jane</p>");
    CHECK(html("**@jane**") == "<p><strong><at id=\"0\">Jane Smith</at></strong></p>");
    CHECK(html("@channel @all @here") == "<p>@channel @all @here</p>");
    CHECK(convert_ok("@jane", {}).html == "<p>@jane</p>");  // no resolver: text
}

TEST_CASE("convert: markdown mention lookups are cached and bounded", "[convert]") {
    int calls = 0;
    auto const counting = [&calls](std::string const&) -> std::optional<c::TeamsUser> {
        ++calls;
        return std::nullopt;
    };
    std::string many;
    for (int i = 0; i < 500; ++i) {
        many += "@user" + std::to_string(i % 200) + " ";
    }
    auto const out = c::markdown_to_teams(many, counting);
    REQUIRE(out.has_value());
    CHECK(calls <= 64);
    CHECK(out->mentions.empty());
}

TEST_CASE("convert: markdown limits give too_large and hostile input stays fast", "[convert]") {
    c::Limits limits;
    limits.max_input_bytes = 10;
    auto const big = c::markdown_to_teams(std::string(11, 'a'), {}, limits);
    REQUIRE_FALSE(big.has_value());
    CHECK(big.error().code == msteams::ErrorCode::too_large);

    c::Limits small_out;
    small_out.max_output_bytes = 30;
    auto const long_out = c::markdown_to_teams(std::string(100, '<'), {}, small_out);
    REQUIRE_FALSE(long_out.has_value());
    CHECK(long_out.error().code == msteams::ErrorCode::too_large);

    auto const started = std::chrono::steady_clock::now();
    for (std::string const& hostile : {std::string(50000, '>') + "x", std::string(20000, '[') + "x",
                                       std::string(20000, '*') + "x", std::string(10000, '-') + "\n", [] {
                                           std::string s;
                                           for (int i = 0; i < 5000; ++i) {
                                               s += "  - ";
                                           }
                                           return s + "x";
                                       }()}) {
        auto const out = c::markdown_to_teams(hostile, known_users);
        CHECK((out.has_value() || out.error().code == msteams::ErrorCode::too_large));
    }
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));

    std::mt19937 rng(777);
    std::string const alphabet = "*_~`[]()!<>#-+|:@\\\n &;1. abc\xF0\x9F\x98\xFF";
    for (int round = 0; round < 300; ++round) {
        std::string text(std::uniform_int_distribution<std::size_t>(0, 300)(rng), ' ');
        for (auto& ch : text) {
            ch = alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)];
        }
        auto const out = c::markdown_to_teams(text, known_users);
        REQUIRE(out.has_value());
        CHECK(out->html.find("<script") == std::string::npos);
        CHECK(is_valid_utf8(out->html));
    }
}
