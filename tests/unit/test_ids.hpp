#pragma once

#include <string>
#include <string_view>

#include "common/ids.hpp"

// Short names for ids in tests, made from text as a trusted source would (no shape check: tests use short ids).
namespace msteams::test {

inline TeamsThreadId chat_id(std::string text) { return TeamsThreadId(std::move(text)); }
inline TeamsMessageId message_id(std::string text) { return TeamsMessageId(std::move(text)); }
inline TeamsUserId teams_user(std::string text) { return TeamsUserId(std::move(text)); }
inline SubscriptionId subscription(std::string text) { return SubscriptionId(std::move(text)); }
inline MmUserId mm_user(std::string text) { return MmUserId(std::move(text)); }
inline MmChannelId mm_channel(std::string text) { return MmChannelId(std::move(text)); }
inline MmPostId mm_post(std::string text) { return MmPostId(std::move(text)); }

// What the fakes' own helpers take: an id as text or typed, whichever the test has at hand.
struct IdText {
    IdText(std::string t) : text(std::move(t)) {}  // NOLINT(google-explicit-constructor)
    IdText(char const* t) : text(t) {}             // NOLINT(google-explicit-constructor)
    template <class Tag>
    IdText(Id<Tag> const& id) : text(id.str()) {}         // NOLINT(google-explicit-constructor)
    operator std::string const&() const { return text; }  // NOLINT(google-explicit-constructor)
    std::string text;
};

}  // namespace msteams::test

namespace msteams::ids {

// Tests compare an id with its expected text (found by argument-dependent lookup; the core itself never does).
template <class Tag>
bool operator==(Id<Tag> const& id, std::string_view text) {
    return id.str() == text;
}

}  // namespace msteams::ids
