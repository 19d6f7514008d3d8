#pragma once

#include <compare>
#include <cstddef>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

// Identifiers of Teams and Mattermost objects, one type per kind, so that a post id cannot go where a channel id is
// expected, nor a Teams message id where a chat id is.
//
// Each kind's shape is written once, in its tag's `valid` (ids.cpp). Text from outside the bridge becomes an id only
// through `parse`: notification resource paths, Graph's JSON, slash-command arguments, HTTP parameters. The explicit
// constructor is for values from a source that is already trusted: Mattermost's own server (over the shim), the
// bridge's database (every id in it was parsed or made before it was stored), an id the bridge made itself, tests.
namespace msteams {

template <class Tag>
class Id {
public:
    Id() = default;  // empty: no id (e.g. a link whose post is still pending)
    explicit Id(std::string value) : value_(std::move(value)) {}

    // nullopt when `text` does not have this kind's shape.
    [[nodiscard]] static std::optional<Id> parse(std::string_view text) {
        if (!Tag::valid(text)) {
            return std::nullopt;
        }
        return Id(std::string(text));
    }

    [[nodiscard]] std::string const& str() const noexcept { return value_; }
    [[nodiscard]] bool empty() const noexcept { return value_.empty(); }

    friend bool operator==(Id const&, Id const&) = default;
    friend auto operator<=>(Id const&, Id const&) = default;
    friend std::ostream& operator<<(std::ostream& os, Id const& id) { return os << id.value_; }
    // An id is its text in JSON (nlohmann::json finds this by argument-dependent lookup). Reading one is `parse`.
    template <class Json>
    friend void to_json(Json& json, Id const& id) {
        json = id.value_;
    }

private:
    std::string value_;
};

namespace ids {
// A Teams conversation: a chat ("19:…@thread.v2", one-on-one "19:…@unq.gbl.spaces", self "48:notes") or a channel
// ("19:…@thread.tacv2"). Unique in the tenant. Shape: digits, a colon, then printable ASCII without quotes,
// slashes, '?' or '#'; at most 512 bytes.
struct TeamsThread {
    [[nodiscard]] static bool valid(std::string_view text) noexcept;
};
// A Teams message: the epoch milliseconds at which Teams created it, as decimal digits. Unique only within its
// chat or channel; a reply's id is unique within its channel.
struct TeamsMessage {
    [[nodiscard]] static bool valid(std::string_view text) noexcept;
};
// A Teams user: the Entra ID object id, a GUID (any case; Graph answers in lower case). Unique across tenants.
struct TeamsUser {
    [[nodiscard]] static bool valid(std::string_view text) noexcept;
};
// A Graph change-notification subscription (Graph's answers give GUIDs; the documented type is a string). Unique
// for the application. Shape: 1 to 128 letters, digits, '-', '_' or '.'.
struct Subscription {
    [[nodiscard]] static bool valid(std::string_view text) noexcept;
};
// Mattermost's ids (users, channels, posts) share one shape: 26 lower-case letters and digits. Each is unique on
// the server.
struct Mattermost {
    [[nodiscard]] static bool valid(std::string_view text) noexcept;
};
struct MmUser : Mattermost {};
struct MmChannel : Mattermost {};
struct MmPost : Mattermost {};
}  // namespace ids

using TeamsThreadId = Id<ids::TeamsThread>;
using TeamsMessageId = Id<ids::TeamsMessage>;
using TeamsUserId = Id<ids::TeamsUser>;
using SubscriptionId = Id<ids::Subscription>;
using MmUserId = Id<ids::MmUser>;
using MmChannelId = Id<ids::MmChannel>;
using MmPostId = Id<ids::MmPost>;

}  // namespace msteams

template <class Tag>
struct std::hash<msteams::Id<Tag>> {
    std::size_t operator()(msteams::Id<Tag> const& id) const noexcept { return std::hash<std::string>{}(id.str()); }
};
