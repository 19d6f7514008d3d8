// Teams HTML → Mattermost Markdown.
//
// The HTML is parsed with gumbo into a tree, which is walked with an explicit depth bound. Blocks are rendered to
// strings and composed (a block quote prefixes its content's lines, a list item indents them); inline content
// accumulates in an Inline buffer that collapses white space as a browser does and escapes text.
//
// Escaping, chosen for how Mattermost renders (a marked-derived renderer; raw HTML is shown as text, never
// rendered) and how its server finds mentions:
//   - * _ ` ~ [ ] | get a backslash everywhere; # > - + get one at the start of a line, as does the . or ) after
//     a number there. These are all in marked's escapable set, so the backslash itself never shows.
//   - A backslash is doubled only where marked reads "\\" as an escape: before a non-word character or at the end
//     (marked shows "\\U" as two backslashes, and "\U" is a literal backslash for every Markdown parser).
//   - "&" that starts something shaped like a character reference ("&lt;", "&#64;") becomes "&amp;": both
//     Mattermost's server (whose Markdown parser decodes references before it looks for mentions) and the webapp
//     would otherwise decode it ("&#64;channel" would notify, a typed "&lt;br&gt;" would show as "<br>").
//   - "==" at the start of a line starts with "&#61;": marked cannot escape "=", and "Title<br>===" would become a
//     heading.
//   - < > and ( ) ! need nothing: without a preceding [ or raw-HTML rendering they cannot become markup.
//   - "@" gets a U+2060 WORD JOINER after it unless a letter or digit comes right before it. Mattermost's mention
//     scan splits words at every character that is not a letter, digit or one of : . - _ @, and strips : . - _ from
//     the front of a word, so ".@channel", "end.@channel", "_@all" and "@" followed by a name in the next element
//     would all notify; the joiner (not a letter) splits "@" from the name. After a letter or digit
//     (bob@example.com, x@channel) the scan never sees a mention.
//   - A resolved <at> mention is kept apart from letters or digits around it, so that the scan still finds it.
//   - NUL and the other C0 control characters (but tab and newline) are removed: PostgreSQL cannot store NUL.
//   - A bare URL is copied verbatim so that it still autolinks, unless that would let an "@" in it notify; then it
//     becomes [url-as-text](url).

#include <gumbo.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/strings.hpp"
#include "convert/convert.hpp"
#include "convert/detail/links.hpp"

namespace msteams::convert {
namespace {

constexpr std::string_view k_word_joiner = "\xE2\x81\xA0";  // U+2060
constexpr std::string_view k_nbsp = "\xC2\xA0";             // U+00A0

// ---- text escaping ---------------------------------------------------------------------------------------------

bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

bool is_alnum(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// Characters that make a following "@" part of a word (an e-mail address), not a mention, for Mattermost's scan.
bool continues_word(char c) noexcept { return is_alnum(c); }

// Characters that Mattermost's mention scan keeps in a word ("x" glued to "@jane" hides the mention from it).
// Bytes of multi-byte UTF-8 are counted as letters: the scan keeps Unicode letters and digits.
bool glues_to_mention(char c) noexcept {
    return is_alnum(c) || c == '_' || c == '@' || static_cast<unsigned char>(c) >= 0x80;
}

// "&name;" or "&#123;" / "&#x1F;" at s[i] (s[i] == '&'): something a Markdown parser would decode.
bool character_reference_at(std::string_view s, std::size_t i) noexcept {
    std::size_t j = i + 1;
    if (j < s.size() && s[j] == '#') {
        ++j;
        if (j < s.size() && (s[j] == 'x' || s[j] == 'X')) {
            ++j;
        }
    }
    std::size_t const start = j;
    while (j < s.size() && j - start <= 32 && is_alnum(s[j])) {
        ++j;
    }
    return j > start && j < s.size() && s[j] == ';';
}

// Length of the white space (ASCII or U+00A0) at s[i], 0 if none.
std::size_t space_at(std::string_view s, std::size_t i) noexcept {
    if (is_space(s[i])) {
        return 1;
    }
    if (s.substr(i, k_nbsp.size()) == k_nbsp) {
        return k_nbsp.size();
    }
    return 0;
}

bool starts_with_url(std::string_view s) noexcept {
    for (std::string_view prefix : {"https://", "http://", "mailto:", "www."}) {
        if (s.size() > prefix.size() && strings::iequals(s.substr(0, prefix.size()), prefix)) {
            return true;
        }
    }
    return false;
}

// A link destination for Markdown: characters that would end it or confuse the renderer are percent-encoded.
std::string markdown_url(std::string_view url) {
    std::string out;
    out.reserve(url.size());
    for (char c : url) {
        auto const u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f || c == '(' || c == ')' || c == '<' || c == '>' || c == '"' || c == '\\' ||
            c == '|' || c == '`' || c == '[' || c == ']') {
            constexpr char const* k_hex = "0123456789ABCDEF";
            out += '%';
            out += k_hex[u >> 4];
            out += k_hex[u & 0xf];
        } else {
            out += c;
        }
    }
    return out;
}

// Inline content being built: collapses white space like a browser, escapes text, and knows where lines start.
class Inline {
public:
    explicit Inline(bool single_line = false) : single_line_(single_line) {}

    // An Inline for content nested in this one (emphasis, a link label), with the same rules.
    [[nodiscard]] Inline nested() const {
        Inline inner(single_line_);
        inner.urls_ = urls_;
        inner.table_cell_ = table_cell_;
        return inner;
    }
    // Inside a link label bare URLs are text: escaped like any other.
    void no_urls() noexcept { urls_ = false; }

    // Text from the document: white space collapses, Markdown-significant characters are escaped.
    void text(std::string_view s) {
        for (std::size_t i = 0; i < s.size();) {
            if (auto const n = space_at(s, i)) {
                space();
                i += n;
                continue;
            }
            flush_space();
            if (urls_ && at_word_start() && starts_with_url(s.substr(i))) {
                std::size_t end = i;
                while (end < s.size() && space_at(s, end) == 0) {
                    ++end;
                }
                url_token(s.substr(i, end - i));
                i = end;
                continue;
            }
            i = escaped_char(s, i);
        }
    }

    // Markup this converter produces ("**", "@user", a link): copied as is after any pending space.
    void markup(std::string_view s) {
        if (s.empty()) {
            return;
        }
        flush_space();
        out_ += s;
    }

