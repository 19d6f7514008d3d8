#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "store/database.hpp"
#include "store/records.hpp"

// How msteams_users rows are read, shared by the repositories that read them (users.cpp, user_sync.cpp).
namespace msteams::store::detail {

// The columns user_at reads, for "SELECT <these> FROM msteams_users ...".
[[nodiscard]] std::string_view user_columns();
[[nodiscard]] TeamsUser user_at(Rows const& r, std::size_t i);
// "a,b" → {"a", "b"}; "" → {}.
[[nodiscard]] std::vector<std::string> split_team_ids(std::string const& text);

}  // namespace msteams::store::detail
