#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "graph/client.hpp"
#include "store/repositories.hpp"
#include "store/roster.hpp"
#include "sync/people.hpp"

// Who reads a chat where, and so whether the bridge mirrors it, only notifies some of its members, or leaves it
// alone. Selective sync (a setting) bridges a chat only when someone in it reads it in Mattermost: a member who is not
// on Teams (not connected and not a synthetic user) or a connected member whose primary platform is Mattermost.
// Notifications-only mode (each user's choice) replaces mirroring for that user with a direct message from the bot.
// Decided from the database alone (no Graph request per message); each member's part is cached for a short while
// and forgotten at once when their choice or connection changes on this node.
namespace msteams::sync {

// How one member of a chat takes part, as the bridge sees it.
struct Member {
    enum class Kind {
        teams_only,       // a synthetic user: reads the chat in Teams
        connected,        // a connected user: reads it where their primary platform says
        mattermost_only,  // not connected and not synthetic: reads it in Mattermost
    };
    MmUserId mm_user_id;
    Kind kind = Kind::mattermost_only;
    store::Platform primary = store::Platform::mattermost;
    bool notifications = false;
    TeamsUserId teams_user_id{};  // connected members
};

enum class Bridging {
    mirror,  // both ways, as without either setting
    notify,  // Teams → Mattermost as direct messages from the bot to the members in `notify`, nothing back
    none,    // not bridged
};

struct ChatPlan {
    Bridging bridging = Bridging::mirror;
    std::vector<Member> notify{};  // Bridging::notify: the connected members in notifications-only mode
    std::string reason{};          // one sentence, for `/msteams status` and the author of an unsent post
};

// The plan for a chat with these members (Mattermost users, synthetic ones included). Pure.
[[nodiscard]] ChatPlan plan_chat(std::vector<Member> const& members, bool selective_sync);

// Presence of Teams users (Graph, app token), at most graph::k_max_presence_ids per call.
using PresenceLookup = std::function<Result<std::vector<graph::Presence>>(std::vector<TeamsUserId> const& ids)>;

// Whether a presence means the person is at Teams right now (available, busy, in a call, presenting, do not disturb).
[[nodiscard]] bool active_in_teams(graph::Presence const& presence);

struct AudienceSettings {
    bool selective_sync = false;
    // The primary platform of connected users who never chose one (defaultPrimaryPlatform).
    store::Platform default_primary = store::Platform::mattermost;
    // A member's part is read again after this long (a choice changed on another node shows within it).
    std::int64_t member_ttl_ms = 30'000;
    // A Teams user's presence is asked again after this long, and Graph is asked at most once per this long.
    std::int64_t presence_ttl_ms = 60'000;
    std::int64_t presence_min_interval_ms = 1'000;
    // The wall clock (Unix ms); tests move it.
    std::function<std::int64_t()> clock_ms{};
};

class Audience {
public:
    Audience(AudienceSettings settings, store::Repositories repos, std::shared_ptr<store::Roster> roster,
             std::shared_ptr<People> people, PresenceLookup presence);

    [[nodiscard]] bool selective_sync() const noexcept { return settings_.selective_sync; }

    // A Mattermost user's part (cached).
    [[nodiscard]] Result<Member> member(MmUserId const& mm_user_id);
    // The plan for a DM or GM with these members.
    [[nodiscard]] Result<ChatPlan> for_mm_members(std::vector<MmUserId> const& mm_user_ids);
    // The plan for a Teams chat with these members: each stands for the Mattermost user People finds or makes for them
    // (a Teams user seen for the first time is looked up once, then known); a guest nobody stands for is left out.
    [[nodiscard]] Result<ChatPlan> for_teams_members(std::vector<TeamsUserId> const& teams_user_ids);

    // A user's choice or connection changed: their part is read again at the next decision.
    void forget(MmUserId const& mm_user_id);

    // Of these Teams users, those who are at Teams right now. Within the presence budget: users asked about in the
    // last presence_ttl_ms are answered from memory, and Graph is asked at most once per presence_min_interval_ms;
    // a user whose presence is unknown (over the budget, Graph failing or refusing) is not at Teams.
    [[nodiscard]] std::set<TeamsUserId> at_teams(std::vector<TeamsUserId> const& teams_user_ids);

private:
    [[nodiscard]] std::int64_t now() const { return settings_.clock_ms ? settings_.clock_ms() : now_ms(); }

    AudienceSettings settings_;
    store::Repositories repos_;
    std::shared_ptr<store::Roster> roster_;
    std::shared_ptr<People> people_;
    PresenceLookup presence_;

    struct Cached {
        Member member;
        std::int64_t read_at = 0;
    };
    struct Seen {
        bool active = false;
        std::int64_t read_at = 0;
    };
    std::mutex mutex_;
    std::unordered_map<MmUserId, Cached> members_;
    std::unordered_map<TeamsUserId, Seen> presence_seen_;
    std::int64_t presence_asked_at_ = 0;
};

}  // namespace msteams::sync