    // Collapsible white space (also what an element boundary like a table cell contributes).
    void space() {
        if (out_.empty() || out_.back() == '\n') {
            leading_space_ = leading_space_ || out_.empty();
            return;
        }
        pending_space_ = true;
    }

    void hard_break() {
        if (single_line_) {
            space();
            return;
        }
        pending_space_ = false;
        had_break_ = true;
        out_ += '\n';
    }

    // Another Inline's content wrapped in markup ("**" … "**"), keeping its edge white space outside the markup so
    // that the delimiters stay flanking. Nothing is written for empty content.
    void wrapped(Inline&& inner, std::string_view open, std::string_view close) {
        if (inner.leading_space_) {
            space();
        }
        auto const trailing = inner.pending_space_;
        auto content = std::move(inner).take();
        if (!content.empty()) {
            if (open == close && !pending_space_ && out_.size() == close_end_ && close_end_ >= close.size() &&
                std::string_view(out_).substr(close_end_ - close.size()) == close) {
                // <b>a</b><b>b</b>: "**ab**", not "**a****b**" (which renders as neither)
                out_.resize(out_.size() - close.size());
            } else {
                markup(open);
            }
            out_ += content;
            out_ += close;
            close_end_ = out_.size();
        }
        if (trailing) {
            space();
        }
    }

    // The content, without trailing white space or line breaks.
    std::string take() && {
        while (!out_.empty() && (out_.back() == '\n' || out_.back() == ' ')) {
            out_.pop_back();
        }
        return std::move(out_);
    }

    [[nodiscard]] bool empty() const noexcept { return out_.empty(); }
    [[nodiscard]] bool had_break() const noexcept { return had_break_; }
    [[nodiscard]] std::size_t size() const noexcept { return out_.size(); }
    [[nodiscard]] bool single_line() const noexcept { return single_line_; }

    // Mentions Teams split in two (<at id="0">Jane</at> <at id="1">Smith</at>, both the same user, #275/#391
    // upstream) are joined: the caller asks whether the last thing written was a mention of `user`.
    [[nodiscard]] bool follows_mention_of(std::string const& user) const noexcept {
        return !user.empty() && user == last_mention_user_ && out_.size() == last_mention_end_;
    }
    void mention_written(std::string const& user) {
        last_mention_user_ = user;
        last_mention_end_ = out_.size();
    }
    // Extends the bold mention just written ("**Jane**") with more text ("**Jane Smith**").
    void extend_bold_mention(std::string_view more) {
        pending_space_ = false;
        out_.resize(out_.size() - 2);
        Inline escaped;
        escaped.text(more);
        out_ += ' ';
        out_ += std::move(escaped).take();
        out_ += "**";
        last_mention_end_ = out_.size();
    }
    void drop_pending_space() noexcept { pending_space_ = false; }

    // A resolved mention ("@jane") is about to be written: it must not glue to a word before it, or Mattermost's
    // scan would not see it ("x@jane" is no mention; "cc:@jane" is, the scan splits at ':').
    void before_mention() {
        if (!pending_space_ && !out_.empty() && glues_to_mention(out_.back())) {
            pending_space_ = true;
        }
    }
    // ... and text right after it must not glue to it either ("@janex", "@jane.x").
    void after_mention() noexcept { word_end_ = out_.size(); }

    // Inside a table cell a "|" ends the cell even in a code span: there it must be "\|".
    void table_cell() noexcept { table_cell_ = true; }
    [[nodiscard]] bool in_table_cell() const noexcept { return table_cell_; }

private:
    [[nodiscard]] bool at_line_start() const noexcept { return out_.empty() || out_.back() == '\n'; }

    [[nodiscard]] bool at_word_start() const noexcept {
        if (out_.empty()) {
            return true;
        }
        char const c = out_.back();
        return is_space(c) || c == '(';
    }

    void flush_space() {
        if (pending_space_ && !at_line_start()) {
            out_ += ' ';
        }
        pending_space_ = false;
    }

    // Escapes the character at s[i] (the start of a UTF-8 sequence) and returns the index after it.
    std::size_t escaped_char(std::string_view s, std::size_t i) {
        char const c = s[i];
        if (out_.size() == word_end_ && word_end_ != 0 && (glues_to_mention(c) || glues_after_mention(s, i))) {
            out_ += ' ';  // "@jane" then "x": keep the mention a word of its own
        }
        switch (c) {
            case '\\':
                out_ += '\\';
                if (i + 1 >= s.size() || !is_alnum(s[i + 1])) {
                    out_ += '\\';
                }
                return i + 1;
            case '&': out_ += character_reference_at(s, i) ? "&amp;" : "&"; return i + 1;
            case '=': out_ += at_line_start() && i + 1 < s.size() && s[i + 1] == '=' ? "&#61;" : "="; return i + 1;
            case '*':
            case '_':
            case '`':
            case '~':
            case '[':
            case ']':
            case '|':
                out_ += '\\';
                out_ += c;
                return i + 1;
            case '#':
            case '>':
            case '-':
            case '+':
                if (at_line_start()) {
                    out_ += '\\';
                }
                out_ += c;
                return i + 1;
            case '@': {
                bool const in_word = !out_.empty() && continues_word(out_.back());
                out_ += '@';
                if (!in_word && (i + 1 >= s.size() || space_at(s, i + 1) == 0)) {
                    out_ += k_word_joiner;
                }
                return i + 1;
            }
            default: break;
        }
        if (is_digit(c) && at_line_start()) {
            std::size_t j = i;
            while (j < s.size() && is_digit(s[j])) {
                ++j;
            }
            out_.append(s.substr(i, j - i));
            if (j < s.size() && (s[j] == '.' || s[j] == ')')) {
                out_ += '\\';
                out_ += s[j];
                ++j;
            }
            return j;
        }
        out_ += c;
        return i + 1;
    }

    void url_token(std::string_view token) {
        bool risky = false;
        for (std::size_t k = 0; k < token.size(); ++k) {
            char const c = token[k];
            bool const mention_like = c == '@' && (k == 0 || !continues_word(token[k - 1]));
            risky = risky || (c == '&' && character_reference_at(token, k));
            if (c == '|' || c == '`' || c == '[' || c == ']' || mention_like) {
                risky = true;
            }
        }
        if (!risky) {
            out_ += token;
            return;
        }
        Inline label;
        label.urls_ = false;
        label.out_ = "x";  // not at a line or word start: no URL detection, no line-start escapes
        for (std::size_t k = 0; k < token.size();) {
            k = label.escaped_char(token, k);
        }
        out_ += '[';
        out_.append(label.out_, 1);
        out_ += "](";
        std::string target(token);
        if (strings::iequals(token.substr(0, 4), "www.")) {
            target = "https://" + target;
        }
        out_ += markdown_url(target);
        out_ += ')';
    }

