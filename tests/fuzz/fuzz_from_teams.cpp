// libFuzzer target: Teams HTML (or text) → Mattermost Markdown. The first byte picks the content type and whether
// mentions resolve; the rest is the body. Beyond "no crash, bounded time and memory": the Markdown is valid UTF-8
// and has no NUL or other C0 control but tab and newline (it is stored in PostgreSQL).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "convert/convert.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    auto const flags = data[0];
    std::string_view const body(reinterpret_cast<char const*>(data + 1), size - 1);
    namespace c = msteams::convert;
    std::vector<c::TeamsMention> const mentions{{0, "Jane", "u0"}, {1, "Smith", "u0"}, {2, "Bot", ""}};
    c::UsernameForTeamsUser const username_for = [flags](std::string const& id) -> std::optional<std::string> {
        if ((flags & 2) == 0) {
            return std::nullopt;
        }
        return id == "u0" ? std::optional<std::string>("jane.smith") : std::nullopt;
    };
    auto const out = c::teams_to_markdown(body, (flags & 1) != 0 ? "text" : "html", mentions, username_for);
    if (out) {
        msteams::fuzz::require(msteams::fuzz::valid_utf8(out->markdown), "markdown is not valid UTF-8");
        msteams::fuzz::require(!msteams::fuzz::has_controls(out->markdown), "markdown has a control character");
    }
    return 0;
}
