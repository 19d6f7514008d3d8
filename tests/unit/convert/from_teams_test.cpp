#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "convert/convert.hpp"
#include "common/strings.hpp"

namespace c = msteams::convert;
using msteams::strings::is_valid_utf8;

namespace {

std::string const k_wj = "\xE2\x81\xA0";  // U+2060 WORD JOINER, what "@" at a word start gets after it

c::FromTeams convert_ok(std::string const& html, std::vector<c::TeamsMention> const& mentions = {},
                        c::UsernameForTeamsUser const& username_for = {}, c::Limits const& limits = {}) {
    auto out = c::teams_to_markdown(html, "html", mentions, username_for, limits);
    INFO(html);
    REQUIRE(out.has_value());
    return *out;
}

std::string md(std::string const& html) { return convert_ok(html).markdown; }

struct Vector {
    char const* what;
    char const* html;
    std::string markdown;
};

void check_vectors(std::vector<Vector> const& vectors) {
    for (auto const& v : vectors) {
        INFO(v.what << "\n  html: " << v.html);
        CHECK(md(v.html) == v.markdown);
    }
}

}  // namespace

TEST_CASE("convert: teams html inline formatting becomes markdown", "[convert]") {
    check_vectors({
        {"bold", "<p>a <b>bold</b> and <strong>strong</strong></p>", "a **bold** and **strong**"},
        {"italic", "<i>x</i> <em>y</em>", "*x* *y*"},
        {"strike", "<s>a</s> <strike>b</strike> <del>c</del>", "~~a~~ ~~b~~ ~~c~~"},
        {"nested styles", "<b><i>both</i></b>", "***both***"},
        {"repeated style is not doubled", "<b>a <b>b</b></b>", "**a b**"},
        {"white space moves outside the delimiters", "x<b> y </b>z", "x **y** z"},
        {"empty emphasis disappears", "a<i> </i>b<b></b>c", "a bc"},
        {"inline code", "<code>a*b</code>", "`a*b`"},
        {"inline code with backticks", "<code>x`y</code>", "``x`y``"},
        {"inline code starting with a backtick", "<code>`x</code>", "`` `x ``"},
        {"formatting inside code is text", "<code><b>a</b>_b</code>", "`a_b`"},
        {"underline and spans are transparent", "<u>under</u><span style=\"color:red\">red</span>", "underred"},
        {"white space collapses like a browser", "  a \n\t b&nbsp;&nbsp;c  ", "a b c"},
        {"line break", "a<br>b<br/>c", "a\nb\nc"},
    });
}

TEST_CASE("convert: teams html blocks become markdown blocks", "[convert]") {
    check_vectors({
        {"paragraphs", "<p>one</p><p>two</p>", "one\n\ntwo"},
        {"divs are lines", "<div><div>one</div><div>two</div></div>", "one\ntwo"},
        {"empty div line keeps a blank line", "<div>a</div><div><br></div><div>b</div>", "a\n\nb"},
        {"nbsp paragraph is not content", "<p>a</p><p>&nbsp;</p><p>b</p>", "a\n\nb"},
        {"headings", "<h1>One</h1><h3>Three <i>x</i></h3>", "# One\n\n### Three *x*"},
        {"heading with line break stays one line", "<h2>a<br>b</h2>", "## a b"},
        {"rule", "<p>a</p><hr><p>b</p>", "a\n\n---\n\nb"},
        {"block quote", "<blockquote><p>a</p><p>b</p></blockquote>", "> a\n>\n> b"},
        {"nested quote", "<blockquote>a<blockquote>b</blockquote></blockquote>", "> a\n>\n> > b"},
        {"bullet list", "<ul><li>one</li><li>two</li></ul>", "- one\n- two"},
        {"ordered list with start", "<ol start=\"3\"><li>c</li><li>d</li></ol>", "3. c\n4. d"},
        {"nested lists", "<ul><li>a<ul><li>b<ol><li>c</li></ol></li></ul></li><li>d</li></ul>",
         "- a\n  - b\n    1. c\n- d"},
        {"list item with two paragraphs stays tight", "<ol><li><p>a</p><p>b</p></li></ol>", "1. a\n   b"},
        {"list after text", "<div>intro</div><ul><li>x</li></ul>", "intro\n\n- x"},
        {"code block", "<pre>let a = 1;\n  indented\n</pre>", "```\nlet a = 1;\n  indented\n```"},
        {"code block with language-class code", "<pre><code class=\"language-python\">print(1)</code></pre>",
         "```python\nprint(1)\n```"},
        {"teams codeblock markup", "<codeblock class=\"JavaScript\"><code>if (a &lt; b) {}<br>x</code></codeblock>",
         "```javascript\nif (a < b) {}\nx\n```"},
        {"code block keeps markdown characters raw", "<pre>*a* _b_ @channel</pre>", "```\n*a* _b_ @channel\n```"},
        {"code block containing a fence", "<pre>```\nx\n```</pre>", "````\n```\nx\n```\n````"},
        {"code block inside a list is indented", "<ul><li>run<pre>make\ntest</pre></li></ul>",
         "- run\n  ```\n  make\n  test\n  ```"},
        {"table", "<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td><b>2</b></td></tr></table>",
         "| a | b |\n| --- | --- |\n| 1 | **2** |"},
        {"table with thead, pipes, breaks and a short row",
         "<table><thead><tr><td>x|y</td><td>z</td></tr></thead><tbody><tr><td>1<br>2</td></tr></tbody></table>",
         "| x\\|y | z |\n| --- | --- |\n| 1 2 |  |"},
        {"no trailing blank lines", "<p>a</p><p></p><div><br><br></div>", "a"},
    });
}

