#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "store/records.hpp"

// The pure part of Inbound: what a batch of one chat's inbox items asks for, decided without any I/O.
namespace msteams::sync {

struct ReadPlan {
    // Message ids to read, in the order they were first notified. A deletion is read from Teams like any other
    // change: a notification alone (it could be forged, or late after an undo) never deletes a post.
    std::vector<TeamsMessageId> wanted;
    // Ids notified as something other than `created`: read even when the message map knows them.
    std::set<TeamsMessageId> changed;
    // Read the chat forward (a catch-up or a reconciliation asked for it).
    bool catch_up = false;
    // A chat first seen after downtime: read it from then on (Unix ms); 0 if not.
    std::int64_t discover_since = 0;
    // The chat has no Mattermost side yet and is read from discover_since: only messages written since then (or
    // notified) are its first posts, not older ones edited meanwhile.
    bool first_read = false;
    // Read the notified messages one by one rather than forward (a linked channel's few notifications: Graph lists
    // a channel's roots with all their replies, which costs more than a few single reads).
    bool each = false;
};

// The Teams user ids in a one-on-one chat's id ("19:{a}_{b}@unq.gbl.spaces"); empty for other chats.
[[nodiscard]] std::vector<TeamsUserId> one_on_one_members(TeamsThreadId const& chat_id);

[[nodiscard]] ReadPlan plan_reads(std::vector<store::InboxItem> const& items);

// Where reading forward starts (Unix ms): the portal's cursor, else the discovery time, less `overlap_ms` (clock
// skew between Graph's servers); nullopt when there is neither, or the plan reads each message (the notified messages
// are read one by one).
// Reading forward covers every change since, applied in the order they happened whatever order the notifications
// came in (Graph does not keep it). However long the gap, it is read oldest first in chunks of at most
// max_messages_per_read (memory stays bounded), each chunk applied and the cursor moved before the next is read.
[[nodiscard]] std::optional<std::int64_t> read_forward_from(std::optional<store::Portal> const& portal,
                                                            ReadPlan const& plan, std::int64_t overlap_ms);

}  // namespace msteams::sync
