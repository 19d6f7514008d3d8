#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "graph/client.hpp"
#include "metrics/counters.hpp"
#include "mm/api.hpp"
#include "store/repositories.hpp"
#include "sync/audience.hpp"
#include "sync/logins.hpp"
#include "sync/people.hpp"
#include "sync/workers.hpp"

// Mattermost → Teams. Hooks put posts, edits, deletes and reactions of DMs, GMs and linked channels (thread replies
// become Teams replies) into the durable outbox (so a
// restart of the core or of the database loses nothing); one sender per channel drains it in order, as the
// author, within Graph's limits (the Graph client waits its turn per chat and per tenant and retries 429s).
// No transaction stays open across a Graph request: an item is claimed with a lease, each write to a Teams chat is
// announced before it starts (the inbound side waits for it), and what it sent is recorded, with the item's removal,
// in one short transaction at its end (so the echo from Graph ends in the message map).
namespace msteams::sync {

struct OutboundSettings {
    bool enabled = true;  // chat sync mirrors
    MmUserId bot_user_id;
    std::int64_t max_file_size = 20LL << 20;  // to Teams
    int workers = 2;
    // The wall clock (Unix ms); tests move it.
    std::function<std::int64_t()> clock_ms;
    // Selective sync and notifications-only choices: a DM or GM is sent to Teams only when its chat is mirrored
    // (the author is told why not). Null: every DM or GM of people in Teams is.
    std::shared_ptr<Audience> audience{};
    // Linked channels: Graph takes at most this many messages a day from the app in one channel (3,000); the
    // channel's posts wait past it, in order, and the channel is told. 0: not counted.
    std::int64_t channel_daily_limit = 3000;
};

// A hook event as the outbox needs it.
struct OutboundEvent {
    enum class Kind { posted, edited, deleted, reacted, unreacted };
    Kind kind = Kind::posted;
    mm::Post post;      // posted, edited (the new post), deleted
    mm::Post old_post;  // edited
    mm::Reaction reaction;
};

// The outbox item for a hook event, before its channel is known to be a DM or GM; nullopt for what never goes to
// Teams: system posts, the bot's, what the bridge itself posted, changes that are not edits. Pure. Items are sent
// in `sort_at` order (when it happened in Mattermost; `now` when the event carries no time).
[[nodiscard]] std::optional<store::OutboxItem> outbox_item_for(OutboundEvent const& event, std::int64_t now,
                                                               MmUserId const& bot_user_id);

class Outbound {
public:
    Outbound(OutboundSettings settings, std::shared_ptr<mm::Api> api, store::Repositories repos,
             std::shared_ptr<Connections> logins, std::shared_ptr<graph::ChatApi> graph,
             std::shared_ptr<metrics::Counters> stats, std::shared_ptr<People> people);
    ~Outbound();

    void start();
    // Stops the senders, and a recovery (recover_since) at its next channel.
    void stop();

    // Adds the events that may concern Teams to the outbox (durably) and wakes the senders. Events of channels other
    // than DMs and GMs, system posts and the bridge's own posts are left out here, without any database work.
    [[nodiscard]] Status enqueue(std::vector<OutboundEvent> const& events);

    // Sends the oldest ready item of one channel; false when there was nothing to do.
    [[nodiscard]] Result<bool> run_once();

