#pragma once

#include <cstddef>
#include <string_view>

#include "common/result.hpp"

// The checks of the Teams app settings that the configuration parse needs (app::parse_config), apart from the
// package itself so that they pull in no more than the PNG reader.
namespace msteams::web {

// Uploaded icons: PNG files of exactly these sizes, at most these many bytes.
inline constexpr unsigned k_color_icon_side = 192;
inline constexpr unsigned k_outline_icon_side = 32;
inline constexpr std::size_t k_max_color_icon_bytes = 64 * 1024;
inline constexpr std::size_t k_max_outline_icon_bytes = 16 * 1024;
inline constexpr std::size_t k_max_app_name = 30;  // the manifest's name.short

// Checks of an uploaded icon (PNG bytes). The message completes a sentence naming the setting, e.g. "must be
// 192×192 pixels; this one is 200×200."
[[nodiscard]] Status check_color_icon(std::string_view png);
[[nodiscard]] Status check_outline_icon(std::string_view png);

// MAJOR.MINOR.PATCH, numbers without leading zeros: what the manifest schema accepts as a version.
[[nodiscard]] bool is_app_version(std::string_view version) noexcept;

}  // namespace msteams::web
