// libFuzzer target: Mattermost Markdown → Teams HTML. The output is valid UTF-8 and every mention id it lists
// appears in the HTML.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "convert/convert.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    std::string_view const markdown(reinterpret_cast<char const*>(data), size);
    namespace c = msteams::convert;
    c::TeamsUserForUsername const teams_user_for = [](std::string const& username) -> std::optional<c::TeamsUser> {
        if (username == "jane" || username == "bob.x") {
            return c::TeamsUser{"id-" + username, username == "jane" ? "Jane <Smith>" : ""};
        }
        return std::nullopt;
    };
    auto const out = c::markdown_to_teams(markdown, teams_user_for);
    if (out) {
        msteams::fuzz::require(msteams::fuzz::valid_utf8(out->html), "html is not valid UTF-8");
        for (auto const& m : out->mentions) {
            auto const tag = "<at id=\"" + std::to_string(m.id) + "\">";
            msteams::fuzz::require(out->html.find(tag) != std::string::npos, "a mention is missing from the html");
        }
    }
    return 0;
}
