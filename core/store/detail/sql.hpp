#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "common/strings.hpp"
#include "store/database.hpp"
#include "store/records.hpp"

// Small helpers shared by the PostgreSQL repositories (store/<concern>.cpp).
namespace msteams::store::detail {

inline Param nullable(std::string const& text) { return text.empty() ? Param() : Param(text); }
inline std::string num(std::int64_t n) { return std::to_string(n); }

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

// The dead letters' payloads: what DeadLetters::retry puts back in the inbox or the outbox.
[[nodiscard]] std::string inbox_payload(std::string const& change_type, std::string const& message_id,
                                        std::string const& subscription_id);
[[nodiscard]] std::string outbox_payload(OutboxItem const& item);

// Adds a dead letter (store/dead_letters.cpp).
[[nodiscard]] Status add_dead_letter(Tx& tx, std::string const& direction, std::string const& thread_id,
                                     std::string const& payload, std::string const& error, int attempts,
                                     std::int64_t first, std::int64_t last);

}  // namespace msteams::store::detail