TEST_CASE("convert: teams links keep only http, https and mailto", "[convert]") {
    check_vectors({
        {"link", "<a href=\"https://example.com/a\">the site</a>", "[the site](https://example.com/a)"},
        {"parentheses and spaces in the url are encoded", "<a href=\"https://e.com/a (1)\">x</a>",
         "[x](https://e.com/a%20%281%29)"},
        {"javascript becomes text", "<a href=\"javascript:alert(1)\">click</a>", "click"},
        {"javascript with a tab in the scheme", "<a href=\"java&#9;script:alert(1)\">click</a>", "click"},
        {"data url becomes text", "<a href=\"data:text/html,x\">d</a>", "d"},
        {"relative link becomes text", "<a href=\"/x\">rel</a>", "rel"},
        {"mailto", "<a href=\"mailto:a@b.com\">mail me</a>", "[mail me](mailto:a@b.com)"},
        {"empty label shows the address", "<a href=\"mailto:a@b.com\"></a>", "[a@b.com](mailto:a@b.com)"},
        {"label is escaped", "<a href=\"https://e.com\">*x*_y</a>", "[\\*x\\*\\_y](https://e.com)"},
        {"bare url is left to autolink", "see https://e.com/a_b?c=*d* now", "see https://e.com/a_b?c=*d* now"},
        {"bare url with an @ path cannot notify", "https://medium.com/@user/post",
         "[https://medium.com/@" + k_wj + "user/post](https://medium.com/@user/post)"},
    });
}

TEST_CASE("convert: teams text cannot become mattermost markup", "[convert]") {
    check_vectors({
        {"@channel", "<p>@channel hi</p>", "@" + k_wj + "channel hi"},
        {"@all and @here", "@all @here", "@" + k_wj + "all @" + k_wj + "here"},
        {"stray username", "ping @bob.", "ping @" + k_wj + "bob."},
        {"email is not a mention and stays readable", "bob@example.com", "bob@example.com"},
        {"literal asterisks", "**x**", "\\*\\*x\\*\\*"},
        {"literal underscores, tildes, backticks", "_a_ ~~b~~ `c`", "\\_a\\_ \\~\\~b\\~\\~ \\`c\\`"},
        {"literal link syntax", "[a](javascript:alert(1))", "\\[a\\](javascript:alert(1))"},
        {"literal image syntax", "![x](https://e.com/t.png)", "!\\[x\\](https://e.com/t.png)"},
        {"backslash before a letter stays single (marked shows \\\\b as two)", "a\\b", "a\\b"},
        {"backslash before punctuation is doubled", "a\\*", "a\\\\\\*"},
        {"heading marker at line start", "# not a heading", "\\# not a heading"},
        {"hash inside a line is fine", "issue #12", "issue #12"},
        {"quote marker", "&gt; not a quote", "\\> not a quote"},
        {"list markers", "<div>- a</div><div>+ b</div><div>1. c</div><div>2) d</div>", "\\- a\n\\+ b\n1\\. c\n2\\) d"},
        {"numbers inside a line are fine", "version 1.2", "version 1.2"},
        {"table pipes", "a | b", "a \\| b"},
        {"script element is dropped", "<p>hi</p><script>alert(1)</script><style>p{}</style>", "hi"},
        {"escaped html stays text", "&lt;script&gt;alert(1)&lt;/script&gt;", "<script>alert(1)</script>"},
        {"markers after a line break", "a<br># b<br>- c", "a\n\\# b\n\\- c"},
    });
}

