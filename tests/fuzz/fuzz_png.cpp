// libFuzzer target: the Teams app icon checks (core/web/teams_app_checks, core/web/detail/png), which read PNG files
// a system admin uploads. An accepted icon has the size the check asked for; nothing is read past the input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_support.hpp"
#include "web/detail/png.hpp"
#include "web/teams_app_checks.hpp"

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    std::string_view const bytes(reinterpret_cast<char const*>(data), size);
    auto const info = msteams::web::detail::read_png_info(bytes);
    if (info) {
        msteams::fuzz::require(info->width > 0 && info->height > 0, "an accepted PNG without pixels");
    }
    if (msteams::web::check_outline_icon(bytes)) {
        msteams::fuzz::require(info && info->width == 32 && info->height == 32 && info->has_transparency,
                               "an accepted outline icon that is not 32x32 with transparency");
    }
    if (msteams::web::check_color_icon(bytes)) {
        msteams::fuzz::require(info && info->width == 192 && info->height == 192,
                               "an accepted colour icon not 192x192");
    }
    return 0;
}
