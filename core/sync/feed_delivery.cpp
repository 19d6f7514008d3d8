// The feed's sending side: one recipient's notification (held back when they read the post or are online in
// Mattermost), Microsoft's refusals, and the muting of Mattermost's own email and push notifications.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <utility>

#include "common/clock.hpp"
#include "common/log.hpp"
#include "sync/feed.hpp"

namespace msteams::sync {
namespace {

using json = nlohmann::json;

// What Mattermost's notify_props hold when a user never changed them.
constexpr char const* k_default_email = "true";
constexpr char const* k_default_push = "mention";

std::string text(json const& j, char const* key) {
    auto const it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

ActivityType const& activity_of(store::FeedKind kind) {
    for (auto const& t : k_activity_types) {
        if (t.kind == kind) {
            return t;
        }
    }
    return k_activity_types.front();
}

graph::ActivityNotification notification_of(store::FeedItem const& row, json const& j, FeedSettings const& settings) {
    auto const& type = activity_of(row.kind);
    graph::ActivityNotification n;
    n.topic = text(j, "channel");
    n.web_url = feed_deep_link(settings.teams_web_url, settings.teams_app_id, settings.tab_entity_id, row.post_id);
    n.activity_type = std::string(type.type);
    n.preview = text(j, "preview");
    for (auto const& name : template_parameters(type.template_text)) {
        n.template_parameters.emplace_back(name, text(j, name.c_str()));
    }
    n.chain_id = feed_chain_id(row.post_id);
    return n;
}

}  // namespace

Status Feed::deliver(store::FeedItem const& row, std::int64_t now_ms) {
    auto const j = json::parse(row.payload, nullptr, false);
    if (!j.is_object()) {
        return store_->finish(row.id, store::FeedState::failed, "malformed payload", now_ms);
    }
    std::optional<std::string> skip;
    MSTEAMS_TRY_ASSIGN(skip, why_not(row, MmChannelId(text(j, "channel_id"))));
    if (skip) {
        ++stats_->feed_skipped;
        return store_->finish(row.id, store::FeedState::dropped, *skip, now_ms);
    }
    return send_one(row, j, now_ms);
}

// One recipient's notification in a request of its own: Microsoft's answer tells whether Teams notifies them.
Status Feed::send_one(store::FeedItem const& row, json const& payload, std::int64_t now_ms) {
    auto const teams_user = TeamsUserId(text(payload, "teams_user_id"));
    auto const sent = graph_->send(teams_user, notification_of(row, payload, settings_));
    if (!sent) {
        return refused(row, teams_user, sent.error(), now_ms);
    }
    MSTEAMS_TRY(store_->finish(row.id, store::FeedState::sent, "", now_ms));
    ++stats_->feed_sent;
    // Reached: bulk requests may include them for a while, and a block is over.
    MSTEAMS_TRY(store_->reached(row.mm_user_id, now_ms));
    mute_if_not({row.mm_user_id});
    return {};
}

// The rows of one post and kind whose recipients Microsoft accepted notifications for on their own lately: each
// checked again as for one (read, online, no longer Teams-primary: dropped), then one request for the rest.
Status Feed::deliver_bulk(std::vector<store::FeedItem> const& rows, std::int64_t now_ms) {
    std::vector<store::FeedItem> go;
    std::vector<TeamsUserId> to;
    json payload;
    for (auto const& row : rows) {
        auto const j = json::parse(row.payload, nullptr, false);
        if (!j.is_object()) {
            MSTEAMS_TRY(store_->finish(row.id, store::FeedState::failed, "malformed payload", now_ms));
            continue;
        }
        std::optional<std::string> skip;
        MSTEAMS_TRY_ASSIGN(skip, why_not(row, MmChannelId(text(j, "channel_id"))));
        if (skip) {
            ++stats_->feed_skipped;
            MSTEAMS_TRY(store_->finish(row.id, store::FeedState::dropped, *skip, now_ms));
            continue;
        }
        if (go.empty()) {
            payload = j;  // the same notification for all: one post, one kind
        }
        go.push_back(row);
        to.emplace_back(text(j, "teams_user_id"));
    }
    if (go.size() == 1) {
        return send_one(go.front(), payload, now_ms);
    }
    return go.empty() ? Status() : send_bulk(go, to, payload, now_ms);
}

// One request for several recipients. Microsoft accepts it as a whole or refuses it as a whole: refused (403, or a
// 412 when the app's token would not last, or one recipient unknown), its rows are sent one by one, which finds
// who is blocked; throttled or unreachable, they are all tried again later.
Status Feed::send_bulk(std::vector<store::FeedItem> const& rows, std::vector<TeamsUserId> const& to,
                       json const& payload, std::int64_t now_ms) {
    std::vector<std::int64_t> ids;
    std::vector<MmUserId> users;
    for (auto const& row : rows) {
        ids.push_back(row.id);
        users.push_back(row.mm_user_id);
    }
    auto const sent = graph_->send_bulk(to, notification_of(rows.front(), payload, settings_));
    if (!sent && sent.error().code == ErrorCode::unavailable) {
        return std::unexpected(sent.error());
    }
    if (!sent) {
        log::info("feed: Microsoft refused a bulk activity-feed request; its recipients are notified one by one",
                  {{"post_id", rows.front().post_id},
                   {"recipients", std::to_string(rows.size())},
                   {"error", sent.error().message}});
        return store_->send_alone(ids, now_ms, sent.error().message);
    }
    MSTEAMS_TRY(store_->finish_all(ids, store::FeedState::sent, "", now_ms));
    stats_->feed_sent += rows.size();
    ++stats_->feed_bulk_requests;
    mute_if_not(users);
    return {};
}

// Teams notifies them now: Mattermost's own email and push stop (again, after a block), for those not muted yet.
void Feed::mute_if_not(std::vector<MmUserId> const& users) {
    auto states = store_->users(users);
    if (!states) {
        log::warn("feed: could not read whether users are muted", {{"error", states.error().message}});
        return;
    }
    for (auto const& state : *states) {
        if (state.muted) {
            continue;
        }
        if (auto m = mute(state.mm_user_id); !m) {
            log::warn("feed: could not mute a Teams-primary user's Mattermost notifications",
                      {{"user_id", state.mm_user_id}, {"error", m.error().message}});
        }
    }
}

// Why the recipient is not to be notified after all (nullopt: they are): they read the post meanwhile, are online in
// Mattermost, left the channel, ignore channel-wide mentions there, or no longer have Teams as primary.
Result<std::optional<std::string>> Feed::why_not(store::FeedItem const& row, MmChannelId const& channel) {
    using Why = std::optional<std::string>;
    bool primary = false;
    MSTEAMS_TRY_ASSIGN(primary, teams_primary(row.mm_user_id));
    if (!primary) {
        return Why("Mattermost is their primary platform now");
    }
    auto member = api_->get_channel_member(channel, row.mm_user_id);
    if (!member && member.error().code == ErrorCode::not_found) {
        return Why("not a member of the channel");
    }
    if (!member) {
        return std::unexpected(member.error());
    }
    if (member->last_viewed_at >= row.created_at) {
        return Why("read in Mattermost");
    }
    auto const ignore = member->notify_props.find("ignore_channel_mentions");
    if (row.kind == store::FeedKind::channel_mention && ignore != member->notify_props.end() &&
        ignore->second == "on") {
        return Why("ignores channel-wide mentions in the channel");
    }
    mm::UserStatus status;
    MSTEAMS_TRY_ASSIGN(status, api_->get_user_status(row.mm_user_id));
    if (status.status == "online") {
        return Why("active in Mattermost");
    }
    return Why();
}

// Microsoft's 403: the app is not installed for the user or lacks consent. With proactive installation the app is
// installed and the send tried again once; else the user is blocked (told once, their Mattermost notifications back).
Status Feed::refused(store::FeedItem const& row, TeamsUserId const& teams_user, Error const& error,
                     std::int64_t now_ms) {
    if (error.code == ErrorCode::not_found) {
        ++stats_->feed_failed;
        return store_->finish(row.id, store::FeedState::failed, error.message, now_ms);
    }
    if (error.code != ErrorCode::permission_denied) {
        return std::unexpected(error);
    }
    if (settings_.proactive_install && row.attempts == 1) {
        if (auto installed = graph_->install(teams_user); installed) {
            log::info("feed: installed the Teams app for a Teams-primary user", {{"user_id", row.mm_user_id}});
            return store_->postpone(row.id, now_ms, error.message);
        } else {
            log::warn("feed: could not install the Teams app for a user",
                      {{"user_id", row.mm_user_id}, {"error", installed.error().message}});
        }
    }
    ++stats_->feed_failed;
    MSTEAMS_TRY(store_->finish(row.id, store::FeedState::failed, error.message, now_ms));
    MSTEAMS_TRY(store_->set_blocked(row.mm_user_id, true, error.message, now_ms));
    bool first = false;
    MSTEAMS_TRY_ASSIGN(first, store_->claim_telling(row.mm_user_id, now_ms));
    if (first) {
        ++stats_->feed_blocked;
        if (auto u = unmute(row.mm_user_id); !u) {
            log::warn("feed: could not restore a blocked user's Mattermost notifications",
                      {{"user_id", row.mm_user_id}, {"error", u.error().message}});
        }
        tell_blocked(row.mm_user_id);
    }
    return {};
}

void Feed::tell_blocked(MmUserId const& user) {
    log::warn("feed: Microsoft Teams refuses activity-feed notifications for a user; they were told",
              {{"user_id", user}});
    if (settings_.bot_user_id.empty()) {
        return;
    }
    auto channel = api_->get_direct_channel(settings_.bot_user_id, user);
    if (!channel) {
        log::warn("feed: could not open a DM to a blocked user",
                  {{"user_id", user}, {"error", channel.error().message}});
        return;
    }
    mm::Post post;
    post.user_id = settings_.bot_user_id;
    post.channel_id = channel->id;
    post.message =
        "Microsoft Teams is your primary platform, but Teams refused to show Mattermost's notifications in your Teams "
        "activity feed: the Mattermost app is not installed for you in Teams, or your organization has not allowed it "
        "yet.\n\nTo fix it, in Teams select **Apps**, search for **Mattermost** and select **Add**. If it is not "
        "listed, ask your Microsoft 365 administrator to allow the app for you.\n\nMeanwhile your Mattermost email "
        "and push notifications are back on, so you miss nothing.";
    if (auto p = api_->create_post(post); !p) {
        log::warn("feed: could not tell a blocked user", {{"user_id", user}, {"error", p.error().message}});
    }
}

Status Feed::mute(MmUserId const& user) {
    mm::User u;
    MSTEAMS_TRY_ASSIGN(u, api_->get_user(user));
    auto const email = u.notify_props.contains("email") ? u.notify_props.at("email") : k_default_email;
    auto const push = u.notify_props.contains("push") ? u.notify_props.at("push") : k_default_push;
    // Saved first: a crash between the two leaves the settings to restore known.
    MSTEAMS_TRY(store_->set_muted(user, email, push, now_ms()));
    u.notify_props = {{"email", "false"}, {"push", "none"}};
    MSTEAMS_TRY(api_->update_user(u));
    log::info("feed: muted a Teams-primary user's Mattermost email and push notifications", {{"user_id", user}});
    return {};
}

Status Feed::unmute(MmUserId const& user) {
    std::optional<store::FeedUser> saved;
    MSTEAMS_TRY_ASSIGN(saved, store_->take_muted(user, now_ms()));
    if (!saved) {
        return {};
    }
    mm::User u;
    MSTEAMS_TRY_ASSIGN(u, api_->get_user(user));
    u.notify_props = {{"email", saved->saved_email.empty() ? k_default_email : saved->saved_email},
                      {"push", saved->saved_push.empty() ? k_default_push : saved->saved_push}};
    if (auto updated = api_->update_user(u); !updated) {
        // Muted again in the record, so that the next change of primary restores them.
        (void)store_->set_muted(user, saved->saved_email, saved->saved_push, now_ms());
        return std::unexpected(updated.error());
    }
    log::info("feed: restored a user's Mattermost email and push notifications", {{"user_id", user}});
    return {};
}

Status Feed::primary_changed(MmUserId const& user, store::Platform primary) {
    if (primary == store::Platform::mattermost || !settings_.enabled) {
        return unmute(user);
    }
    std::optional<store::Account> account;
    MSTEAMS_TRY_ASSIGN(account, accounts_->by_mm_user(user));
    if (!account || !account->connected()) {
        return {};  // muted from their first notification on, once connected
    }
    MSTEAMS_TRY(mute(user));
    if (settings_.proactive_install) {
        if (auto s = graph_->install(account->teams_user_id); !s) {
            log::warn("feed: could not install the Teams app for a Teams-primary user",
                      {{"user_id", user}, {"error", s.error().message}});
        }
    }
    return {};
}

Result<bool> Feed::teams_primary(MmUserId const& user) {
    std::vector<store::UserChoice> choices;
    MSTEAMS_TRY_ASSIGN(choices, roster_->choices({user}));
    return primary_of(choices, user) == store::Platform::teams;
}

Result<std::int64_t> Feed::blocked_users() { return store_->blocked_count(); }

Result<bool> Feed::blocked(MmUserId const& user) {
    store::FeedUser state;
    MSTEAMS_TRY_ASSIGN(state, store_->user(user));
    return state.blocked;
}

Result<bool> choose_primary(store::Roster& roster, Audience& audience, Feed* feed, MmUserId const& user,
                            store::Platform platform) {
    MSTEAMS_TRY(roster.set_primary(user, platform, now_ms()));
    audience.forget(user);
    log::info("a user chose their primary platform",
              {{"user_id", user}, {"primary", std::string(store::text(platform))}});
    if (feed != nullptr) {
        if (auto s = feed->primary_changed(user, platform); !s) {
            log::warn("could not change a user's Mattermost notifications for their primary platform",
                      {{"user_id", user}, {"error", s.error().message}});
            return false;
        }
    }
    return true;
}

Status Feed::purge(std::chrono::hours keep) {
    std::int64_t removed = 0;
    MSTEAMS_TRY_ASSIGN(removed,
                       store_->purge(now_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(keep).count()));
    if (removed > 0) {
        log::debug("feed: forgot handled notifications", {{"rows", std::to_string(removed)}});
    }
    return {};
}

}  // namespace msteams::sync
