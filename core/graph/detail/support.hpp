#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/ids.hpp"

// Small pure helpers of the Graph client: Graph's date-times, path segments, share tokens.
namespace msteams::graph::detail {

// An ISO-8601 date-time as Graph writes it ("2021-03-28T21:11:12.395Z", any number of fractional digits, "Z" or a
// "+hh:mm"/"-hh:mm" offset) as Unix milliseconds (fractions below a millisecond are dropped). nullopt if malformed.
[[nodiscard]] std::optional<std::int64_t> parse_time(std::string_view s);

// Unix milliseconds as "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC), the form Graph accepts in $filter and bodies.
[[nodiscard]] std::string format_time(std::int64_t unix_ms);

// One path segment, percent-encoded: everything but RFC 3986 unreserved characters (so ':' and '@' of chat ids and
// UPNs become %3A and %40, which Graph decodes; '/', '?', '#' can never change the path).
[[nodiscard]] std::string path_segment(std::string_view s);
template <class Tag>
[[nodiscard]] std::string path_segment(Id<Tag> const& id) {
    return path_segment(std::string_view(id.str()));
}

// A string literal of an OData $filter: in single quotes, each quote inside doubled ("o'brien" → 'o''brien'). The
// caller percent-encodes the whole filter.
[[nodiscard]] std::string odata_string(std::string_view s);

// The /shares token of a sharing or web URL: "u!" + unpadded base64url of the URL.
[[nodiscard]] std::string share_token(std::string_view url);

}  // namespace msteams::graph::detail