    // '.', '-' or ':' right after a mention, followed by more of a word: "@jane.x" hides the mention too.
    static bool glues_after_mention(std::string_view s, std::size_t i) noexcept {
        char const c = s[i];
        return (c == '.' || c == '-' || c == ':') && i + 1 < s.size() &&
               (glues_to_mention(s[i + 1]) || s[i + 1] == '.' || s[i + 1] == '-' || s[i + 1] == ':');
    }

    std::string out_;
    std::size_t word_end_ = 0;   // where the last resolved mention ends (0: none)
    std::size_t close_end_ = 0;  // where the last closing delimiter written by wrapped() ends (0: none)
    bool table_cell_ = false;
    bool single_line_ = false;
    bool urls_ = true;
    bool pending_space_ = false;
    bool leading_space_ = false;
    bool had_break_ = false;
    std::string last_mention_user_;
    std::size_t last_mention_end_ = 0;
};

// ---- blocks ---------------------------------------------------------------------------------------------------

struct Block {
    std::string text;
    bool line = false;  // a line of text (a <div>, a run of inline content): joins a neighbouring line with "\n"
};

std::string join_blocks(std::vector<Block> const& blocks, bool tight) {
    std::string out;
    for (std::size_t i = 0; i < blocks.size(); ++i) {
        if (i > 0) {
            out += (tight || (blocks[i - 1].line && blocks[i].line)) ? "\n" : "\n\n";
        }
        out += blocks[i].text;
    }
    return out;
}

// Prefixes every line: `first` for the first, `rest` for the others (empty lines get `rest` without trailing
// spaces).
std::string prefix_lines(std::string_view text, std::string_view first, std::string_view rest) {
    std::string out;
    out.reserve(text.size() + first.size() + 8);
    bool is_first = true;
    std::size_t pos = 0;
    while (true) {
        auto const nl = text.find('\n', pos);
        auto const line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        std::string_view prefix = is_first ? first : rest;
        if (line.empty()) {
            while (!prefix.empty() && prefix.back() == ' ') {
                prefix.remove_suffix(1);
            }
        }
        out += prefix;
        out += line;
        is_first = false;
        if (nl == std::string_view::npos) {
            break;
        }
        out += '\n';
        pos = nl + 1;
    }
    return out;
}

// ---- the tree walk ---------------------------------------------------------------------------------------------

std::string tag_name(GumboNode const* node) {
    auto const& el = node->v.element;
    if (el.tag != GUMBO_TAG_UNKNOWN) {
        return gumbo_normalized_tagname(el.tag);
    }
    GumboStringPiece piece = el.original_tag;
    if (piece.data == nullptr || piece.length == 0) {
        return {};
    }
    gumbo_tag_from_original_text(&piece);
    return strings::to_lower(std::string_view(piece.data, piece.length));
}

std::string_view attribute(GumboNode const* node, char const* name) {
    GumboAttribute const* attr = gumbo_get_attribute(&node->v.element.attributes, name);
    return attr != nullptr && attr->value != nullptr ? std::string_view(attr->value) : std::string_view();
}

bool is_element(GumboNode const* node) { return node->type == GUMBO_NODE_ELEMENT || node->type == GUMBO_NODE_TEMPLATE; }

std::span<GumboNode* const> children_of(GumboNode const* node) {
    GumboVector const* v = nullptr;
    if (node->type == GUMBO_NODE_DOCUMENT) {
        v = &node->v.document.children;
    } else if (is_element(node)) {
        v = &node->v.element.children;
    } else {
        return {};
    }
    return {reinterpret_cast<GumboNode* const*>(v->data), v->length};
}

bool has_class_token(std::string_view classes, std::string_view token) {
    for (auto const& word : strings::split_words(classes)) {
        if (strings::iequals(word, token)) {
            return true;
        }
    }
    return false;
}

// A code block's language from class="language-x" / "lang-x" (or, on Teams' <codeblock>, a bare class name).
std::string code_language(std::string_view classes, bool bare_allowed) {
    std::string lang;
    for (auto const& word : strings::split_words(classes)) {
        std::string_view w = word;
        if (w.starts_with("language-")) {
            lang = w.substr(9);
        } else if (w.starts_with("lang-")) {
            lang = w.substr(5);
        } else if (bare_allowed && lang.empty()) {
            lang = w;
        } else {
            continue;
        }
        break;
    }
    std::string out;
    for (char c : strings::to_lower(lang)) {
        if (is_alnum(c) || c == '+' || c == '#' || c == '-' || c == '_' || c == '.') {
            out += c;
        }
    }
    return out.size() <= 32 ? out : std::string();
}

enum class Kind { skip, block, inline_element };

// Budgets that keep a hostile message bounded in time and memory (issue 11 #6). Past one, the message is shown as
// plain text with k_plain_note. Real messages are far below: Mattermost's own post limit is 16,383 characters.
constexpr std::size_t k_max_table_cells = 50'000;  // over all tables, rows x widest row
constexpr std::size_t k_max_html_nodes = 200'000;  // elements and text nodes in gumbo's tree, estimated and counted
constexpr std::string_view k_plain_note = "shown as plain text: too complex to format";

// Blocks that only group their content (a <div> of lines, a list item outside a list).
bool is_transparent_block(std::string_view tag) {
    constexpr std::array<std::string_view, 17> k_transparent{"html",    "body", "div", "section", "article", "header",
                                                             "footer",  "main", "nav", "aside",   "figure",  "address",
                                                             "details", "li",   "dl",  "dt",      "dd"};
    return std::ranges::find(k_transparent, tag) != k_transparent.end();
}

constexpr std::array<std::string_view, 10> k_skipped{"head",   "script", "style", "template", "noscript",
                                                     "iframe", "object", "svg",   "math",     "title"};
constexpr std::array<std::string_view, 31> k_blocks{
    "html", "body", "p",     "div",    "ul",        "ol",    "li", "blockquote", "h1",      "h2",     "h3",
    "h4",   "h5",   "h6",    "pre",    "codeblock", "table", "hr", "section",    "article", "header", "footer",
    "main", "nav",  "aside", "figure", "dl",        "dt",    "dd", "address",    "details"};

Kind kind_of(std::string_view tag) {
    if (std::ranges::find(k_skipped, tag) != k_skipped.end()) {
        return Kind::skip;
    }
    if (std::ranges::find(k_blocks, tag) != k_blocks.end()) {
        return Kind::block;
    }
    return Kind::inline_element;
}

struct Style {
    bool bold = false;
    bool italic = false;
    bool strike = false;
    bool link = false;
};

class Walker {
public:
    Walker(std::vector<TeamsMention> const& mentions, UsernameForTeamsUser const& username_for, Limits const& limits)
        : mentions_(mentions),
          username_for_(username_for),
          limits_(limits) {}

