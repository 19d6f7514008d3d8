#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/ids.hpp"
#include "common/result.hpp"
#include "graph/client.hpp"
#include "metrics/counters.hpp"
#include "mm/api.hpp"
#include "store/accounts.hpp"
#include "store/feed.hpp"
#include "store/roster.hpp"
#include "sync/audience.hpp"
#include "sync/workers.hpp"

// Teams activity-feed notifications for Teams-primary users (issue #15). What Mattermost would notify such a user of
// (a mention, a direct or group message, a reply in a thread they follow, @channel and @all where they do not
// ignore them) goes to their Teams activity feed instead, and their Mattermost email and push notifications are
// muted while Teams is their primary platform. A thread's followers are Mattermost's: its starter, everyone who
// replied in it and everyone @-mentioned in it (a user whose desktop_threads setting is "mention" only is notified of
// replies that mention them).
//
// A posted message is queued once, durably, before the hook is acknowledged; a worker works out its recipients
// (one row each, unique per post and recipient) and holds each row `hold` after the post: a recipient who viewed the
// channel since, or is online in Mattermost (the Teams tab is Mattermost), is not notified. Sends are paced by the
// Graph client's feed budgets and carry a chain id derived from the post, so that a send repeated after a crash (the
// rows' lease ran out before they were marked sent) replaces the first in the user's feed instead of adding a
// second. The rows of one post and kind go out together in one bulk request (sendActivityNotificationToRecipients,
// up to 100 users, 2 requests per second) to the recipients Microsoft accepted a notification for on their own
// lately; the others, and the rows of a bulk request Microsoft refused, are sent one by one (5 per second).
// Microsoft's 403 for one user (the app not installed for them, or no consent) blocks the user: they are told once
// what to do, their Mattermost notifications are restored meanwhile, and /msteams status counts them for admins.
namespace msteams::sync {

// The activity types the Teams app's manifest declares (activities.activityTypes), one per kind of notification:
// the one list the bridge and the app package follow. {author} and {channel} are the bridge's template parameters.
struct ActivityType {
    store::FeedKind kind;
    std::string_view type;
    std::string_view description;
    std::string_view template_text;
};
inline constexpr std::array<ActivityType, 5> k_activity_types{{
    {store::FeedKind::mention, "mention", "You were mentioned in Mattermost", "{author} mentioned you in {channel}"},
    {store::FeedKind::channel_mention, "channelMention", "Everyone in a Mattermost channel was notified",
     "{author} notified everyone in {channel}"},
    {store::FeedKind::direct_message, "directMessage", "A direct message in Mattermost", "{author} sent you a message"},
    {store::FeedKind::group_message, "groupMessage", "A group message in Mattermost", "{author} wrote in {channel}"},
    {store::FeedKind::thread_reply, "threadReply", "A reply in a Mattermost thread you follow",
     "{author} replied in {channel}"},
}};

// The template parameters an activity type's template text names, in order.
[[nodiscard]] std::vector<std::string> template_parameters(std::string_view template_text);

// The deep link into the Teams app's tab that opens the post: Teams' entity link with the post id as subEntityId.
[[nodiscard]] std::string feed_deep_link(std::string_view teams_web_url, std::string_view teams_app_id,
                                         std::string_view entity_id, MmPostId const& post_id);
// The chain id of a post's notification (positive, below 2^53): a repeat replaces instead of adding.
[[nodiscard]] std::int64_t feed_chain_id(MmPostId const& post_id);
// previewText: the message's first characters (Teams shows 150), whitespace folded; never empty.
[[nodiscard]] std::string feed_preview(std::string_view message);
// The @-mentions of a message, lower case, without the @, each once, at most `max` (Mattermost's username syntax).
[[nodiscard]] std::vector<std::string> mention_names(std::string_view message, std::size_t max);

struct FeedSettings {
    bool enabled = false;  // Teams-primary users get feed notifications
    MmUserId bot_user_id;
    std::string teams_app_id;  // the Teams app's manifest id: its deep links, the catalog app to install
    std::string teams_web_url = "https://teams.microsoft.com";
    std::string tab_entity_id = "mattermost";                       // the static tab's entityId in the manifest
    store::Platform default_primary = store::Platform::mattermost;  // for connected users who never chose
    bool proactive_install = false;  // install the app for Teams-primary users (and retry once on a 403)
    std::chrono::milliseconds hold{15'000};
    std::size_t max_channel_members = 1000;  // @channel and @all in larger channels notify no one here
    std::size_t max_mentions = 50;
    std::size_t max_thread_mentions = 100;  // distinct @-names of a thread looked up for its followers
    // Bulk requests: at most this many recipients each (1: every notification on its own). A recipient goes in one
    // only while Microsoft accepted a notification for them alone within `bulk_recheck`: a bulk request skips a user
    // Teams will not notify without a word, so a user whose app was removed is found out within this time.
    std::size_t bulk_max = graph::k_max_activity_recipients;
    std::chrono::milliseconds bulk_recheck{std::chrono::hours(24)};
    int max_attempts = 8;
    // A claimed row is the worker's this long: a core killed mid-send has its rows sent again this long after (the
    // chain id makes a repeat replace the first). Longer than a send normally takes (a budget turn, one request).
    std::chrono::milliseconds lease{15'000};
    std::chrono::milliseconds poll{1'000};
    int workers = 2;
};

// What the feed asks of Microsoft Graph (with the app's token); faked in unit tests.
class FeedGraph {
public:
    virtual ~FeedGraph() = default;
    [[nodiscard]] virtual Status send(TeamsUserId const& user, graph::ActivityNotification const& notification) = 0;
    // The same notification to several users in one request; Microsoft skips those it will not notify, silently.
    [[nodiscard]] virtual Status send_bulk(std::vector<TeamsUserId> const& users,
                                           graph::ActivityNotification const& notification) = 0;
    [[nodiscard]] virtual Status install(TeamsUserId const& user) = 0;
};

class Feed {
public:
    Feed(FeedSettings settings, std::shared_ptr<mm::Api> api, std::shared_ptr<store::FeedStore> store,
         std::shared_ptr<store::Roster> roster, std::shared_ptr<store::Accounts> accounts,
         std::shared_ptr<FeedGraph> graph, std::shared_ptr<metrics::Counters> stats);
    ~Feed();
    Feed(Feed const&) = delete;
    Feed& operator=(Feed const&) = delete;

    [[nodiscard]] bool enabled() const noexcept { return settings_.enabled; }
    // From MessageHasBeenPosted, before the hook is acknowledged: one row per post.
    [[nodiscard]] Status enqueue(std::vector<mm::Post> const& posts);
    // Handles the row due first at `now_ms`: a post's recipients worked out, or one recipient's notification, or
    // one notification to several recipients of it. False when nothing is due.
    [[nodiscard]] Result<bool> step(std::int64_t now_ms);
    void start();
    void stop();

    // The user's primary platform is now `primary` (or they disconnected: mattermost): mutes their Mattermost email
    // and push notifications (keeping their settings), or restores them; installs the Teams app when allowed.
    [[nodiscard]] Status primary_changed(MmUserId const& user, store::Platform primary);
    // Whether the user reads Mattermost's notifications in Teams (connected or not).
    [[nodiscard]] Result<bool> teams_primary(MmUserId const& user);
    // Users Microsoft refuses to notify (/msteams status).
    [[nodiscard]] Result<std::int64_t> blocked_users();
    // Whether Microsoft refuses to notify the user (the app is not installed for them, or no consent).
    [[nodiscard]] Result<bool> blocked(MmUserId const& user);
    // Forgets handled rows older than `keep`.
    [[nodiscard]] Status purge(std::chrono::hours keep);

    struct Recipient {
        MmUserId user;
        store::FeedKind kind;
    };

private:
    [[nodiscard]] Status expand(store::FeedItem const& row, std::int64_t now_ms);
    [[nodiscard]] Result<std::vector<Recipient>> recipients(mm::Post const& post, mm::Channel const& channel);
    [[nodiscard]] Status add_members(MmChannelId const& channel, store::FeedKind kind, std::vector<Recipient>& out);
    [[nodiscard]] Status add_mentions(mm::Post const& post, mm::Channel const& channel, std::vector<Recipient>& out);
    [[nodiscard]] Status add_followers(mm::Post const& post, std::vector<Recipient>& out);
    [[nodiscard]] Result<std::vector<MmUserId>> thread_followers(mm::Post const& post);
    [[nodiscard]] Result<bool> wants_thread_replies(MmUserId const& user);
    // The user's primary platform among `choices` (read from the roster), the admins' default when they never chose.
    [[nodiscard]] store::Platform primary_of(std::vector<store::UserChoice> const& choices, MmUserId const& user) const;
    [[nodiscard]] Result<std::vector<store::FeedItem>> rows_for(store::FeedItem const& row, mm::Post const& post,
                                                                mm::Channel const& channel,
                                                                std::vector<Recipient> const& recipients);
    [[nodiscard]] Status retry_later(store::FeedItem const& row, Error const& error, std::int64_t now_ms);
    [[nodiscard]] Status deliver(store::FeedItem const& row, std::int64_t now_ms);
    [[nodiscard]] Status send_one(store::FeedItem const& row, nlohmann::json const& payload, std::int64_t now_ms);
    [[nodiscard]] Status deliver_bulk(std::vector<store::FeedItem> const& rows, std::int64_t now_ms);
    [[nodiscard]] Status send_bulk(std::vector<store::FeedItem> const& rows, std::vector<TeamsUserId> const& to,
                                   nlohmann::json const& payload, std::int64_t now_ms);
    void mute_if_not(std::vector<MmUserId> const& users);
    [[nodiscard]] Result<std::optional<std::string>> why_not(store::FeedItem const& row, MmChannelId const& channel);
    [[nodiscard]] Status refused(store::FeedItem const& row, TeamsUserId const& teams_user, Error const& error,
                                 std::int64_t now_ms);
    void tell_blocked(MmUserId const& user);
    [[nodiscard]] Status mute(MmUserId const& user);
    [[nodiscard]] Status unmute(MmUserId const& user);

    FeedSettings settings_;
    std::shared_ptr<mm::Api> api_;
    std::shared_ptr<store::FeedStore> store_;
    std::shared_ptr<store::Roster> roster_;
    std::shared_ptr<store::Accounts> accounts_;
    std::shared_ptr<FeedGraph> graph_;
    std::shared_ptr<metrics::Counters> stats_;
    std::unique_ptr<Workers> workers_;
};

// Records a user's choice of primary platform and applies it: selective sync reads their part again, and their
// Mattermost email and push notifications are muted or restored (`feed` may be null). False when the choice was
// recorded but their notification settings could not be changed (logged; the caller tells them).
[[nodiscard]] Result<bool> choose_primary(store::Roster& roster, Audience& audience, Feed* feed, MmUserId const& user,
                                          store::Platform platform);

}  // namespace msteams::sync
