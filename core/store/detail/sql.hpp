#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "common/strings.hpp"
#include "store/database.hpp"

// Small helpers shared by the PostgreSQL repositories (store/<concern>.cpp).
namespace msteams::store::detail {

inline Param nullable(std::string const& text) { return text.empty() ? Param() : Param(text); }
inline std::string num(std::int64_t n) { return std::to_string(n); }

inline std::int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
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

// The dead letter of an inbox item, as DeadLetters::retry puts it back.
[[nodiscard]] std::string inbox_payload(std::string const& change_type, std::string const& message_id,
                                        std::string const& subscription_id);

// Adds a dead letter (store/dead_letters.cpp).
[[nodiscard]] Status add_dead_letter(Tx& tx, std::string const& direction, std::string const& thread_id,
                                     std::string const& payload, std::string const& error, int attempts,
                                     std::int64_t first, std::int64_t last);

}  // namespace msteams::store::detail
