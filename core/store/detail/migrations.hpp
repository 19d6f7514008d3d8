#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace msteams::store::detail {

// One numbered step of the msteams_ schema (core/store/migrations/NNN-name.sql, embedded by the build). Steps are
// never edited once landed: a change is a new step.
struct Migration {
    int version;
    std::string_view name;
    std::string_view sql;       // one or more statements, run in one transaction with the simple protocol
    std::string_view checksum;  // SHA-256 of the file, hex: recorded when applied, checked on every start
};

// All steps, in increasing version order, versions 1, 2, 3, … without gaps.
[[nodiscard]] std::span<Migration const> migrations() noexcept;

// 64-bit FNV-1a: advisory lock keys derived from fixed names, identical on every node and every build.
[[nodiscard]] constexpr std::int64_t lock_key(std::string_view name) noexcept {
    std::uint64_t hash = 14695981039346656037ull;
    for (char c : name) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 1099511628211ull;
    }
    return static_cast<std::int64_t>(hash);
}

// pg_advisory_lock key held while migrating.
inline constexpr std::int64_t k_migration_lock_key = lock_key("com.mattermost.msteams");
// pg_advisory_xact_lock key that serialises Accounts::connect (the connected-users limit is a count over rows).
inline constexpr std::int64_t k_connect_lock_key = lock_key("com.mattermost.msteams/accounts.connect");

}  // namespace msteams::store::detail
