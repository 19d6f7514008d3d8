#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.hpp"
#include "graph/client.hpp"
#include "metrics/counters.hpp"
#include "mm/api.hpp"
#include "store/profiles.hpp"

// Keeps the Mattermost users that stand for Teams people (synthetic users) looking like those people: their Teams
// photo as avatar (read when the user is created, then again every photo_refresh) and their Teams presence as status
// (every pass, when enabled). Run by the subscription leader on a schedule, so one node does it.
namespace msteams::sync {

// The Teams user's photo (Graph, app token); nullopt when they have none.
using PhotoReader = std::function<Result<std::optional<std::string>>(TeamsUserId const& teams_user_id)>;
// Presence of at most graph::k_max_presence_ids users (Graph, app token).
using PresenceReader = std::function<Result<std::vector<graph::Presence>>(std::vector<TeamsUserId> const& ids)>;

struct ProfileSyncSettings {
    bool presence = true;                         // mirror presence as status (needs Presence.Read.All)
    std::chrono::hours photo_refresh{24};         // a photo is read again after this long
    std::size_t photos_per_pass = 20;             // Graph requests for photos per pass, at most
    std::size_t presence_users_per_pass = 6'500;  // ten getPresencesByUserId requests per pass, at most
    std::chrono::minutes refused_retry{60};       // after Graph refused presence (no permission): try again after
    std::function<std::int64_t()> clock_ms;       // wall-clock ms (tests set it)
};

// Teams availability → Mattermost status: online, away, dnd or offline.
[[nodiscard]] std::string status_for(std::string const& availability);

class ProfileSync {
public:
    ProfileSync(ProfileSyncSettings settings, std::shared_ptr<mm::Api> api, std::shared_ptr<store::Profiles> profiles,
                PhotoReader read_photo, PresenceReader read_presence, std::shared_ptr<metrics::Counters> stats);

    // One pass: the photos that are due, then one page of presence (the next pass goes on from there).
    [[nodiscard]] Status run_once();
    // Reads one user's photo now and sets it as their avatar when it changed.
    [[nodiscard]] Status sync_photo(store::SyntheticProfile const& user);

private:
    [[nodiscard]] Status sync_photos();
    [[nodiscard]] Status sync_presence();
    [[nodiscard]] std::int64_t now_ms() const;

    ProfileSyncSettings settings_;
    std::shared_ptr<mm::Api> api_;
    std::shared_ptr<store::Profiles> profiles_;
    PhotoReader read_photo_;
    PresenceReader read_presence_;
    std::shared_ptr<metrics::Counters> stats_;

    std::mutex mutex_;                                    // one pass at a time; guards what follows
    std::unordered_map<MmUserId, std::string> statuses_;  // Mattermost user id → the status last set
    TeamsUserId presence_after_;                          // where the next presence pass goes on
    std::int64_t presence_refused_until_ = 0;
};

}  // namespace msteams::sync
