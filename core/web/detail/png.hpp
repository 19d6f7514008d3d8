#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

// Just enough PNG for a Teams app's icons: reading an image's header (to check an uploaded icon) and writing an
// 8-bit RGBA image (the default icons).
namespace msteams::web::detail {

struct PngInfo {
    std::uint32_t width = 0;
    std::uint32_t height = 0;
    int bit_depth = 0;
    int color_type = 0;             // 0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA
    bool has_transparency = false;  // an alpha channel, or a tRNS chunk
};

// Reads the chunks of a whole PNG file: the signature, IHDR first, at least one IDAT, IEND last, every chunk's CRC.
// The pixels are not decoded. invalid_argument says what is wrong, in words for an admin.
[[nodiscard]] Result<PngInfo> read_png_info(std::string_view data);

// An 8-bit RGBA PNG of `rgba` (width * height * 4 bytes, rows top to bottom).
[[nodiscard]] Result<std::string> encode_png(std::uint32_t width, std::uint32_t height,
                                             std::vector<std::uint8_t> const& rgba);

}  // namespace msteams::web::detail
