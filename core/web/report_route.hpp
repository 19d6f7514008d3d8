#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "mm/api.hpp"
#include "store/roster.hpp"
#include "web/router.hpp"

namespace msteams::web {

inline constexpr char const* k_report_path = "/admin/connected-users.csv";
// The most rows one report holds, read from the database this many at a time.
inline constexpr std::size_t k_report_max_rows = 50'000;
inline constexpr std::size_t k_report_page = 500;

// A CSV cell: quoted, quotes doubled; a cell a spreadsheet would run as a formula (starting with = + - @, a tab or a
// carriage return) starts with a ' instead.
[[nodiscard]] std::string csv_cell(std::string_view text);

// GET /admin/connected-users.csv: the connected-users report for system admins (403 for anyone else; 503 while the
// plugin is not active): one line per connected account or account that needs reconnecting, by Mattermost user id,
// at most k_report_max_rows (a last line says when there were more). `roster` returns null while not active.
void install_report_route(Router& router, std::shared_ptr<mm::Api> const& api,
                          std::function<std::shared_ptr<store::Roster>()> const& roster);

}  // namespace msteams::web
