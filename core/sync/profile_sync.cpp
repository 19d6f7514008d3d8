#include "sync/profile_sync.hpp"

#include <algorithm>

#include "common/clock.hpp"
#include "common/log.hpp"
#include "crypto/crypto.hpp"

namespace msteams::sync {

std::string status_for(std::string const& availability) {
    if (availability == "Available" || availability == "AvailableIdle") {
        return "online";
    }
    if (availability == "Away" || availability == "BeRightBack" || availability == "BusyIdle") {
        return "away";
    }
    if (availability == "Busy" || availability == "DoNotDisturb") {
        return "dnd";
    }
    return "offline";  // Offline, PresenceUnknown, and anything Graph adds later
}

ProfileSync::ProfileSync(ProfileSyncSettings settings, std::shared_ptr<mm::Api> api,
                         std::shared_ptr<store::Profiles> profiles, PhotoReader read_photo,
                         PresenceReader read_presence, std::shared_ptr<metrics::Counters> stats)
    : settings_(std::move(settings)),
      api_(std::move(api)),
      profiles_(std::move(profiles)),
      read_photo_(std::move(read_photo)),
      read_presence_(std::move(read_presence)),
      stats_(std::move(stats)) {}

std::int64_t ProfileSync::now_ms() const { return settings_.clock_ms ? settings_.clock_ms() : msteams::now_ms(); }

Status ProfileSync::run_once() {
    std::lock_guard lock(mutex_);
    auto const photos = sync_photos();
    auto const presence = sync_presence();
    return photos ? presence : photos;
}

Status ProfileSync::sync_photo(store::SyntheticProfile const& user) {
    std::optional<std::string> photo;
    if (auto read = read_photo_(user.teams_user_id); read) {
        photo = std::move(*read);
    } else if (read.error().code == ErrorCode::unavailable || read.error().code == ErrorCode::unauthenticated) {
        return std::unexpected(read.error());  // throttled or down: the next pass tries again
    } else {
        // Refused or malformed: not asked again before the next refresh.
        ++stats_->profile_sync_failures;
        log::warn("could not read a Teams user's photo",
                  {{"teams_user_id", user.teams_user_id}, {"error", read.error().message}});
        return profiles_->photo_checked(user.teams_user_id, now_ms(), user.photo_digest);
    }
    std::string digest = photo ? crypto::base64url_encode(crypto::sha256(*photo)) : std::string();
    if (photo && digest != user.photo_digest) {
        if (auto s = api_->set_profile_image(user.mm_user_id, *photo); s) {
            ++stats_->avatars_set;
            log::debug("set a Teams user's photo as avatar",
                       {{"teams_user_id", user.teams_user_id}, {"user_id", user.mm_user_id}});
        } else if (s.error().code == ErrorCode::unavailable) {
            return s;
        } else {
            // Mattermost refused the image (format, size): kept as checked, so it is not sent again until it changes.
            ++stats_->profile_sync_failures;
            log::warn(
                "Mattermost refused a Teams user's photo as avatar",
                {{"teams_user_id", user.teams_user_id}, {"user_id", user.mm_user_id}, {"error", s.error().message}});
        }
    } else if (!photo) {
        // No photo (any more): Mattermost's generated avatar stays, or the last photo set; nothing to upload.
        digest = user.photo_digest;
    }
    return profiles_->photo_checked(user.teams_user_id, now_ms(), digest);
}

Status ProfileSync::sync_photos() {
    auto const refresh = std::chrono::duration_cast<std::chrono::milliseconds>(settings_.photo_refresh).count();
    std::vector<store::SyntheticProfile> due;
    MSTEAMS_TRY_ASSIGN(due, profiles_->photos_due(now_ms() - refresh, settings_.photos_per_pass));
    for (auto const& user : due) {
        MSTEAMS_TRY(sync_photo(user));
    }
    return {};
}

Status ProfileSync::sync_presence() {
    if (!settings_.presence || now_ms() < presence_refused_until_) {
        return {};
    }
    std::size_t done = 0;
    while (done < settings_.presence_users_per_pass) {
        std::vector<store::SyntheticProfile> page;
        MSTEAMS_TRY_ASSIGN(page, profiles_->synthetic_after(presence_after_, graph::k_max_presence_ids));
        if (page.empty()) {
            presence_after_ = {};  // everyone seen: the next pass starts over
            return {};
        }
        std::vector<TeamsUserId> ids;
        std::unordered_map<TeamsUserId, MmUserId> mm_user;
        for (auto const& p : page) {
            ids.push_back(p.teams_user_id);
            mm_user[p.teams_user_id] = p.mm_user_id;
        }
        auto presences = read_presence_(ids);
        if (!presences) {
            if (presences.error().code == ErrorCode::permission_denied) {
                presence_refused_until_ =
                    now_ms() + std::chrono::duration_cast<std::chrono::milliseconds>(settings_.refused_retry).count();
                log::warn(
                    "Microsoft Graph refused to read presence: grant the app the Presence.Read.All application "
                    "permission to see Teams people's status in Mattermost; trying again in an hour",
                    {{"error", presences.error().message}});
                return {};
            }
            return std::unexpected(presences.error());
        }
        for (auto const& p : *presences) {
            auto const it = mm_user.find(p.id);
            if (it == mm_user.end()) {
                continue;  // not asked about
            }
            auto const status = status_for(p.availability);
            auto& last = statuses_[it->second];
            if (last == status) {
                continue;
            }
            if (auto s = api_->update_user_status(it->second, status); !s) {
                ++stats_->profile_sync_failures;
                log::warn("could not set a Teams user's status",
                          {{"user_id", it->second}, {"error", s.error().message}});
                continue;
            }
            last = status;
            ++stats_->statuses_set;
        }
        presence_after_ = page.back().teams_user_id;
        done += page.size();
        if (page.size() < graph::k_max_presence_ids) {
            presence_after_ = {};
            return {};
        }
    }
    return {};
}

}  // namespace msteams::sync
