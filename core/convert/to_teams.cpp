// Mattermost Markdown → Teams HTML.
//
// cmark-gfm parses (tables, ~~strikethrough~~, autolinks); the HTML is rendered here, from cmark's iterator (no
// recursion), rather than by cmark's own renderer, because text needs more than escaping: emoji shortcodes become
// Unicode and @mentions become <at> elements, both only outside code (and mentions only outside links). Raw HTML
// in the Markdown is shown as text. Single newlines (soft breaks) become <br>, as Mattermost shows them.

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/strings.hpp"
#include "convert/convert.hpp"
#include "convert/detail/links.hpp"

namespace msteams::convert {
namespace {

// At most this many distinct @names are looked up per message; the rest stay text.
constexpr std::size_t k_max_mention_lookups = 64;

// Budgets that keep a hostile message bounded in time and memory (issue 11 #6); past one, the message is sent as
// plain text with k_plain_note. Mattermost's own post limit is 16,383 characters, far below them.
constexpr std::size_t k_max_table_cells = 50'000;  // estimated before parsing: cmark-gfm pads every row
constexpr std::size_t k_max_nodes = 400'000;       // counted after parsing
// Brackets: Debian's cmark-gfm 0.29.0.gfm.6 is quadratic in the number of unmatched "[" / "![" (e.g. "![[]()"
// repeated: CVE-2023-22486, fixed upstream in 0.29.0.gfm.7).
constexpr std::size_t k_max_brackets = 2'000;
// "@": the autolink extension's e-mail matching costs about 6 KB per address in 0.29.0.gfm.6.
constexpr std::size_t k_max_at_signs = 4'000;
constexpr std::string_view k_plain_note = "shown as plain text: too complex to format";

bool blank(std::string_view line) noexcept {
    return std::ranges::all_of(line, [](char c) { return c == ' ' || c == '\t' || c == '\r'; });
}

// A line that could be a table's delimiter row ("|---|:-:|"), also inside a block quote or list item.
bool delimiter_row(std::string_view line) noexcept {
    bool pipe = false;
    bool dash = false;
    for (char c : line) {
        pipe = pipe || c == '|';
        dash = dash || c == '-';
        if (c != '|' && c != '-' && c != ':' && c != ' ' && c != '\t' && c != '\r' && c != '>' && c != '*' &&
            c != '+' && c != '.' && c != ')' && !(c >= '0' && c <= '9')) {
            return false;
        }
    }
    return pipe && dash;
}

// Whether cmark-gfm can parse `markdown` within the budgets: an over-estimate of the table cells it will create
// (a delimiter row's cells times every following line up to a blank line), and the number of brackets.
bool within_parse_budget(std::string_view markdown) {
    std::size_t cells = 0;
    std::size_t columns = 0;  // of the table that may be open
    std::size_t pos = 0;
    while (pos < markdown.size()) {
        auto nl = markdown.find('\n', pos);
        if (nl == std::string_view::npos) {
            nl = markdown.size();
        }
        auto const line = markdown.substr(pos, nl - pos);
        pos = nl + 1;
        if (blank(line)) {
            columns = 0;
            continue;
        }
        if (delimiter_row(line)) {
            columns = std::max<std::size_t>(columns, static_cast<std::size_t>(std::ranges::count(line, '|')) + 1);
        }
        cells += columns;
        if (cells > k_max_table_cells) {
            return false;
        }
    }
    return static_cast<std::size_t>(std::ranges::count(markdown, '[')) <= k_max_brackets &&
           static_cast<std::size_t>(std::ranges::count(markdown, '@')) <= k_max_at_signs;
}

std::size_t node_count(cmark_node* root, std::size_t stop_at);

// Markdown that is not formatted: shown as typed, lines kept, cut to about `limit` bytes, with k_plain_note.
std::string plain_html(std::string_view markdown, std::size_t limit);

bool is_name_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
           c == '_';
}

bool is_emoji_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '+';
}

