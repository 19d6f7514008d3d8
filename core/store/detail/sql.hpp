#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/log.hpp"
#include "common/result.hpp"
#include "common/strings.hpp"
#include "store/database.hpp"
#include "store/records.hpp"

// Small helpers shared by the PostgreSQL repositories (store/<concern>.cpp).
namespace msteams::store::detail {

inline Param nullable(std::string const& text) { return text.empty() ? Param() : Param(text); }
template <class Tag>
Param nullable(Id<Tag> const& id) {
    return nullable(id.str());
}
inline std::string num(std::int64_t n) { return std::to_string(n); }

// A closed-set column (records.hpp) as a query parameter, and read back. The migrations' CHECK constraints keep
// every stored word one this version knows; a word it does not (a newer version's row after a downgrade) reads as
// `fallback` and is logged.
template <class E>
[[nodiscard]] std::string word(E e) {
    return std::string(text(e));
}
template <class E>
[[nodiscard]] E word_at(Rows const& r, std::size_t i, std::string const& column, E fallback) {
    auto const stored = r.text(i, column);
    if (auto const known = parse<E>(stored)) {
        return *known;
    }
    log::error("a stored word is unknown to this version; it is read as its default",
               {{"column", column}, {"word", strings::utf8_prefix(stored, 40)}, {"default", word(fallback)}});
    return fallback;
}

// Error texts are stored and shown: at most `n` bytes, valid UTF-8.
inline std::string error_text(std::string const& s, std::size_t n) {
    return strings::to_valid_utf8(strings::utf8_prefix(s, n));
}

inline std::string sql(std::string_view a, std::string_view columns, std::string_view b) {
    return std::string(a) + std::string(columns) + std::string(b);
}

// A PostgreSQL bigint[] literal.
inline std::string id_array(std::vector<std::int64_t> const& ids) {
    std::string out = "{";
    for (std::size_t i = 0; i < ids.size(); ++i) {
        out += (i ? "," : "") + std::to_string(ids[i]);
    }
    return out + "}";
}

// A PostgreSQL text[] literal: each element quoted, so any text is taken as it is.
inline std::string text_array(std::vector<std::string> const& texts) {
    std::string out = "{";
    for (std::size_t i = 0; i < texts.size(); ++i) {
        out += i ? ",\"" : "\"";
        for (char const c : texts[i]) {
            if (c == '"' || c == '\\') {
                out += '\\';
            }
            out += c;
        }
        out += '"';
    }
    return out + "}";
}

// A PostgreSQL text[] literal of typed ids.
template <class Tag>
std::string text_array(std::vector<Id<Tag>> const& ids) {
    std::vector<std::string> texts;
    texts.reserve(ids.size());
    for (auto const& id : ids) {
        texts.push_back(id.str());
    }
    return text_array(texts);
}

// An inbox item's message_id column: its message id, or "since:<Unix ms>" for a catch-up with a start
// (InboxItem::since_ms); read back into `item` (a malformed start is dropped). store/inbox.cpp.
[[nodiscard]] std::string message_column(InboxItem const& item);
void read_message_column(std::string const& text, InboxItem& item);

// The dead letters' payloads: what DeadLetters::retry puts back in the inbox or the outbox.
[[nodiscard]] std::string inbox_payload(Change change_type, std::string const& message_column,
                                        SubscriptionId const& subscription_id);
[[nodiscard]] std::string outbox_payload(OutboxItem const& item);

// Adds a dead letter (store/dead_letters.cpp).
[[nodiscard]] Status add_dead_letter(Tx& tx, Direction direction, std::string const& thread_id,
                                     std::string const& payload, std::string const& error, int attempts,
                                     std::int64_t first, std::int64_t last);

}  // namespace msteams::store::detail
