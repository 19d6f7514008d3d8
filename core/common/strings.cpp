#include "common/strings.hpp"

#include <cctype>

namespace msteams::strings {
namespace {

bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

// The length of the well-formed UTF-8 sequence at s[i], or 0 if the bytes there are not one. `*bad` gets the length
// of the maximal ill-formed subpart to replace by one U+FFFD (at least 1).
std::size_t utf8_sequence(std::string_view s, std::size_t i, std::size_t* bad) noexcept {
    auto const byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char const c = byte(i);
    *bad = 1;
    if (c < 0x80) {
        return 1;
    }
    std::size_t len = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;  // no overlong forms
        hi = c == 0xED ? 0x9F : 0xBF;  // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;  // nothing above U+10FFFF
    } else {
        return 0;
    }
    for (std::size_t k = 1; k < len; ++k) {
        if (i + k >= s.size()) {
            *bad = k;
            return 0;
        }
        unsigned char const b = byte(i + k);
        if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) {
            *bad = k;
            return 0;
        }
    }
    return len;
}

}  // namespace

std::string utf8_prefix(std::string_view s, std::size_t max_bytes) {
    if (s.size() <= max_bytes) {
        return std::string(s);
    }
    std::size_t n = max_bytes;
    // s[n] is the first byte cut off: back up while it continues the sequence the prefix would end with.
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) {
        --n;
    }
    return std::string(s.substr(0, n));
}

bool is_valid_utf8(std::string_view s) noexcept {
    std::size_t bad = 0;
    for (std::size_t i = 0; i < s.size();) {
        std::size_t const len = utf8_sequence(s, i, &bad);
        if (len == 0) {
            return false;
        }
        i += len;
    }
    return true;
}

std::string to_valid_utf8(std::string_view s) {
    if (is_valid_utf8(s)) {
        return std::string(s);
    }
    std::string out;
    out.reserve(s.size() + 16);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < s.size();) {
        std::size_t const len = utf8_sequence(s, i, &bad);
        if (len == 0) {
            out += "\xEF\xBF\xBD";  // U+FFFD
            i += bad;
        } else {
            out.append(s.substr(i, len));
            i += len;
        }
    }
    return out;
}

void append_utf8(std::string& out, char32_t cp) {
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        cp = 0xFFFD;
    }
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

std::optional<std::string> decode_character_reference(std::string_view ref) {
    static constexpr std::pair<std::string_view, std::string_view> k_named[]{
        {"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"}, {"nbsp", "\xC2\xA0"}, {"commat", "@"}};
    if (!ref.starts_with('#')) {
        for (auto const& [name, text] : k_named) {
            if (name == ref) {
                return std::string(text);
            }
        }
        return std::nullopt;
    }
    bool const hex = ref.size() > 1 && (ref[1] == 'x' || ref[1] == 'X');
    auto const digits = ref.substr(hex ? 2 : 1);
    if (digits.empty()) {
        return std::nullopt;
    }
    char32_t cp = 0;
    for (char const d : digits) {
        unsigned v = 16;
        if (d >= '0' && d <= '9') {
            v = static_cast<unsigned>(d - '0');
        } else if (hex && (d | 0x20) >= 'a' && (d | 0x20) <= 'f') {
            v = static_cast<unsigned>((d | 0x20) - 'a' + 10);
        }
        if (v >= (hex ? 16U : 10U)) {
            return std::nullopt;
        }
        if (cp <= 0x10FFFF) {  // past it stays past it (U+FFFD), without overflowing
            cp = cp * (hex ? 16 : 10) + v;
        }
    }
    std::string out;
    append_utf8(out, cp);
    return out;
}

std::string to_lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_space(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> fields;
    std::size_t start = 0;
    for (;;) {
        auto const end = s.find(sep, start);
        fields.emplace_back(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
        if (end == std::string_view::npos) {
            return fields;
        }
        start = end + 1;
    }
}

std::vector<std::string> split_words(std::string_view s) {
    std::vector<std::string> words;
    std::size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && is_space(s[i])) {
            ++i;
        }
        std::size_t const start = i;
        while (i < s.size() && !is_space(s[i])) {
            ++i;
        }
        if (i > start) {
            words.emplace_back(s.substr(start, i - start));
        }
    }
    return words;
}

std::optional<std::string> url_decode(std::string_view s, bool plus_is_space) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        char const c = s[i];
        if (c == '+' && plus_is_space) {
            out += ' ';
        } else if (c == '%') {
            if (i + 2 >= s.size()) {
                return std::nullopt;
            }
            int const hi = hex_value(s[i + 1]);
            int const lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0) {
                return std::nullopt;
            }
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

std::string url_encode(std::string_view s) {
    static constexpr char k_hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size() * 3);
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += k_hex[c >> 4];
            out += k_hex[c & 0xF];
        }
    }
    return out;
}

std::optional<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view raw) {
    std::vector<std::pair<std::string, std::string>> out;
    while (!raw.empty()) {
        auto const amp = raw.find('&');
        auto const part = raw.substr(0, amp);
        raw = amp == std::string_view::npos ? std::string_view{} : raw.substr(amp + 1);
        if (part.empty()) {
            continue;
        }
        auto const eq = part.find('=');
        auto key = url_decode(part.substr(0, eq));
        auto value = url_decode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1));
        if (!key || !value) {
            return std::nullopt;
        }
        out.emplace_back(std::move(*key), std::move(*value));
    }
    return out;
}

bool is_guid(std::string_view s) noexcept {
    if (s.size() != 36) {
        return false;
    }
    for (std::size_t i = 0; i < s.size(); ++i) {
        bool const dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : hex_value(s[i]) < 0) {
            return false;
        }
    }
    return true;
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
    // The length of a secret is not itself secret here; the content is.
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    std::size_t const n = a.size() < b.size() ? a.size() : b.size();
    for (std::size_t i = 0; i < n; ++i) {
        diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    }
    return diff == 0;
}

std::string html_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size() + 16);
    append_html_escaped(out, text);
    return out;
}

void append_html_escaped(std::string& out, std::string_view text) {
    for (char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
}

}  // namespace msteams::strings