struct ParserDeleter {
    void operator()(cmark_parser* p) const noexcept { cmark_parser_free(p); }
};
struct NodeDeleter {
    void operator()(cmark_node* n) const noexcept { cmark_node_free(n); }
};
struct IterDeleter {
    void operator()(cmark_iter* i) const noexcept { cmark_iter_free(i); }
};

void register_extensions_once() {
    // cmark-gfm's registry is a plain global list: register before any thread can look in it.
    static bool const registered = [] {
        cmark_gfm_core_extensions_ensure_registered();
        return true;
    }();
    (void)registered;
}

class Renderer {
public:
    explicit Renderer(TeamsUserForUsername const& teams_user_for) : teams_user_for_(teams_user_for) {}

    void render(cmark_node* root) {
        std::unique_ptr<cmark_iter, IterDeleter> const iter(cmark_iter_new(root));
        cmark_event_type ev = CMARK_EVENT_NONE;
        while ((ev = cmark_iter_next(iter.get())) != CMARK_EVENT_DONE) {
            node(cmark_iter_get_node(iter.get()), ev == CMARK_EVENT_ENTER);
        }
    }

    ToTeams take() && { return ToTeams{std::move(html_), std::move(mentions_)}; }
    [[nodiscard]] std::size_t size() const noexcept { return html_.size(); }

private:
    static bool in_tight_list(cmark_node* paragraph) {
        cmark_node* item = cmark_node_parent(paragraph);
        if (item == nullptr || cmark_node_get_type(item) != CMARK_NODE_ITEM) {
            return false;
        }
        cmark_node* list = cmark_node_parent(item);
        return list != nullptr && cmark_node_get_list_tight(list) != 0;
    }

    static std::string_view literal(cmark_node* n) {
        char const* s = cmark_node_get_literal(n);
        return s != nullptr ? std::string_view(s) : std::string_view();
    }

    static std::string code_language(cmark_node* n) {
        char const* info = cmark_node_get_fence_info(n);
        std::string lang;
        for (char const* p = info; p != nullptr && *p != '\0' && *p != ' ' && *p != '\t'; ++p) {
            char const c = *p;
            if (is_emoji_char(c) || c == '#' || c == '.') {
                lang += c;
            }
        }
        return lang.size() <= 32 ? strings::to_lower(lang) : std::string();
    }