    std::string document(GumboNode const* root) {
        auto blocks = container(root, 0);
        return join_blocks(blocks, false);
    }

    [[nodiscard]] bool overflow() const noexcept { return overflow_; }
    FromTeams& result() noexcept { return result_; }

private:
    // Block content: inline runs become lines, block children become blocks.
    std::vector<Block> container(GumboNode const* node, std::size_t depth) {
        std::vector<Block> blocks;
        std::size_t total = 0;  // bytes in `blocks`, with separators
        Inline run;
        auto const flush = [&] {
            bool const had_break = run.had_break();
            auto text = std::move(run).take();
            if (!text.empty() || had_break) {
                total += text.size() + 2;
                blocks.push_back({std::move(text), true});
            }
            run = Inline();
        };
        for (GumboNode const* child : children_of(node)) {
            if (overflow_) {
                break;
            }
            if (!is_element(child)) {
                inline_node(child, run, {}, depth + 1);
                continue;
            }
            auto const tag = tag_name(child);
            auto const kind = kind_of(tag);
            if (kind == Kind::skip) {
                continue;
            }
            if (kind == Kind::inline_element || depth + 1 > limits_.max_depth) {
                inline_node(child, run, {}, depth + 1);
                continue;
            }
            flush();
            auto const before = blocks.size();
            block(child, tag, depth + 1, blocks);
            for (auto i = before; i < blocks.size(); ++i) {
                total += blocks[i].text.size() + 2;
            }
            overflow_ = overflow_ || total > limits_.max_output_bytes;
        }
        flush();
        return blocks;
    }

    // Whether `text` with `prefix` bytes before each line (after `before` bytes already written) stays within the
    // output limit; sets overflow_ if not.
    // Checked before each level of quote or list prefixes its content: deep nesting over many lines would
    // otherwise copy the growing text once per level (quadratic) before the limit was seen.
    bool fits_prefixed(std::string const& text, std::size_t prefix, std::size_t before = 0) {
        auto const lines = static_cast<std::size_t>(std::ranges::count(text, '\n')) + 1;
        if (before + text.size() + lines * prefix > limits_.max_output_bytes) {
            overflow_ = true;
        }
        return !overflow_;
    }

    void block(GumboNode const* node, std::string const& tag, std::size_t depth, std::vector<Block>& out) {
        if (is_transparent_block(tag)) {
            auto inner = container(node, depth);
            std::ranges::move(inner, std::back_inserter(out));
            return;
        }
        if (tag == "p") {
            auto text = join_blocks(container(node, depth), false);
            if (!text.empty()) {
                out.push_back({std::move(text), false});
            }
            return;
        }
        if (tag.size() == 2 && tag[0] == 'h' && tag[1] >= '1' && tag[1] <= '6') {
            Inline line(true);
            inline_children(node, line, {}, depth);
            auto text = std::move(line).take();
            if (!text.empty()) {
                out.push_back({std::string(static_cast<std::size_t>(tag[1] - '0'), '#') + " " + text, false});
            }
            return;
        }
        if (tag == "hr") {
            out.push_back({"---", false});
            return;
        }
        if (tag == "blockquote") {
            auto text = join_blocks(container(node, depth), false);
            if (!text.empty() && fits_prefixed(text, 2)) {
                out.push_back({prefix_lines(text, "> ", "> "), false});
            }
            return;
        }
        if (tag == "ul" || tag == "ol") {
            list(node, tag == "ol", depth, out);
            return;
        }
        if (tag == "pre" || tag == "codeblock") {
            code_block(node, tag == "codeblock", out);
            return;
        }
        if (tag == "table") {
            table(node, depth, out);
            return;
        }
    }

    void list(GumboNode const* node, bool ordered, std::size_t depth, std::vector<Block>& out) {
        long number = 1;
        if (ordered) {
            auto const start = attribute(node, "start");
            if (!start.empty() && start.size() < 9 && std::ranges::all_of(start, is_digit)) {
                number = std::stol(std::string(start));
            }
        }
        std::string text;
        for (GumboNode const* child : children_of(node)) {
            if (overflow_) {
                break;
            }
            if (!is_element(child)) {
                continue;  // white space between items; stray text is not an item
            }
            auto const tag = tag_name(child);
            if (kind_of(tag) == Kind::skip) {
                continue;
            }
            std::vector<Block> item;
            if ((tag == "ul" || tag == "ol") && depth + 1 <= limits_.max_depth) {
                list(child, tag == "ol", depth + 1, item);  // <ul><ul> as browsers show it: a nested list
            } else {
                item = container(child, depth + 1);  // an <li>, or anything else browsers show as one
            }
            std::string const marker = ordered ? std::to_string(number++) + ". " : "- ";
            std::string const indent(marker.size(), ' ');
            auto const content = join_blocks(item, true);
            if (!fits_prefixed(content, indent.size(), text.size())) {
                return;
            }
            if (!text.empty()) {
                text += '\n';
            }
            // An item that starts with a nested list (<li><ul>…) keeps the list on its own line.
            text += prefix_lines(content, marker, indent);
        }
        if (!text.empty()) {
            out.push_back({std::move(text), false});
        }
    }