TEST_CASE("convert: teams images, emoji, hosted contents and attachments", "[convert]") {
    auto const out = convert_ok(
        "<p>hi <emoji id=\"smile\" alt=\"\xF0\x9F\x98\x80\" title=\"Smile\"></emoji>"
        "<img itemtype=\"http://schema.skype.com/Emoji\" alt=\"\xF0\x9F\x91\x8D\" src=\"https://e/like.png\">"
        "<img src=\"https://graph.microsoft.com/v1.0/chats/19:a/messages/1/hostedContents/aWQ9MQ==/$value\">"
        "<img src=\"../hostedContents/2/$value\">"
        "<img src=\"https://e.com/cat.png\" alt=\"a cat\"> <img src=\"data:image/png;base64,AAAA\" alt=\"inline\">"
        "<attachment id=\"f1\"></attachment><attachment id=\"f2\"></attachment></p>");
    CHECK(out.markdown == "hi \xF0\x9F\x98\x80\xF0\x9F\x91\x8D[a cat](https://e.com/cat.png) inline");
    CHECK(out.hosted_content_ids == std::vector<std::string>{"aWQ9MQ==", "2"});
    CHECK(out.attachment_ids == std::vector<std::string>{"f1", "f2"});
    CHECK(md("<img src=\"https://e.com/x.png\">") == "[image](https://e.com/x.png)");
    CHECK(md("<img src=\"javascript:alert(1)\" alt=\"x\">") == "x");
}

TEST_CASE("convert: teams mentions become usernames or bold names", "[convert]") {
    std::vector<c::TeamsMention> const mentions{
        {0, "Jane", "u-jane"}, {1, "Smith", "u-jane"}, {2, "Everyone", ""}, {3, "Bob", "u-bob"}, {4, "Eve", "u-eve"}};
    auto const username_for = [](std::string const& id) -> std::optional<std::string> {
        if (id == "u-jane") {
            return "jane.smith";
        }
        if (id == "u-eve") {
            return "eve *evil*";  // not a username: never written raw
        }
        return std::nullopt;
    };
    auto const convert = [&](std::string const& html) { return convert_ok(html, mentions, username_for).markdown; };
    CHECK(convert("Hi <at id=\"0\">Jane</at>&nbsp;<at id=\"1\">Smith</at>, see this") == "Hi @jane.smith, see this");
    CHECK(convert("<at id=\"2\">Everyone</at> look") == "**Everyone** look");
    CHECK(convert("ask <at id=\"3\">Bob</at> <at id=\"3\">Builder</at>") == "ask **Bob Builder**");
    CHECK(convert("<at id=\"4\">Eve</at>") == "**Eve**");
    CHECK(convert("<at id=\"9\">Ghost *x*</at>") == "**Ghost \\*x\\***");
    CHECK(convert("<at id=\"0\">Jane</at> and <at id=\"1\">Smith</at>") == "@jane.smith and @jane.smith");
    // Without a resolver every mention is bold text.
    CHECK(convert_ok("<at id=\"0\">Jane</at>", mentions).markdown == "**Jane**");
}

TEST_CASE("convert: teams plain text content is escaped, not parsed", "[convert]") {
    auto const out = c::teams_to_markdown("<b>not html</b> **x** @here\n# two\n\nthree", "text", {}, {});
    REQUIRE(out.has_value());
    CHECK(out->markdown == "<b>not html</b> \\*\\*x\\*\\* @" + k_wj + "here\n\\# two\n\nthree");
}

