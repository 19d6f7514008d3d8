#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/result.hpp"

// A ZIP archive writer for the few small files of a Teams app package: each entry deflated (zlib, raw deflate) or,
// when that does not make it smaller, stored; no ZIP64, no encryption, no extra fields. Entries carry a fixed
// timestamp (1980-01-01 00:00), so the same files always make the same bytes.
namespace msteams::web::detail {

struct ZipEntry {
    std::string name;  // a relative path with '/' separators, e.g. "manifest.json"
    std::string data;
};

// The largest entry and the most entries an archive takes; far above what a package holds, far below ZIP's 4 GiB.
inline constexpr std::size_t k_zip_max_entry = 16U << 20;
inline constexpr std::size_t k_zip_max_entries = 64;

// The archive of `entries`, in their order. Refuses empty, absolute, duplicate or over-long names and entries over
// the limits (invalid_argument), and reports zlib failing (internal).
[[nodiscard]] Result<std::string> make_zip(std::vector<ZipEntry> const& entries);

}  // namespace msteams::web::detail