    // Long (over 80 lines) on purpose: one case per CommonMark node type, each a few lines; splitting the switch
    // would spread one mapping table over many functions.
    // NOLINTNEXTLINE(readability-function-size)
    void node(cmark_node* n, bool entering) {
        auto const type = cmark_node_get_type(n);
        switch (type) {
            case CMARK_NODE_DOCUMENT: return;
            case CMARK_NODE_PARAGRAPH:
                if (!in_tight_list(n)) {
                    html_ += entering ? "<p>" : "</p>";
                } else if (!entering && cmark_node_next(n) != nullptr &&
                           cmark_node_get_type(cmark_node_next(n)) == CMARK_NODE_PARAGRAPH) {
                    html_ += "<br>";
                }
                return;
            case CMARK_NODE_HEADING: {
                auto const level = std::to_string(std::clamp(cmark_node_get_heading_level(n), 1, 6));
                html_ += entering ? "<h" + level + ">" : "</h" + level + ">";
                return;
            }
            case CMARK_NODE_BLOCK_QUOTE: html_ += entering ? "<blockquote>" : "</blockquote>"; return;
            case CMARK_NODE_LIST: {
                bool const ordered = cmark_node_get_list_type(n) == CMARK_ORDERED_LIST;
                if (!entering) {
                    html_ += ordered ? "</ol>" : "</ul>";
                } else if (!ordered) {
                    html_ += "<ul>";
                } else if (auto const start = cmark_node_get_list_start(n); start != 1) {
                    html_ += "<ol start=\"" + std::to_string(start) + "\">";
                } else {
                    html_ += "<ol>";
                }
                return;
            }
            case CMARK_NODE_ITEM: html_ += entering ? "<li>" : "</li>"; return;
            case CMARK_NODE_CODE_BLOCK: {
                auto code = literal(n);
                if (code.ends_with('\n')) {
                    code.remove_suffix(1);
                }
                auto const lang = code_language(n);
                html_ += lang.empty() ? "<pre><code>" : "<pre><code class=\"language-" + lang + "\">";
                strings::append_html_escaped(html_, code);
                html_ += "</code></pre>";
                return;
            }
            case CMARK_NODE_HTML_BLOCK: {
                auto raw = literal(n);
                while (raw.ends_with('\n')) {
                    raw.remove_suffix(1);
                }
                html_ += "<p>";
                text_with_breaks(raw);
                html_ += "</p>";
                return;
            }
            case CMARK_NODE_THEMATIC_BREAK: html_ += "<hr>"; return;
            case CMARK_NODE_TEXT: text(literal(n)); return;
            case CMARK_NODE_SOFTBREAK:
            case CMARK_NODE_LINEBREAK: html_ += "<br>"; return;
            case CMARK_NODE_CODE:
                html_ += "<code>";
                strings::append_html_escaped(html_, literal(n));
                html_ += "</code>";
                return;
            case CMARK_NODE_HTML_INLINE: strings::append_html_escaped(html_, literal(n)); return;
            case CMARK_NODE_EMPH: html_ += entering ? "<em>" : "</em>"; return;
            case CMARK_NODE_STRONG: html_ += entering ? "<strong>" : "</strong>"; return;
            case CMARK_NODE_LINK:
            case CMARK_NODE_IMAGE: link(n, entering); return;
            default: break;
        }
        extension_node(n, entering);
    }

    void extension_node(cmark_node* n, bool entering) {
        std::string_view const type = cmark_node_get_type_string(n);
        if (type == "strikethrough") {
            html_ += entering ? "<s>" : "</s>";
        } else if (type == "table") {
            if (entering) {
                html_ += "<table>";
            } else {
                html_ += in_body_ ? "</tbody></table>" : "</table>";
                in_body_ = false;
            }
        } else if (type == "table_header" || type == "table_row") {
            bool const header = cmark_gfm_extensions_get_table_row_is_header(n) != 0;
            if (entering) {
                if (header) {
                    html_ += "<thead>";
                } else if (!in_body_) {
                    html_ += "<tbody>";
                    in_body_ = true;
                }
                html_ += "<tr>";
                header_row_ = header;
            } else {
                html_ += header ? "</tr></thead>" : "</tr>";
            }
        } else if (type == "table_cell") {
            html_ += entering ? (header_row_ ? "<th>" : "<td>") : (header_row_ ? "</th>" : "</td>");
        } else if (entering) {
            strings::append_html_escaped(html_, literal(n));  // anything else cmark-gfm adds: its text, if any
        }
    }

    void link(cmark_node* n, bool entering) {
        if (!entering) {
            if (links_.back()) {
                html_ += "</a>";
            }
            links_.pop_back();
            return;
        }
        char const* url_c = cmark_node_get_url(n);
        std::string const url(strings::trim(url_c != nullptr ? std::string_view(url_c) : std::string_view()));
        bool const keep =
            detail::is_allowed_link(url) && !(cmark_node_get_type(n) == CMARK_NODE_IMAGE && url.starts_with("mailto:"));
        links_.push_back(keep);
        if (keep) {
            html_ += "<a href=\"";
            strings::append_html_escaped(html_, url);
            html_ += "\">";
        }
    }