    // The text of a <pre>/<codeblock>, exactly: <br> and block ends are newlines; nothing is escaped.
    void code_block(GumboNode const* node, bool teams_codeblock, std::vector<Block>& out) {
        std::string lang = code_language(attribute(node, "class"), teams_codeblock);
        std::string code;
        struct Frame {
            GumboNode const* node;
            bool exit;
        };
        std::vector<Frame> stack{{node, false}};
        while (!stack.empty()) {
            auto const [n, exit] = stack.back();
            stack.pop_back();
            if (n->type == GUMBO_NODE_TEXT || n->type == GUMBO_NODE_WHITESPACE || n->type == GUMBO_NODE_CDATA) {
                code += n->v.text.text;
                continue;
            }
            if (!is_element(n)) {
                continue;
            }
            auto const tag = tag_name(n);
            if (exit) {
                if (kind_of(tag) == Kind::block && !code.empty() && code.back() != '\n') {
                    code += '\n';
                }
                continue;
            }
            if (tag == "br") {
                code += '\n';
                continue;
            }
            if (kind_of(tag) == Kind::skip) {
                continue;
            }
            if (tag == "code" && lang.empty()) {
                lang = code_language(attribute(n, "class"), false);
            }
            if (n != node) {
                stack.push_back({n, true});
            }
            auto const kids = children_of(n);
            for (auto it = kids.rbegin(); it != kids.rend(); ++it) {
                stack.push_back({*it, false});
            }
            if (code.size() > limits_.max_output_bytes) {
                overflow_ = true;
                return;
            }
        }
        while (!code.empty() && (code.back() == '\n' || code.back() == '\r')) {
            code.pop_back();
        }
        std::size_t longest = 0;
        std::size_t run = 0;
        for (char c : code) {
            run = c == '`' ? run + 1 : 0;
            longest = std::max(longest, run);
        }
        std::string const fence(std::max<std::size_t>(3, longest + 1), '`');
        out.push_back({fence + lang + "\n" + code + (code.empty() ? "" : "\n") + fence, false});
    }

    void table(GumboNode const* node, std::size_t depth, std::vector<Block>& out) {
        std::vector<std::vector<std::string>> rows;
        // Rows sit in the table or one level down (thead/tbody/tfoot); gumbo always adds the tbody.
        auto const add_rows = [&](GumboNode const* parent, auto const& self, int level) -> void {
            for (GumboNode const* child : children_of(parent)) {
                if (!is_element(child)) {
                    continue;
                }
                auto const tag = tag_name(child);
                if (tag == "tr") {
                    std::vector<std::string> cells;
                    for (GumboNode const* cell : children_of(child)) {
                        if (!is_element(cell) || overflow_) {
                            continue;
                        }
                        auto const ctag = tag_name(cell);
                        if (ctag != "td" && ctag != "th") {
                            continue;
                        }
                        Inline text(true);
                        text.table_cell();
                        inline_children(cell, text, {}, depth + 2);
                        cells.push_back(std::move(text).take());
                    }
                    rows.push_back(std::move(cells));
                } else if (level == 0 && (tag == "thead" || tag == "tbody" || tag == "tfoot")) {
                    self(child, self, 1);
                }
            }
        };
        add_rows(node, add_rows, 0);
        std::size_t columns = 0;
        for (auto const& r : rows) {
            columns = std::max(columns, r.size());
        }
        if (columns == 0) {
            return;
        }
        // Short rows are padded to the widest: one row of 20,000 cells and many short ones would be quadratic.
        table_cells_ += columns * rows.size();
        if (table_cells_ > k_max_table_cells) {
            overflow_ = true;
            return;
        }
        std::string text;
        auto const add_row = [&](std::vector<std::string> const& cells) {
            text += '|';
            for (std::size_t i = 0; i < columns; ++i) {
                text += ' ';
                text += i < cells.size() && !cells[i].empty() ? cells[i] : std::string();
                text += " |";
            }
            text += '\n';
        };
        add_row(rows.front());
        text += '|';
        for (std::size_t i = 0; i < columns; ++i) {
            text += " --- |";
        }
        text += '\n';
        for (std::size_t r = 1; r < rows.size(); ++r) {
            add_row(rows[r]);
        }
        text.pop_back();
        out.push_back({std::move(text), false});
    }

    void inline_children(GumboNode const* node, Inline& out, Style style, std::size_t depth) {
        for (GumboNode const* child : children_of(node)) {
            if (overflow_) {
                return;
            }
            inline_node(child, out, style, depth + 1);
        }
        if (out.size() > limits_.max_output_bytes) {
            overflow_ = true;
        }
    }

    // The text of a subtree, unescaped, white space collapsed and trimmed.
    static std::string plain_text(GumboNode const* node) {
        std::string text;
        std::vector<GumboNode const*> stack{node};
        while (!stack.empty() && text.size() < 4096) {
            GumboNode const* n = stack.back();
            stack.pop_back();
            if (n->type == GUMBO_NODE_TEXT || n->type == GUMBO_NODE_CDATA || n->type == GUMBO_NODE_WHITESPACE) {
                for (char const* p = n->v.text.text; *p != '\0'; ++p) {
                    bool const space = is_space(*p);
                    if (!space) {
                        text += *p;
                    } else if (!text.empty() && text.back() != ' ') {
                        text += ' ';
                    }
                }
            } else if (is_element(n)) {
                auto const kids = children_of(n);
                for (auto it = kids.rbegin(); it != kids.rend(); ++it) {
                    stack.push_back(*it);
                }
            }
        }
        return std::string(strings::trim(text));
    }

    // Text content only, without recursion: what a subtree past the depth limit becomes.
    void flattened(GumboNode const* node, Inline& out) {
        std::vector<GumboNode const*> stack{node};
        while (!stack.empty() && !overflow_) {
            GumboNode const* n = stack.back();
            stack.pop_back();
            if (n->type == GUMBO_NODE_TEXT || n->type == GUMBO_NODE_CDATA) {
                out.text(n->v.text.text);
            } else if (n->type == GUMBO_NODE_WHITESPACE) {
                out.space();
            } else if (is_element(n)) {
                auto const tag = tag_name(n);
                if (kind_of(tag) == Kind::skip) {
                    continue;
                }
                if (kind_of(tag) == Kind::block || tag == "br") {
                    out.space();
                }
                auto const kids = children_of(n);
                for (auto it = kids.rbegin(); it != kids.rend(); ++it) {
                    stack.push_back(*it);
                }
            }
            overflow_ = overflow_ || out.size() > limits_.max_output_bytes;
        }
    }

