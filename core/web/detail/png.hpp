#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
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
    bool interlaced = false;
};

// Reads the chunks of a whole PNG file: the signature, IHDR first, at least one IDAT, IEND last, every chunk's CRC.
// The pixels are not decoded. invalid_argument says what is wrong, in words for an admin.
[[nodiscard]] Result<PngInfo> read_png_info(std::string_view data);

// The pixels of an 8-bit, non-interlaced PNG with an alpha channel (colour type 6, RGBA, or 4, grey + alpha), as RGBA
// rows top to bottom; nullopt for any other kind (palette, 16-bit, interlaced, no alpha), which this does not decode.
// invalid_argument when the image data is damaged or the image has more than `max_pixels` pixels.
[[nodiscard]] Result<std::optional<std::vector<std::uint8_t>>> decode_alpha_png(std::string_view data,
                                                                                std::size_t max_pixels);

// An 8-bit RGBA PNG of `rgba` (width * height * 4 bytes, rows top to bottom).
[[nodiscard]] Result<std::string> encode_png(std::uint32_t width, std::uint32_t height,
                                             std::vector<std::uint8_t> const& rgba);

}  // namespace msteams::web::detail