    void text_with_breaks(std::string_view raw) {
        std::size_t pos = 0;
        while (true) {
            auto const nl = raw.find('\n', pos);
            text(raw.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
            if (nl == std::string_view::npos) {
                return;
            }
            html_ += "<br>";
            pos = nl + 1;
        }
    }

    // Plain text: escaped, with :emoji: shortcodes and (outside links) @mentions converted.
    void text(std::string_view s) {
        bool const mentions_allowed = links_.empty();
        for (std::size_t i = 0; i < s.size();) {
            char const c = s[i];
            if (c == ':' && (i == 0 || !is_name_char(s[i - 1]) || s[i - 1] == '.' || s[i - 1] == '-')) {
                if (auto const end = shortcode(s, i)) {
                    i = *end;
                    continue;
                }
            } else if (c == '@' && mentions_allowed && (i == 0 || !is_name_char(s[i - 1]))) {
                if (auto const end = mention(s, i)) {
                    i = *end;
                    continue;
                }
            }
            strings::append_html_escaped(html_, s.substr(i, 1));
            ++i;
        }
    }

    // ":smile:" or ":+1::skin-tone-2:" at s[i] → the emoji; returns the index after it.
    std::optional<std::size_t> shortcode(std::string_view s, std::size_t i) {
        std::size_t j = i + 1;
        while (j < s.size() && j - i <= 64 && is_emoji_char(s[j])) {
            ++j;
        }
        if (j == i + 1 || j >= s.size() || s[j] != ':') {
            return std::nullopt;
        }
        auto const name = s.substr(i + 1, j - i - 1);
        constexpr std::string_view k_tone = ":skin-tone-";
        if (s.substr(j + 1, k_tone.size()) == k_tone && j + 1 + k_tone.size() + 1 < s.size() &&
            s[j + 1 + k_tone.size() + 1] == ':') {
            auto const toned = std::string(name) + "::skin-tone-" + s[j + 1 + k_tone.size()];
            if (auto const unicode = emoji_to_unicode(toned)) {
                html_ += *unicode;
                return j + 1 + k_tone.size() + 2;
            }
        }
        auto const unicode = emoji_to_unicode(name);
        if (!unicode || (j + 1 < s.size() && is_name_char(s[j + 1]) && s[j + 1] != '.' && s[j + 1] != '-')) {
            return std::nullopt;
        }
        html_ += *unicode;
        return j + 1;
    }

    std::optional<TeamsUser> lookup(std::string const& username) {
        if (auto const it = cache_.find(username); it != cache_.end()) {
            return it->second;
        }
        if (cache_.size() >= k_max_mention_lookups || !teams_user_for_) {
            return std::nullopt;
        }
        auto user = teams_user_for_(username);
        if (user && user->teams_user_id.empty()) {
            user.reset();
        }
        cache_.emplace(username, user);
        return user;
    }

    // "@name" at s[i] → <at id="N">display name</at> when the name is a known Teams user. Like Mattermost, a
    // trailing '.', '-' or '_' is tried without ("@jane." at the end of a sentence).
    std::optional<std::size_t> mention(std::string_view s, std::size_t i) {
        std::size_t j = i + 1;
        while (j < s.size() && j - i <= 64 && is_name_char(s[j])) {
            ++j;
        }
        auto name = strings::to_lower(s.substr(i + 1, j - i - 1));
        while (!name.empty()) {
            if (auto const user = lookup(name)) {
                auto const id = static_cast<int>(mentions_.size());
                auto const shown = user->display_name.empty() ? name : user->display_name;
                html_ += "<at id=\"" + std::to_string(id) + "\">";
                strings::append_html_escaped(html_, shown);
                html_ += "</at>";
                mentions_.push_back(TeamsMention{id, shown, user->teams_user_id});
                return i + 1 + name.size();
            }
            char const last = name.back();
            if (last != '.' && last != '-' && last != '_') {
                break;
            }
            name.pop_back();
        }
        return std::nullopt;
    }

    TeamsUserForUsername const& teams_user_for_;
    std::string html_;
    std::vector<TeamsMention> mentions_;
    std::vector<bool> links_;  // per open link/image: whether an <a> was written for it
    std::map<std::string, std::optional<TeamsUser>> cache_;
    bool in_body_ = false;
    bool header_row_ = false;
};

std::size_t node_count(cmark_node* root, std::size_t stop_at) {
    std::unique_ptr<cmark_iter, IterDeleter> const iter(cmark_iter_new(root));
    std::size_t n = 0;
    cmark_event_type ev = CMARK_EVENT_NONE;
    while (n <= stop_at && (ev = cmark_iter_next(iter.get())) != CMARK_EVENT_DONE) {
        n += ev == CMARK_EVENT_ENTER ? 1 : 0;
    }
    return n;
}

std::string plain_html(std::string_view markdown, std::size_t limit) {
    std::size_t const budget = limit > 128 ? limit - 128 : 0;
    auto const valid = strings::to_valid_utf8(markdown);
    markdown = valid;
    std::string html = "<p>";
    std::size_t pos = 0;
    while (true) {
        auto const nl = markdown.find('\n', pos);
        auto line = markdown.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        if (line.ends_with('\r')) {
            line.remove_suffix(1);
        }
        for (std::size_t k = 0; k < line.size(); ++k) {
            char const c = line[k];
            auto const u = static_cast<unsigned char>(c);
            if (html.size() >= budget && (u & 0xC0u) != 0x80u) {
                break;  // cut at a character boundary
            }
            if (u >= 0x20 || c == '\t') {
                strings::append_html_escaped(html, std::string_view(&c, 1));
            }
        }
        if (nl == std::string_view::npos || html.size() >= budget) {
            break;
        }
        html += "<br>";
        pos = nl + 1;
    }
    html += "</p><p><em>(";
    html += k_plain_note;
    html += ")</em></p>";
    return html;
}

}  // namespace