TEST_CASE("convert: teams html limits give too_large or plain text, deep nesting is flattened", "[convert]") {
    c::Limits limits;
    limits.max_input_bytes = 100;
    auto const big = c::teams_to_markdown(std::string(101, 'a'), "html", {}, {}, limits);
    REQUIRE_FALSE(big.has_value());
    CHECK(big.error().code == msteams::ErrorCode::too_large);

    c::Limits small_out;
    small_out.max_output_bytes = 50;
    small_out.max_output_bytes = 80;
    auto const long_out = c::teams_to_markdown("<p>" + std::string(200, 'x') + "</p>", "html", {}, {}, small_out);
    REQUIRE(long_out.has_value());  // cut, as plain text, never dropped
    CHECK(long_out->markdown == std::string(32, 'x') + "\n\n*(shown as plain text: too complex to format)*");

    // Past max_depth the content is kept as text.
    c::Limits shallow;
    shallow.max_depth = 8;
    std::string nested;
    for (int i = 0; i < 20; ++i) {
        nested += "<blockquote>";
    }
    nested += "<b>deep</b> text";
    auto const flat = c::teams_to_markdown(nested, "html", {}, {}, shallow);
    REQUIRE(flat.has_value());
    CHECK(flat->markdown.find("deep text") != std::string::npos);
    CHECK(flat->markdown.starts_with("> > > "));

    // Far deeper than any message: not parsed, its text delivered as plain text with a note.
    std::string very_deep;
    for (int i = 0; i < 20000; ++i) {
        very_deep += "<div>";
    }
    auto started = std::chrono::steady_clock::now();
    auto const plain = c::teams_to_markdown(very_deep + "words", "html", {}, {});
    REQUIRE(plain.has_value());
    CHECK(plain->markdown == "words\n\n*(shown as plain text: too complex to format)*");
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(2));

    // Many small blocks (the largest input allowed) convert in linear time.
    std::string wide;
    for (int i = 0; i < 50000; ++i) {
        wide += "<p>x</p>";
    }
    started = std::chrono::steady_clock::now();
    auto const many = c::teams_to_markdown(wide, "html", {}, {});
    REQUIRE(many.has_value());
    CHECK(many->markdown.size() == 50000 * 3 - 2);
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));

    // Unclosed formatting elements nest in the parsed tree; p and li do not.
    std::string many_paragraphs;
    for (int i = 0; i < 5000; ++i) {
        many_paragraphs += "<p>x<li>y";
    }
    CHECK(c::teams_to_markdown(many_paragraphs, "html", {}, {}).has_value());
}

TEST_CASE("convert: teams html never crashes on random or truncated input", "[convert]") {
    std::mt19937 rng(12345);  // fixed seed: reproducible
    std::vector<std::string> const pieces{"<b>",
                                          "</b>",
                                          "<i>",
                                          "</i>",
                                          "<p>",
                                          "</p>",
                                          "<div>",
                                          "</div>",
                                          "<ul>",
                                          "<li>",
                                          "</ul>",
                                          "<ol start=\"",
                                          "\">",
                                          "<table>",
                                          "<tr>",
                                          "<td>",
                                          "<th>",
                                          "</table>",
                                          "<pre>",
                                          "</pre>",
                                          "<code>",
                                          "<a href=\"",
                                          "https://x/",
                                          "javascript:",
                                          "</a>",
                                          "<at id=\"0\">",
                                          "</at>",
                                          "<img src=\"",
                                          "/hostedContents/",
                                          "<emoji alt=\"",
                                          "<br>",
                                          "&amp;",
                                          "&#x0;",
                                          "&nbsp;",
                                          "text ",
                                          "@channel ",
                                          "**",
                                          "`",
                                          "|",
                                          "\n",
                                          "<blockquote>",
                                          "</blockquote>",
                                          "<h1>",
                                          "<!--",
                                          "-->",
                                          "<codeblock class=\"",
                                          "<attachment id=\"",
                                          "\xF0\x9F",
                                          "\xFF",
                                          "<script>",
                                          std::string(1, '\0'),
                                          "<",
                                          ">",
                                          "\"",
                                          "'"};
    std::vector<c::TeamsMention> const mentions{{0, "Zed", "u0"}};
    auto const username_for = [](std::string const&) -> std::optional<std::string> { return "zed"; };
    for (int round = 0; round < 400; ++round) {
        std::string html;
        auto const n = std::uniform_int_distribution<int>(0, 200)(rng);
        for (int i = 0; i < n; ++i) {
            html += pieces[std::uniform_int_distribution<std::size_t>(0, pieces.size() - 1)(rng)];
        }
        html.resize(std::uniform_int_distribution<std::size_t>(0, html.size())(rng));  // truncated anywhere
        auto const out = c::teams_to_markdown(html, "html", mentions, username_for);
        REQUIRE(out.has_value());
        // Whatever came in, Mattermost gets valid UTF-8 without blank lines at the end.
        CHECK(is_valid_utf8(out->markdown));
        CHECK_FALSE(out->markdown.ends_with('\n'));
    }
    // Random bytes too.
    for (int round = 0; round < 200; ++round) {
        std::string bytes(std::uniform_int_distribution<std::size_t>(0, 512)(rng), '\0');
        for (auto& b : bytes) {
            b = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
        }
        for (char const* type : {"html", "text"}) {
            auto const out = c::teams_to_markdown(bytes, type, {}, {});
            REQUIRE(out.has_value());
            CHECK(is_valid_utf8(out->markdown));
        }
    }
}