    // For a node that died without stopping (its server killed): the posts Mattermost saved there whose hooks may
    // never have reached the bridge. Queues, as their hooks would have, the posts of every bridged chat (while chat
    // sync mirrors) and linked channel (since its link) written since
    // `since_ms` (Unix ms) that the bridge would send and was neither given nor has sent, at most a few hundred per
    // channel. Posts younger than a hook's usual delay are left to their hooks.
    [[nodiscard]] Status recover_since(std::int64_t since_ms);
    // Forgets the event keys given more than an hour ago (a periodic job): a hook that late is queued again.
    [[nodiscard]] Status forget_seen_events();

private:
    struct Target;
    class Lease;
    [[nodiscard]] Result<bool> is_direct_or_group(MmChannelId const& channel_id);
    // Whether the channel's events go to Teams: a DM or GM while chat sync mirrors, a linked channel always.
    [[nodiscard]] Result<bool> bridged_channel(MmChannelId const& channel_id);
    // How Graph addresses a bridged thread: the chat, or the linked channel with its team.
    [[nodiscard]] Result<graph::Thread> thread_of(TeamsThreadId const& thread_id);
    // A post of a linked channel that reached Graph's daily messages: until when it waits (Unix ms); 0: it goes now.
    [[nodiscard]] Result<std::int64_t> channel_cap_hold(store::OutboxItem const& item);
    // Who changes a message the bridge sent (edits, deletes): its author, or in a linked channel the relay for an
    // author who is not connected; nullopt (the author told) when nobody can.
    struct Writer {
        graph::Thread thread;
        std::string token;
        std::optional<TeamsUserId> author;  // whose account writes: the author's, or the relay's
        bool relay = false;
    };
    [[nodiscard]] Result<std::optional<Writer>> writer_for(store::OutboxItem const& item,
                                                           store::MessageLink const& link, char const* what);
    // A channel change Graph refused for a missing permission: the author is told (true); anything else: false.
    bool scope_missing(Error const& e, store::OutboxItem const& item, Writer const& w, char const* what);
    [[nodiscard]] Result<std::optional<Target>> channel_target(store::OutboxItem const& item,
                                                               store::Portal const& portal);
    // A DM's or GM's chat (found or created), and who posts.
    [[nodiscard]] Result<std::optional<Target>> chat_target(store::OutboxItem const& item);
    // True when the item's post must wait for a post of its channel written before it (within k_lookback_ms) that the
    // bridge would send but has not sent: one whose hook may still be on its way, one queued since the item was
    // claimed, or one whose hook was lost (queued now, as its hook would have: it goes first).
    [[nodiscard]] Result<bool> earlier_post_in_flight(store::OutboxItem const& item);
    // Of these posts of one channel, the outbox items of those the bridge would send (as their hooks would have made
    // them) that it has neither sent nor been given, oldest first; and whether one it was given is still queued.
    struct Unsent {
        std::vector<store::OutboxItem> never_given;
        bool queued = false;
    };
    [[nodiscard]] Result<Unsent> unsent(std::vector<mm::Post> const& posts);
    // recover_since for one bridged chat or linked channel; returns how many posts were queued.
    [[nodiscard]] Result<std::int64_t> recover_channel(store::Portal const& portal, std::int64_t since_ms,
                                                       std::int64_t settled);
    // Queues posts whose hooks were lost, one by one (a hook arriving meanwhile wins, once); returns how many.
    [[nodiscard]] Result<std::int64_t> recover(std::vector<store::OutboxItem> const& items);
    [[nodiscard]] Status process(Lease& lease, store::OutboxItem const& item);
    [[nodiscard]] Result<std::optional<Target>> target(store::OutboxItem const& item);
    // The Teams chat of exactly these members (sorted Teams user ids), found or created with `token`.
    [[nodiscard]] Result<TeamsThreadId> chat_with(std::string const& token,
                                                  std::vector<TeamsUserId> const& teams_members);
    [[nodiscard]] Result<std::optional<TeamsUserId>> teams_id_for(MmUserId const& mm_user_id);
    [[nodiscard]] Status send_post(Lease& lease, store::OutboxItem const& item);
    // A post's files, those over the size limit apart (none for a relayed post).
    struct OutgoingFiles {
        std::vector<mm::FileInfo> files;
        std::vector<std::string> skipped;
    };
    [[nodiscard]] Result<OutgoingFiles> files_of(nlohmann::json const& payload, bool relay);
    // The Teams message for a post: converted Markdown, mentions, the relay's byline, a quoted thread root.
    [[nodiscard]] Result<graph::NewMessage> outgoing(nlohmann::json const& payload, store::OutboxItem const& item,
                                                     Target const& target);
    // The message an earlier try of this item sent (recognised by its sender, text and file names), if any.
    [[nodiscard]] Result<std::optional<graph::ChatMessage>> sent_before(store::Tx& tx, Target const& target,
                                                                        store::OutboxItem const& item,
                                                                        std::int64_t pending_since,
                                                                        std::string const& html,
                                                                        std::vector<mm::FileInfo> const& files);
    // Uploads the files to the author's OneDrive and attaches them to `out`.
    [[nodiscard]] Status attach_files(Target const& target, std::vector<mm::FileInfo> const& files,
                                      graph::NewMessage& out);
    [[nodiscard]] Status send_edit(Lease& lease, store::OutboxItem const& item);
    [[nodiscard]] Status send_delete(Lease& lease, store::OutboxItem const& item);
    [[nodiscard]] Status send_reaction(Lease& lease, store::OutboxItem const& item, bool add);
    void tell(MmUserId const& user_id, MmChannelId const& channel_id, std::string const& message);
    [[nodiscard]] std::int64_t clock() const { return settings_.clock_ms ? settings_.clock_ms() : now_ms(); }

    OutboundSettings settings_;
    std::shared_ptr<mm::Api> api_;
    store::Repositories repos_;
    std::shared_ptr<Connections> logins_;
    std::shared_ptr<graph::ChatApi> graph_;
    std::shared_ptr<metrics::Counters> stats_;
    std::shared_ptr<People> people_;
    std::mutex cache_mutex_;
    std::unordered_map<MmChannelId, bool> channel_kinds_;  // channel id → DM or GM (types never change)
    std::atomic<bool> stopping_{false};
    Workers workers_;
};

}  // namespace msteams::sync