Result<ToTeams> markdown_to_teams(std::string_view markdown, TeamsUserForUsername const& teams_user_for,
                                  Limits const& limits) {
    if (markdown.size() > limits.max_input_bytes) {
        return fail(ErrorCode::too_large, "message of " + std::to_string(markdown.size()) +
                                              " bytes is over the limit of " + std::to_string(limits.max_input_bytes));
    }
    register_extensions_once();
    int const options = CMARK_OPT_VALIDATE_UTF8 | CMARK_OPT_STRIKETHROUGH_DOUBLE_TILDE;
    std::unique_ptr<cmark_parser, ParserDeleter> const parser(cmark_parser_new(options));
    if (!parser) {
        return fail(ErrorCode::internal, "cmark-gfm: cannot create a parser");
    }
    for (char const* name : {"table", "strikethrough", "autolink"}) {
        cmark_syntax_extension* ext = cmark_find_syntax_extension(name);
        if (ext == nullptr || cmark_parser_attach_syntax_extension(parser.get(), ext) == 0) {
            return fail(ErrorCode::internal, std::string("cmark-gfm: no ") + name + " extension");
        }
    }
    auto const plain = [&]() -> Result<ToTeams> {
        ToTeams out{plain_html(markdown, limits.max_output_bytes), {}};
        if (out.html.size() > limits.max_output_bytes) {
            return fail(ErrorCode::too_large,
                        "converted message is over " + std::to_string(limits.max_output_bytes) + " bytes");
        }
        return out;
    };
    if (!within_parse_budget(markdown)) {
        return plain();
    }
    cmark_parser_feed(parser.get(), markdown.data(), markdown.size());
    std::unique_ptr<cmark_node, NodeDeleter> const doc(cmark_parser_finish(parser.get()));
    if (!doc) {
        return fail(ErrorCode::internal, "cmark-gfm: no document");
    }
    if (node_count(doc.get(), k_max_nodes) > k_max_nodes) {
        return plain();
    }
    cmark_consolidate_text_nodes(doc.get());
    Renderer renderer(teams_user_for);
    renderer.render(doc.get());
    if (renderer.size() > limits.max_output_bytes) {
        return plain();
    }
    return std::move(renderer).take();
}

}  // namespace msteams::convert