    // Long (over 80 lines) on purpose: one case per inline HTML element Teams sends, each a few lines, in one
    // place with the budgets they share.
    // NOLINTNEXTLINE(readability-function-size)
    void inline_node(GumboNode const* node, Inline& out, Style style, std::size_t depth) {
        switch (node->type) {
            case GUMBO_NODE_TEXT:
            case GUMBO_NODE_CDATA: out.text(node->v.text.text); return;
            case GUMBO_NODE_WHITESPACE: out.space(); return;
            case GUMBO_NODE_ELEMENT:
            case GUMBO_NODE_TEMPLATE: break;
            default: return;  // comments, the document
        }
        if (depth > limits_.max_depth) {
            flattened(node, out);
            return;
        }
        auto const tag = tag_name(node);
        auto const kind = kind_of(tag);
        if (kind == Kind::skip) {
            return;
        }
        if (tag == "br") {
            out.hard_break();
            return;
        }
        if (tag == "b" || tag == "strong") {
            emphasis(node, out, style, depth, style.bold, "**", [](Style& s) { s.bold = true; });
            return;
        }
        if (tag == "i" || tag == "em") {
            emphasis(node, out, style, depth, style.italic, "*", [](Style& s) { s.italic = true; });
            return;
        }
        if (tag == "s" || tag == "strike" || tag == "del") {
            emphasis(node, out, style, depth, style.strike, "~~", [](Style& s) { s.strike = true; });
            return;
        }
        if (tag == "code" || tag == "kbd" || tag == "samp" || tag == "tt") {
            code_span(node, out);
            return;
        }
        if (tag == "a") {
            link(node, out, style, depth);
            return;
        }
        if (tag == "at") {
            mention(node, out);
            return;
        }
        if (tag == "img" || tag == "emoji") {
            image(node, tag, out);
            return;
        }
        if (tag == "attachment") {
            auto const id = attribute(node, "id");
            if (!id.empty()) {
                result_.attachment_ids.emplace_back(id);
            }
            return;
        }
        if (kind == Kind::block) {
            // A block inside inline content (or a table cell): its text on lines of its own.
            if (!out.empty()) {
                out.hard_break();
            }
            if (tag == "hr") {
                return;
            }
            if (tag == "pre" || tag == "codeblock") {
                code_span(node, out);
            } else {
                inline_children(node, out, style, depth);
            }
            if (!out.empty()) {
                out.hard_break();
            }
            return;
        }
        if (tag == "td" || tag == "th" || tag == "tr") {
            out.space();
        }
        inline_children(node, out, style, depth);  // span, font, u, sup, unknown elements: their content
    }

    template <class Mark>
    void emphasis(GumboNode const* node, Inline& out, Style style, std::size_t depth, bool already,
                  std::string_view delimiter, Mark mark) {
        if (already) {
            inline_children(node, out, style, depth);
            return;
        }
        mark(style);
        Inline inner = out.nested();
        inline_children(node, inner, style, depth);
        out.wrapped(std::move(inner), delimiter, delimiter);
    }

    void code_span(GumboNode const* node, Inline& out) {
        std::string code;
        std::vector<GumboNode const*> stack{node};
        while (!stack.empty()) {
            GumboNode const* n = stack.back();
            stack.pop_back();
            if (n->type == GUMBO_NODE_TEXT || n->type == GUMBO_NODE_WHITESPACE || n->type == GUMBO_NODE_CDATA) {
                code += n->v.text.text;
            } else if (is_element(n)) {
                if (tag_name(n) == "br") {
                    code += ' ';
                    continue;
                }
                auto const kids = children_of(n);
                for (auto it = kids.rbegin(); it != kids.rend(); ++it) {
                    stack.push_back(*it);
                }
            }
            if (code.size() > limits_.max_output_bytes) {
                overflow_ = true;
                return;
            }
        }
        std::ranges::replace_if(code, [](char c) { return c == '\n' || c == '\r' || c == '\t'; }, ' ');
        if (std::ranges::all_of(code, [](char c) { return c == ' '; })) {
            if (!code.empty()) {
                out.space();
            }
            return;
        }
        std::size_t longest = 0;
        std::size_t run = 0;
        for (char c : code) {
            run = c == '`' ? run + 1 : 0;
            longest = std::max(longest, run);
        }
        if (out.in_table_cell()) {
            std::string escaped;
            for (char c : code) {
                if (c == '|') {
                    escaped += '\\';
                }
                escaped += c;
            }
            code = std::move(escaped);
        }
        std::string const ticks(longest + 1, '`');
        bool const pad = code.front() == '`' || code.back() == '`';
        out.markup(ticks + (pad ? " " : "") + code + (pad ? " " : "") + ticks);
    }

    void link(GumboNode const* node, Inline& out, Style style, std::size_t depth) {
        std::string href(strings::trim(attribute(node, "href")));
        if (style.link || !detail::is_allowed_link(href)) {
            inline_children(node, out, style, depth);  // not a link we keep: its text
            return;
        }
        style.link = true;
        Inline label(true);
        label.no_urls();
        inline_children(node, label, style, depth);
        auto const close = "](" + markdown_url(href) + ")";
        if (label.empty()) {
            Inline shown(true);
            shown.no_urls();
            shown.text(href.starts_with("mailto:") ? std::string_view(href).substr(7) : std::string_view(href));
            out.wrapped(std::move(shown), "[", close);
            return;
        }
        out.wrapped(std::move(label), "[", close);
    }

    void mention(GumboNode const* node, Inline& out) {
        auto const text = plain_text(node);
        TeamsMention const* m = nullptr;
        auto const id_attr = attribute(node, "id");
        for (auto const& candidate : mentions_) {
            if (std::to_string(candidate.id) == id_attr) {
                m = &candidate;
                break;
            }
        }
        std::string const user = m != nullptr ? m->teams_user_id : std::string();
        if (out.follows_mention_of(user)) {
            if (last_mention_resolved_) {
                out.drop_pending_space();  // "@jane" already stands for "Jane Smith"
            } else {
                out.extend_bold_mention(!text.empty() ? std::string_view(text) : std::string_view(m->text));
            }
            return;
        }
        if (m != nullptr && !m->teams_user_id.empty() && username_for_) {
            auto username = username_for_(m->teams_user_id);
            if (username && !username->empty() && std::ranges::all_of(*username, [](char c) {
                    return is_alnum(c) || c == '.' || c == '-' || c == '_';
                })) {
                out.before_mention();
                out.markup("@" + *username);
                out.mention_written(user);
                out.after_mention();
                last_mention_resolved_ = true;
                return;
            }
        }
        Inline bold(true);
        bold.text(!text.empty() || m == nullptr ? std::string_view(text) : std::string_view(m->text));
        if (bold.empty()) {
            return;
        }
        out.wrapped(std::move(bold), "**", "**");
        out.mention_written(user);
        last_mention_resolved_ = false;
    }

