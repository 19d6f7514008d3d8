#include "web/teams_app_checks.hpp"

#include <string>

#include "web/detail/png.hpp"

namespace msteams::web {
namespace {

// An outline icon is white on transparency: every pixel that is not fully transparent is white (its edges may be
// partly transparent), and something is drawn. Checked where the PNG's kind can be decoded here (8-bit with an alpha
// channel, what drawing programs write); the webapp checks every kind in the browser before keeping an upload.
Status check_white(std::string_view png) {
    auto const pixels = detail::decode_alpha_png(png, std::size_t{k_outline_icon_side} * k_outline_icon_side);
    if (!pixels) {
        return std::unexpected(pixels.error());
    }
    if (!*pixels) {
        return {};
    }
    std::size_t drawn = 0;
    auto const& p = **pixels;
    for (std::size_t i = 0; i + 3 < p.size(); i += 4) {
        if (p[i + 3] == 0) {
            continue;
        }
        ++drawn;
        if (p[i] < 250 || p[i + 1] < 250 || p[i + 2] < 250) {
            return fail(ErrorCode::invalid_argument,
                        "must be white on a transparent background; this one has pixels of other colours.");
        }
    }
    if (drawn == 0) {
        return fail(ErrorCode::invalid_argument, "is fully transparent: nothing would show in Teams.");
    }
    return {};
}

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
    return transparent ? check_white(png) : Status{};
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
