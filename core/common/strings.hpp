#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace msteams::strings {

std::string to_lower(std::string_view s);
std::string_view trim(std::string_view s);
bool iequals(std::string_view a, std::string_view b) noexcept;

// Splits on runs of ASCII white space; no empty fields.
std::vector<std::string> split_words(std::string_view s);
// Splits on `sep`; empty fields are kept ("a,,b" → 3 fields; "" → one empty field).
std::vector<std::string> split(std::string_view s, char sep);

// Percent-decodes a URL component; '+' is a space when `plus_is_space` (query components, as HTML forms and Go's
// url.ParseQuery read them), itself otherwise (paths, user info). Returns nullopt for a malformed escape.
std::optional<std::string> url_decode(std::string_view s, bool plus_is_space = true);
std::string url_encode(std::string_view s);

// Parses "a=1&b=2" into ordered pairs, decoded. Returns nullopt if any component is malformed.
std::optional<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view raw);

// True if s is a GUID in the 8-4-4-4-12 hex form.
bool is_guid(std::string_view s) noexcept;

// The longest prefix of `s` of at most `max_bytes` bytes that does not end inside a UTF-8 sequence: use it for every
// truncation of text a person or a log reads. (Invalid input stays invalid; see to_valid_utf8.)
std::string utf8_prefix(std::string_view s, std::size_t max_bytes);

// True if `s` is well-formed UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view s) noexcept;
// `s` with every ill-formed sequence replaced by U+FFFD (one per maximal ill-formed subpart, as Unicode recommends).
std::string to_valid_utf8(std::string_view s);

// Appends code point `cp` as UTF-8; U+FFFD for one that is not a character (NUL, a surrogate, past U+10FFFF).
void append_utf8(std::string& out, char32_t cp);
// The text of an HTML character reference given without its '&' and ';' ("amp", "#64", "#x40"): numeric ones
// (U+FFFD for one that is not a character) and the named ones Teams writes (amp lt gt quot apos nbsp commat);
// nullopt for anything else.
std::optional<std::string> decode_character_reference(std::string_view ref);

// Compares without leaking where the first difference is (for secrets).
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

// Text for HTML element content or a quoted attribute value: & < > " ' as character references.
[[nodiscard]] std::string html_escape(std::string_view text);
// The same, appended to `out` (no string of its own: for converters that build one large document).
void append_html_escaped(std::string& out, std::string_view text);

}  // namespace msteams::strings
