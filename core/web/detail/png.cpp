#include "web/detail/png.hpp"

#include <zlib.h>

#include <array>
#include <cstdlib>

namespace msteams::web::detail {
namespace {

constexpr std::string_view k_signature{"\x89PNG\r\n\x1a\n", 8};
constexpr std::uint32_t k_max_dimension = 4096;

std::uint32_t get32(std::string_view s, std::size_t at) {
    return (static_cast<std::uint32_t>(static_cast<unsigned char>(s[at])) << 24U) |
           (static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + 1])) << 16U) |
           (static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + 2])) << 8U) |
           static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + 3]));
}

void put32(std::string& out, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) {
        out += static_cast<char>((v >> static_cast<unsigned>(shift)) & 0xFFU);
    }
}

std::uint32_t crc_of(std::string_view bytes) {
    return static_cast<std::uint32_t>(
        crc32(0L, reinterpret_cast<Bytef const*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

std::unexpected<Error> not_png(std::string const& why) {
    return fail(ErrorCode::invalid_argument, "is not a valid PNG image: " + why + ".");
}

bool valid_depth(int color_type, int depth) {
    switch (color_type) {
        case 0: return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
        case 3: return depth == 1 || depth == 2 || depth == 4 || depth == 8;
        case 2:
        case 4:
        case 6: return depth == 8 || depth == 16;
        default: return false;
    }
}

Result<PngInfo> read_header(std::string_view chunk) {
    if (chunk.size() != 13) {
        return not_png("its header (IHDR) has the wrong length");
    }
    PngInfo info;
    info.width = get32(chunk, 0);
    info.height = get32(chunk, 4);
    info.bit_depth = static_cast<unsigned char>(chunk[8]);
    info.color_type = static_cast<unsigned char>(chunk[9]);
    if (info.width == 0 || info.height == 0 || info.width > k_max_dimension || info.height > k_max_dimension) {
        return not_png("its size is 0 or over 4096 pixels");
    }
    if (!valid_depth(info.color_type, info.bit_depth)) {
        return not_png("its colour type and bit depth do not go together");
    }
    info.has_transparency = info.color_type == 4 || info.color_type == 6;
    info.interlaced = chunk[12] != 0;
    return info;
}

// The concatenated IDAT chunks of a PNG that read_png_info accepted.
std::string image_data(std::string_view data) {
    std::string out;
    for (std::size_t at = k_signature.size(); at + 12 <= data.size();) {
        auto const length = get32(data, at);
        if (data.substr(at + 4, 4) == "IDAT") {
            out += data.substr(at + 8, length);
        }
        at += 12 + length;
    }
    return out;
}

int paeth(int a, int b, int c) {
    int const p = a + b - c;
    int const pa = std::abs(p - a);
    int const pb = std::abs(p - b);
    int const pc = std::abs(p - c);
    return pa <= pb && pa <= pc ? a : (pb <= pc ? b : c);
}

// Reverses the scanline filters in place (PNG spec §9); `raw` holds height rows of 1 + stride bytes.
Status unfilter(std::string& raw, std::size_t stride, std::size_t height, std::size_t bpp) {
    for (std::size_t y = 0; y < height; ++y) {
        auto* row = reinterpret_cast<unsigned char*>(raw.data()) + y * (stride + 1);
        auto const* prev = y > 0 ? row - (stride + 1) + 1 : nullptr;
        int const filter = row[0];
        auto* px = row + 1;
        for (std::size_t x = 0; x < stride; ++x) {
            int const a = x >= bpp ? px[x - bpp] : 0;
            int const b = prev ? prev[x] : 0;
            int const c = prev && x >= bpp ? prev[x - bpp] : 0;
            int add = 0;
            switch (filter) {
                case 0: break;
                case 1: add = a; break;
                case 2: add = b; break;
                case 3: add = (a + b) / 2; break;
                case 4: add = paeth(a, b, c); break;
                default: return fail(ErrorCode::invalid_argument, "is not a valid PNG image: an unknown row filter.");
            }
            px[x] = static_cast<unsigned char>((px[x] + add) & 0xFF);
        }
    }
    return {};
}

void add_chunk(std::string& out, std::string_view type, std::string_view data) {
    put32(out, static_cast<std::uint32_t>(data.size()));
    std::string typed(type);
    typed += data;
    out += typed;
    put32(out, crc_of(typed));
}

}  // namespace

Result<PngInfo> read_png_info(std::string_view data) {
    if (!data.starts_with(k_signature)) {
        return not_png("it does not start with the PNG signature");
    }
    std::size_t at = k_signature.size();
    PngInfo info;
    bool header = false;
    bool image_data = false;
    while (true) {
        if (data.size() - at < 12) {
            return not_png("it ends before its IEND chunk (a truncated file)");
        }
        auto const length = get32(data, at);
        if (length > data.size() - at - 12) {
            return not_png("a chunk runs past the end of the file");
        }
        auto const typed = data.substr(at + 4, 4 + length);
        if (crc_of(typed) != get32(data, at + 8 + length)) {
            return not_png("a chunk's checksum is wrong (a damaged file)");
        }
        auto const type = typed.substr(0, 4);
        auto const body = typed.substr(4);
        at += 12 + length;
        if (!header) {
            if (type != "IHDR") {
                return not_png("its first chunk is not IHDR");
            }
            MSTEAMS_TRY_ASSIGN(info, read_header(body));
            header = true;
        } else if (type == "IDAT") {
            image_data = true;
        } else if (type == "tRNS") {
            info.has_transparency = true;
        } else if (type == "IEND") {
            break;
        }
    }
    if (!image_data) {
        return not_png("it has no image data (IDAT)");
    }
    if (at != data.size()) {
        return not_png("it has bytes after its IEND chunk");
    }
    return info;
}

Result<std::optional<std::vector<std::uint8_t>>> decode_alpha_png(std::string_view data, std::size_t max_pixels) {
    PngInfo info;
    MSTEAMS_TRY_ASSIGN(info, read_png_info(data));
    if (info.bit_depth != 8 || info.interlaced || (info.color_type != 6 && info.color_type != 4)) {
        return std::optional<std::vector<std::uint8_t>>{};
    }
    if (static_cast<std::size_t>(info.width) * info.height > max_pixels) {
        return fail(ErrorCode::invalid_argument, "has more pixels than an icon may.");
    }
    std::size_t const bpp = info.color_type == 6 ? 4 : 2;
    std::size_t const stride = info.width * bpp;
    std::string raw((stride + 1) * info.height, '\0');
    auto const packed = image_data(data);
    uLongf size = raw.size();
    if (uncompress(reinterpret_cast<Bytef*>(raw.data()), &size, reinterpret_cast<Bytef const*>(packed.data()),
                   static_cast<uLong>(packed.size())) != Z_OK ||
        size != raw.size()) {
        return not_png("its image data is damaged or of the wrong size");
    }
    MSTEAMS_TRY(unfilter(raw, stride, info.height, bpp));
    std::vector<std::uint8_t> rgba;
    rgba.reserve(static_cast<std::size_t>(info.width) * info.height * 4);
    for (std::size_t y = 0; y < info.height; ++y) {
        auto const* row = reinterpret_cast<unsigned char const*>(raw.data()) + y * (stride + 1) + 1;
        for (std::size_t x = 0; x < info.width; ++x) {
            auto const* p = row + x * bpp;
            if (bpp == 4) {
                rgba.insert(rgba.end(), {p[0], p[1], p[2], p[3]});
            } else {
                rgba.insert(rgba.end(), {p[0], p[0], p[0], p[1]});
            }
        }
    }
    return std::optional<std::vector<std::uint8_t>>{std::move(rgba)};
}

Result<std::string> encode_png(std::uint32_t width, std::uint32_t height, std::vector<std::uint8_t> const& rgba) {
    if (width == 0 || height == 0 || width > k_max_dimension || height > k_max_dimension ||
        rgba.size() != static_cast<std::size_t>(width) * height * 4) {
        return fail(ErrorCode::invalid_argument, "encode_png: the pixels do not match the size");
    }
    std::string raw;
    raw.reserve(rgba.size() + height);
    std::size_t const stride = static_cast<std::size_t>(width) * 4;
    for (std::uint32_t y = 0; y < height; ++y) {
        raw += '\0';  // filter type None
        raw.append(reinterpret_cast<char const*>(rgba.data()) + y * stride, stride);
    }
    uLongf packed_size = compressBound(static_cast<uLong>(raw.size()));
    std::string packed(packed_size, '\0');
    if (compress2(reinterpret_cast<Bytef*>(packed.data()), &packed_size, reinterpret_cast<Bytef const*>(raw.data()),
                  static_cast<uLong>(raw.size()), Z_BEST_COMPRESSION) != Z_OK) {
        return fail(ErrorCode::internal, "zlib: compress2 failed");
    }
    packed.resize(packed_size);
    std::string header;
    put32(header, width);
    put32(header, height);
    header += std::string{'\x08', '\x06', '\0', '\0', '\0'};  // 8-bit RGBA, deflate, adaptive filtering, no interlace
    std::string out(k_signature);
    add_chunk(out, "IHDR", header);
    add_chunk(out, "IDAT", packed);
    add_chunk(out, "IEND", {});
    return out;
}

}  // namespace msteams::web::detail