    void image(GumboNode const* node, std::string const& tag, Inline& out) {
        auto const alt = attribute(node, "alt");
        auto const src = attribute(node, "src");
        bool const emoji = tag == "emoji" ||
                           attribute(node, "itemtype").find("schema.skype.com/Emoji") != std::string_view::npos ||
                           has_class_token(attribute(node, "class"), "emoji");
        if (emoji) {
            out.text(!alt.empty() ? alt : attribute(node, "title"));
            return;
        }
        constexpr std::string_view k_hosted = "/hostedContents/";
        if (auto const at = src.find(k_hosted); at != std::string_view::npos) {
            auto id = src.substr(at + k_hosted.size());
            id = id.substr(0, id.find('/'));
            if (!id.empty()) {
                result_.hosted_content_ids.emplace_back(id);
            }
            return;
        }
        std::string const url(strings::trim(src));
        if (detail::is_allowed_link(url) && !url.starts_with("mailto:")) {
            Inline label(true);
            label.no_urls();
            label.text(!alt.empty() ? alt : std::string_view("image"));
            out.wrapped(std::move(label), "[", "](" + markdown_url(url) + ")");
            return;
        }
        out.text(alt);
    }

    std::vector<TeamsMention> const& mentions_;
    UsernameForTeamsUser const& username_for_;
    Limits const& limits_;
    FromTeams result_;
    bool overflow_ = false;  // over a budget (output size, table cells): the message is shown as plain text
    bool last_mention_resolved_ = false;
    std::size_t table_cells_ = 0;
};

// Upper bounds on how deep gumbo's tree will nest and how many nodes it will have, from a cheap linear scan of the
// tags, so that pathological input never reaches gumbo: it has no depth limit, its tree teardown recurses, some of
// its scope checks walk the whole open-element stack, and its "reconstruct the active formatting elements" step
// re-creates every formatting element left open (<b><i>... closed implicitly by a </p>) in each later paragraph,
// which multiplies nodes. The scan over-approximates:
//   - every start tag opens an element, except void elements: "<ul/>" is not self-closing in HTML5, it nests;
//   - p, li, td... add nodes but no depth: each closes its predecessor unless an element counted here (a table, a
//     section, a button...) stands between them;
//   - an end tag closes the innermost open element of its name (and everything opened after it);
//   - a formatting element stays "active" until its own end tag, whatever else closes, and each later start tag
//     or run of text may re-create all active ones (depth and nodes both grow by their number).
struct HtmlCost {
    std::size_t depth = 0;
    std::size_t nodes = 0;
};

HtmlCost html_cost(std::string_view html, std::size_t max_depth, std::size_t max_nodes) {
    constexpr std::array<std::string_view, 14> k_void{"area",  "base", "br",   "col",   "embed",  "hr",    "img",
                                                      "input", "link", "meta", "param", "source", "track", "wbr"};
    constexpr std::array<std::string_view, 13> k_flat{"p",      "li",    "dt",    "dd",    "tr",       "td",     "th",
                                                      "option", "thead", "tbody", "tfoot", "colgroup", "caption"};
    constexpr std::array<std::string_view, 14> k_formatting{"a",    "b", "big",   "code",   "em",     "font", "i",
                                                            "nobr", "s", "small", "strike", "strong", "tt",   "u"};
    // Tag names as hashes: the end-tag search is then a scan of integers (the stack is at most max_depth deep).
    auto const hash = [](std::string_view name) {
        std::uint32_t h = 2166136261u;
        for (char c : name) {
            h = (h ^ static_cast<unsigned char>(c | 0x20)) * 16777619u;
        }
        return h;
    };
    std::vector<std::uint32_t> open;
    std::vector<std::uint32_t> active;  // formatting elements not yet ended by their own end tag
    HtmlCost cost;
    bool text_run = false;
    std::size_t i = 0;
    auto const count = [&](std::size_t n) {
        cost.nodes += n;
        cost.depth = std::max(cost.depth, open.size() + active.size());
    };
    while (i < html.size() && cost.depth <= max_depth && cost.nodes <= max_nodes) {
        if (html[i] != '<') {
            if (!text_run) {
                count(1 + active.size());
                text_run = true;
            }
            ++i;
            continue;
        }
        std::size_t const lt = i;
        bool const closing = lt + 1 < html.size() && html[lt + 1] == '/';
        std::size_t j = lt + (closing ? 2 : 1);
        std::size_t const name_start = j;
        while (j < html.size() && (is_alnum(html[j]) || html[j] == '-' || html[j] == ':')) {
            ++j;
        }
        if (j == name_start || !((html[name_start] | 0x20) >= 'a' && (html[name_start] | 0x20) <= 'z')) {
            if (!text_run) {
                count(1 + active.size());
                text_run = true;
            }
            i = lt + 1;  // "<" that starts no tag (or a comment, a doctype): text, at most
            continue;
        }
        text_run = false;
        auto const name = strings::to_lower(html.substr(name_start, std::min<std::size_t>(j - name_start, 32)));
        auto const h = hash(name);
        auto const gt = html.find('>', j);
        i = gt == std::string_view::npos ? html.size() : gt + 1;
        bool const formatting = std::ranges::find(k_formatting, name) != k_formatting.end();
        if (closing) {
            if (auto const it = std::ranges::find(open.rbegin(), open.rend(), h); it != open.rend()) {
                open.erase(std::prev(it.base()), open.end());
            }
            if (formatting) {
                if (auto const it = std::ranges::find(active.rbegin(), active.rend(), h); it != active.rend()) {
                    active.erase(std::prev(it.base()));
                }
            }
            continue;
        }
        count(1 + active.size());
        if (std::ranges::find(k_void, name) != k_void.end() || std::ranges::find(k_flat, name) != k_flat.end()) {
            continue;
        }
        open.push_back(h);
        if (formatting) {
            active.push_back(h);
        }
        count(0);
    }
    return cost;
}

// Depth and size of gumbo's tree, counted on every node, without recursion; false when over either bound.
bool tree_within(GumboNode const* root, std::size_t max_depth, std::size_t max_nodes) {
    std::vector<std::pair<GumboNode const*, std::size_t>> stack{{root, 0}};
    std::size_t nodes = 0;
    while (!stack.empty()) {
        auto const [node, depth] = stack.back();
        stack.pop_back();
        if (depth > max_depth || ++nodes > max_nodes) {
            return false;
        }
        for (GumboNode const* child : children_of(node)) {
            stack.emplace_back(child, depth + 1);
        }
    }
    return true;
}

// The text of HTML too complex to parse, in one linear pass and without a tree: tags are dropped (those that end a
// line become a newline), the common character references are decoded, anything else is kept as it is.
std::string html_text(std::string_view html) {
    constexpr std::array<std::string_view, 14> k_line_tags{"br", "p",  "div", "li", "tr",  "h1",         "h2",
                                                           "h3", "h4", "h5",  "h6", "pre", "blockquote", "hr"};
    std::string out;
    out.reserve(html.size());
    std::size_t i = 0;
    while (i < html.size()) {
        char const c = html[i];
        if (c == '<' && i + 1 < html.size() &&
            (html[i + 1] == '/' || html[i + 1] == '!' || html[i + 1] == '?' ||
             ((html[i + 1] | 0x20) >= 'a' && (html[i + 1] | 0x20) <= 'z'))) {
            std::size_t j = i + 1 + (html[i + 1] == '/' ? 1 : 0);
            std::size_t const name_start = j;
            while (j < html.size() && is_alnum(html[j])) {
                ++j;
            }
            auto const name = strings::to_lower(html.substr(name_start, std::min<std::size_t>(j - name_start, 16)));
            if (std::ranges::find(k_line_tags, name) != k_line_tags.end() && !out.empty() && out.back() != '\n') {
                out += '\n';
            }
            auto const gt = html.find('>', j);
            i = gt == std::string_view::npos ? html.size() : gt + 1;
            continue;
        }
        if (c == '&' && character_reference_at(html, i)) {
            auto const semi = html.find(';', i);
            if (auto const text = strings::decode_character_reference(html.substr(i + 1, semi - i - 1))) {
                out += *text;
                i = semi + 1;
                continue;
            }
        }
        out += c;
        ++i;
    }
    return out;
}

// Plain text (Teams "text" content, or the text of HTML over a budget) as Markdown that shows it as typed.
std::string plain_markdown(std::string_view text) {
    auto const valid = strings::to_valid_utf8(text);
    std::string_view body = valid;
    Inline out;
    std::size_t pos = 0;
    while (pos <= body.size()) {
        auto const nl = body.find('\n', pos);
        out.text(body.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
        if (nl == std::string_view::npos) {
            break;
        }
        out.hard_break();
        pos = nl + 1;
    }
    return std::move(out).take();
}

// NUL and the other C0 controls but tab and newline (PostgreSQL cannot store NUL; the rest are invisible noise).
void strip_controls(std::string& s) {
    std::erase_if(s, [](char c) {
        auto const u = static_cast<unsigned char>(c);
        return (u < 0x20 && c != '\t' && c != '\n') || u == 0x7F;
    });
}

struct GumboDocument {
    GumboOptions options;
    GumboOutput* output = nullptr;
    GumboDocument(GumboDocument const&) = delete;
    GumboDocument& operator=(GumboDocument const&) = delete;
    explicit GumboDocument(std::string_view html) : options(kGumboDefaultOptions) {
        options.max_errors = 0;
        output = gumbo_parse_with_options(&options, html.data(), html.size());
    }
    ~GumboDocument() {
        if (output != nullptr) {
            gumbo_destroy_output(&options, output);
        }
    }
};

}  // namespace

Result<FromTeams> teams_to_markdown(std::string_view body, std::string_view content_type,
                                    std::vector<TeamsMention> const& mentions, UsernameForTeamsUser const& username_for,
                                    Limits const& limits) {
    if (body.size() > limits.max_input_bytes) {
        return fail(ErrorCode::too_large, "message body of " + std::to_string(body.size()) +
                                              " bytes is over the limit of " + std::to_string(limits.max_input_bytes));
    }
    FromTeams result;
    if (strings::iequals(content_type, "text")) {
        result.markdown = plain_markdown(body);
    } else {
        // Nesting past max_depth is flattened to text by the walker; a tree deeper than hard_depth, or larger than
        // the node budget, is not built at all (the estimate) or not walked (the count): plain text instead.
        auto const hard_depth = 4 * std::max<std::size_t>(limits.max_depth, 16);
        bool plain = true;
        if (auto const cost = html_cost(body, hard_depth, k_max_html_nodes);
            cost.depth <= hard_depth && cost.nodes <= k_max_html_nodes) {
            GumboDocument const doc(body);
            if (doc.output == nullptr || doc.output->root == nullptr) {
                return fail(ErrorCode::internal, "the HTML parser gave no document");
            }
            if (tree_within(doc.output->root, hard_depth, k_max_html_nodes)) {
                Walker walker(mentions, username_for, limits);
                auto markdown = walker.document(doc.output->root);
                if (!walker.overflow()) {
                    result = std::move(walker.result());
                    while (!markdown.empty() && (markdown.back() == '\n' || markdown.back() == ' ')) {
                        markdown.pop_back();
                    }
                    result.markdown = std::move(markdown);
                    plain = false;
                }
            }
        }
        if (plain) {
            result = FromTeams{};
            result.markdown = plain_markdown(html_text(body));
            auto const note = "\n\n*(" + std::string(k_plain_note) + ")*";
            // Cut (at a character boundary) so that the text and the note fit the output limit: never dropped.
            std::size_t const budget =
                limits.max_output_bytes > note.size() ? limits.max_output_bytes - note.size() : 0;
            if (result.markdown.size() > budget) {
                std::size_t cut = budget;
                while (cut > 0 && (static_cast<unsigned char>(result.markdown[cut]) & 0xC0u) == 0x80u) {
                    --cut;
                }
                result.markdown.resize(cut);
            }
            result.markdown += result.markdown.empty() ? note.substr(2) : note;
        }
    }
    // Gumbo itself can emit invalid UTF-8 (an overlong numeric character reference, "&#6111…1", becomes a stray
    // lead byte): whatever the path, the output is made valid here.
    result.markdown = strings::to_valid_utf8(result.markdown);
    strip_controls(result.markdown);
    for (auto* ids : {&result.hosted_content_ids, &result.attachment_ids}) {
        for (auto& id : *ids) {
            id = strings::to_valid_utf8(id);
            strip_controls(id);
        }
    }
    if (result.markdown.size() > limits.max_output_bytes) {
        return fail(ErrorCode::too_large,
                    "converted message is over " + std::to_string(limits.max_output_bytes) + " bytes");
    }
    return result;
}

}  // namespace msteams::convert
