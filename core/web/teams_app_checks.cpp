#include "web/teams_app_checks.hpp"

#include <string>

#include "web/detail/png.hpp"

namespace msteams::web {
namespace {

Status check_icon(std::string_view png, unsigned side, std::size_t max_bytes, bool transparent) {
    if (png.size() > max_bytes) {
        return fail(ErrorCode::invalid_argument, "is larger than " + std::to_string(max_bytes / 1024) + " KiB (" +
                                                     std::to_string(png.size()) + " bytes).");
    }
    auto const info = detail::read_png_info(png);
    if (!info) {
        return std::unexpected(info.error());
    }
    if (info->width != side || info->height != side) {
        return fail(ErrorCode::invalid_argument, "must be " + std::to_string(side) + "×" + std::to_string(side) +
                                                     " pixels; this one is " + std::to_string(info->width) + "×" +
                                                     std::to_string(info->height) + ".");
    }
    if (transparent && !info->has_transparency) {
        return fail(ErrorCode::invalid_argument,
                    "must have a transparent background (a PNG with an alpha channel); this one has none.");
    }
    return {};
}

}  // namespace

Status check_color_icon(std::string_view png) {
    return check_icon(png, k_color_icon_side, k_max_color_icon_bytes, false);
}

Status check_outline_icon(std::string_view png) {
    return check_icon(png, k_outline_icon_side, k_max_outline_icon_bytes, true);
}

bool is_app_version(std::string_view version) noexcept {
    int parts = 0;
    std::size_t at = 0;
    while (at <= version.size()) {
        auto const dot = version.find('.', at);
        auto const part = version.substr(at, dot == std::string_view::npos ? std::string_view::npos : dot - at);
        if (part.empty() || part.size() > 9 || (part.size() > 1 && part.front() == '0') ||
            part.find_first_not_of("0123456789") != std::string_view::npos) {
            return false;
        }
        ++parts;
        if (dot == std::string_view::npos) {
            break;
        }
        at = dot + 1;
    }
    return parts == 3;
}

}  // namespace msteams::web
