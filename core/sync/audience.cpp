#include "sync/audience.hpp"

#include <algorithm>

#include "common/log.hpp"

namespace msteams::sync {
namespace {

constexpr std::size_t k_max_cached_members = 100'000;
constexpr std::size_t k_max_cached_presence = 100'000;

// Reads the chat in Mattermost: selective sync bridges a chat only when someone does.
bool reads_in_mattermost(Member const& m) {
    return m.kind == Member::Kind::mattermost_only ||
           (m.kind == Member::Kind::connected && m.primary == store::Platform::mattermost);
}

}  // namespace

ChatPlan plan_chat(std::vector<Member> const& members, bool selective_sync) {
    ChatPlan plan;
    if (members.empty()) {
        plan.bridging = Bridging::none;
        plan.reason = "Nobody in this chat is in Mattermost, so it is not bridged.";
        return plan;
    }
    if (selective_sync && std::none_of(members.begin(), members.end(), reads_in_mattermost)) {
        plan.bridging = Bridging::none;
        plan.reason =
            "Selective sync is on and everyone in this chat uses Microsoft Teams as their primary platform, so it is "
            "not bridged: they read it in Teams.";
        return plan;
    }
    // Mirrored when someone reads it in Mattermost without having asked for notifications only.
    bool const mirror = std::any_of(members.begin(), members.end(), [&](Member const& m) {
        if (m.kind == Member::Kind::mattermost_only) {
            return true;
        }
        return m.kind == Member::Kind::connected && !m.notifications &&
               (!selective_sync || m.primary == store::Platform::mattermost);
    });
    if (mirror) {
        plan.bridging = Bridging::mirror;
        plan.reason = selective_sync
                          ? "This chat is bridged with Microsoft Teams: someone in it reads it in Mattermost."
                          : "This chat is bridged with Microsoft Teams.";
        return plan;
    }
    for (auto const& m : members) {
        // Under selective sync, those who read their chats in Teams are not told in Mattermost as well.
        if (m.kind == Member::Kind::connected && m.notifications &&
            (!selective_sync || m.primary == store::Platform::mattermost)) {
            plan.notify.push_back(m);
        }
    }
    if (plan.notify.empty()) {
        plan.bridging = Bridging::none;
        plan.reason = "Nobody in this chat reads it in Mattermost, so it is not bridged.";
        return plan;
    }
    plan.bridging = Bridging::notify;
    plan.reason =
        "Everyone connected in this chat chose notifications only (`/msteams notifications on`): the bot tells them "
        "of new Teams messages, and nothing is sent from here to Teams.";
    return plan;
}

bool active_in_teams(graph::Presence const& presence) {
    auto const& a = presence.availability;
    return a == "Available" || a == "Busy" || a == "DoNotDisturb";
}

Audience::Audience(AudienceSettings settings, store::Repositories repos, std::shared_ptr<store::Roster> roster,
                   std::shared_ptr<People> people, PresenceLookup presence)
    : settings_(std::move(settings)),
      repos_(std::move(repos)),
      roster_(std::move(roster)),
      people_(std::move(people)),
      presence_(std::move(presence)) {}

Result<Member> Audience::member(MmUserId const& mm_user_id) {
    auto const at = now();
    {
        std::lock_guard lock(mutex_);
        if (auto it = members_.find(mm_user_id);
            it != members_.end() && at - it->second.read_at < settings_.member_ttl_ms) {
            return it->second.member;
        }
    }
    Member m;
    m.mm_user_id = mm_user_id;
    std::optional<store::Account> account;
    MSTEAMS_TRY_ASSIGN(account, repos_.accounts->by_mm_user(mm_user_id));
    if (account && account->connected()) {
        m.kind = Member::Kind::connected;
        m.teams_user_id = account->teams_user_id;
        std::vector<store::UserChoice> choices;
        MSTEAMS_TRY_ASSIGN(choices, roster_->choices({mm_user_id}));
        m.primary = settings_.default_primary;
        if (!choices.empty()) {
            m.primary = choices.front().primary;
            m.notifications = choices.front().notifications;
        }
    } else {
        std::optional<store::TeamsUser> teams;
        MSTEAMS_TRY_ASSIGN(teams, repos_.users->by_mm_id(mm_user_id));
        // A promoted synthetic user signs in to Mattermost now.
        m.kind = teams && teams->synthetic && teams->promoted_at == 0 ? Member::Kind::teams_only
                                                                      : Member::Kind::mattermost_only;
    }
    std::lock_guard lock(mutex_);
    if (members_.size() >= k_max_cached_members) {
        members_.clear();
    }
    members_[mm_user_id] = Cached{m, at};
    return m;
}

Result<ChatPlan> Audience::for_mm_members(std::vector<MmUserId> const& mm_user_ids) {
    std::vector<Member> members;
    for (auto const& id : mm_user_ids) {
        Member m;
        MSTEAMS_TRY_ASSIGN(m, member(id));
        members.push_back(std::move(m));
    }
    return plan_chat(members, settings_.selective_sync);
}

Result<ChatPlan> Audience::for_teams_members(std::vector<TeamsUserId> const& teams_user_ids) {
    std::vector<MmUserId> ids;
    for (auto const& teams_id : teams_user_ids) {
        std::optional<MmUserId> mm;
        MSTEAMS_TRY_ASSIGN(mm, people_->known_mm_user(teams_id));
        if (!mm) {
            MSTEAMS_TRY_ASSIGN(mm, people_->mm_user_for(TeamsProfile{teams_id, "", "", false}));
        }
        if (mm && std::find(ids.begin(), ids.end(), *mm) == ids.end()) {
            ids.push_back(*mm);
        }
    }
    return for_mm_members(ids);
}

void Audience::forget(MmUserId const& mm_user_id) {
    std::lock_guard lock(mutex_);
    members_.erase(mm_user_id);
}

std::set<TeamsUserId> Audience::at_teams(std::vector<TeamsUserId> const& teams_user_ids) {
    std::set<TeamsUserId> active;
    std::vector<TeamsUserId> unknown;
    auto const at = now();
    {
        std::lock_guard lock(mutex_);
        for (auto const& id : teams_user_ids) {
            auto const it = presence_seen_.find(id);
            if (it != presence_seen_.end() && at - it->second.read_at < settings_.presence_ttl_ms) {
                if (it->second.active) {
                    active.insert(id);
                }
            } else if (std::find(unknown.begin(), unknown.end(), id) == unknown.end()) {
                unknown.push_back(id);
            }
        }
        if (unknown.empty() || !presence_ || at - presence_asked_at_ < settings_.presence_min_interval_ms) {
            return active;  // over the budget: unknown users are told, rather than missing a message
        }
        presence_asked_at_ = at;
    }
    if (unknown.size() > graph::k_max_presence_ids) {
        unknown.resize(graph::k_max_presence_ids);
    }
    auto read = presence_(unknown);
    if (!read) {
        log::warn("could not read Teams presence; notifying without it", {{"error", read.error().message}});
        return active;
    }
    std::lock_guard lock(mutex_);
    if (presence_seen_.size() >= k_max_cached_presence) {
        presence_seen_.clear();
    }
    for (auto const& id : unknown) {
        presence_seen_[id] = Seen{false, at};  // not in the answer: Graph does not know them
    }
    for (auto const& p : *read) {
        bool const on = active_in_teams(p);
        presence_seen_[p.id] = Seen{on, at};
        if (on) {
            active.insert(p.id);
        }
    }
    return active;
}

}  // namespace msteams::sync
