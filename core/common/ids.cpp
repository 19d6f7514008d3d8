#include "common/ids.hpp"

#include <algorithm>

#include "common/strings.hpp"

namespace msteams::ids {
namespace {

bool digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool lower_alnum(char c) noexcept { return digit(c) || (c >= 'a' && c <= 'z'); }

}  // namespace

bool TeamsThread::valid(std::string_view text) noexcept {
    constexpr std::size_t k_max = 512;
    auto const colon = text.find(':');
    if (text.size() > k_max || colon == 0 || colon == std::string_view::npos || colon + 1 == text.size()) {
        return false;
    }
    if (!std::all_of(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(colon), digit)) {
        return false;
    }
    return std::none_of(text.begin() + static_cast<std::ptrdiff_t>(colon) + 1, text.end(), [](char c) {
        auto const u = static_cast<unsigned char>(c);
        return u <= 0x20 || u >= 0x7F || c == '\'' || c == '"' || c == '/' || c == '\\' || c == '?' || c == '#';
    });
}

bool TeamsMessage::valid(std::string_view text) noexcept {
    constexpr std::size_t k_max = 20;  // the digits of the largest 64-bit number
    return !text.empty() && text.size() <= k_max && std::all_of(text.begin(), text.end(), digit);
}

bool TeamsUser::valid(std::string_view text) noexcept { return strings::is_guid(text); }

bool Subscription::valid(std::string_view text) noexcept {
    constexpr std::size_t k_max = 128;
    return !text.empty() && text.size() <= k_max && std::all_of(text.begin(), text.end(), [](char c) {
        return lower_alnum(c) || (c >= 'A' && c <= 'Z') || c == '-' || c == '_' || c == '.';
    });
}

bool Mattermost::valid(std::string_view text) noexcept {
    constexpr std::size_t k_length = 26;
    return text.size() == k_length && std::all_of(text.begin(), text.end(), lower_alnum);
}

}  // namespace msteams::ids
