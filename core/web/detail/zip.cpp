#include "web/detail/zip.hpp"

#include <zlib.h>

#include <cstdint>
#include <set>

namespace msteams::web::detail {
namespace {

constexpr std::uint32_t k_local_signature = 0x04034b50;
constexpr std::uint32_t k_central_signature = 0x02014b50;
constexpr std::uint32_t k_end_signature = 0x06054b50;
constexpr std::uint16_t k_version_needed = 20;  // 2.0: deflate
constexpr std::uint16_t k_flag_utf8 = 0x0800;   // names are UTF-8
constexpr std::uint16_t k_method_store = 0;
constexpr std::uint16_t k_method_deflate = 8;
constexpr std::uint16_t k_dos_date_1980_01_01 = (0 << 9) | (1 << 5) | 1;
constexpr std::size_t k_max_name = 255;

void put16(std::string& out, std::uint32_t v) {
    out += static_cast<char>(v & 0xFFU);
    out += static_cast<char>((v >> 8U) & 0xFFU);
}

void put32(std::string& out, std::uint32_t v) {
    put16(out, v & 0xFFFFU);
    put16(out, v >> 16U);
}

// Raw deflate (no zlib header), as ZIP's method 8 wants it.
Result<std::string> deflate_raw(std::string const& data) {
    z_stream z{};
    if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        return fail(ErrorCode::internal, "zlib: deflateInit2 failed");
    }
    std::string out(deflateBound(&z, static_cast<uLong>(data.size())), '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    int const rc = deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        return fail(ErrorCode::internal, "zlib: deflate did not finish");
    }
    return out;
}

struct Written {
    std::string const* name;
    std::uint16_t method;
    std::uint32_t crc;
    std::uint32_t compressed;
    std::uint32_t size;
    std::uint32_t offset;
};

// The fields the local header and the central directory share, from "version needed" to the name's length.
void put_common(std::string& out, Written const& w) {
    put16(out, k_version_needed);
    put16(out, k_flag_utf8);
    put16(out, w.method);
    put16(out, 0);  // time 00:00:00
    put16(out, k_dos_date_1980_01_01);
    put32(out, w.crc);
    put32(out, w.compressed);
    put32(out, w.size);
    put16(out, static_cast<std::uint32_t>(w.name->size()));
    put16(out, 0);  // extra field length
}

Status check_names(std::vector<ZipEntry> const& entries) {
    if (entries.empty() || entries.size() > k_zip_max_entries) {
        return fail(ErrorCode::invalid_argument, "a ZIP archive takes 1 to 64 entries");
    }
    std::set<std::string> seen;
    for (auto const& e : entries) {
        if (e.name.empty() || e.name.size() > k_max_name || e.name.front() == '/' ||
            e.name.find('\\') != std::string::npos || e.name.find("..") != std::string::npos) {
            return fail(ErrorCode::invalid_argument, "a ZIP entry needs a relative name: \"" + e.name + "\"");
        }
        if (!seen.insert(e.name).second) {
            return fail(ErrorCode::invalid_argument, "two ZIP entries are named \"" + e.name + "\"");
        }
        if (e.data.size() > k_zip_max_entry) {
            return fail(ErrorCode::invalid_argument, "the ZIP entry \"" + e.name + "\" is larger than 16 MiB");
        }
    }
    return {};
}

}  // namespace

Result<std::string> make_zip(std::vector<ZipEntry> const& entries) {
    MSTEAMS_TRY(check_names(entries));
    std::string out;
    std::vector<Written> written;
    for (auto const& e : entries) {
        auto packed = deflate_raw(e.data);
        if (!packed) {
            return std::unexpected(packed.error());
        }
        bool const deflated = packed->size() < e.data.size();
        std::string const& body = deflated ? *packed : e.data;
        Written w{&e.name,
                  deflated ? k_method_deflate : k_method_store,
                  static_cast<std::uint32_t>(
                      crc32(0L, reinterpret_cast<Bytef const*>(e.data.data()), static_cast<uInt>(e.data.size()))),
                  static_cast<std::uint32_t>(body.size()),
                  static_cast<std::uint32_t>(e.data.size()),
                  static_cast<std::uint32_t>(out.size())};
        put32(out, k_local_signature);
        put_common(out, w);
        out += e.name;
        out += body;
        written.push_back(w);
    }
    auto const directory_offset = static_cast<std::uint32_t>(out.size());
    for (auto const& w : written) {
        put32(out, k_central_signature);
        put16(out, k_version_needed);  // version made by: 2.0, MS-DOS attributes
        put_common(out, w);
        put16(out, 0);  // comment length
        put16(out, 0);  // disk number
        put16(out, 0);  // internal attributes
        put32(out, 0);  // external attributes
        put32(out, w.offset);
        out += *w.name;
    }
    auto const directory_size = static_cast<std::uint32_t>(out.size()) - directory_offset;
    put32(out, k_end_signature);
    put16(out, 0);  // this disk
    put16(out, 0);  // the disk the directory starts on
    put16(out, static_cast<std::uint32_t>(written.size()));
    put16(out, static_cast<std::uint32_t>(written.size()));
    put32(out, directory_size);
    put32(out, directory_offset);
    put16(out, 0);  // comment length
    return out;
}

}  // namespace msteams::web::detail
