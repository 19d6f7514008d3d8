#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/result.hpp"
#include "graph/client.hpp"
#include "graph/entra.hpp"
#include "metrics/counters.hpp"
#include "mm/api.hpp"
#include "store/repositories.hpp"
#include "sync/post_clock.hpp"
#include "sync/audience.hpp"
#include "sync/certificates.hpp"
#include "sync/inbound_plan.hpp"
#include "sync/logins.hpp"
#include "sync/people.hpp"
#include "sync/workers.hpp"

// Teams → Mattermost. Workers take inbox items thread by thread (one worker per chat at a time, in arrival
// order), decide from what is already known whether the chat has a connected member (no Graph request otherwise),
// read the chat's changes with a connected member's token, and reconcile each message with its Mattermost post:
// create, edit, delete, reactions, files. Items are claimed with a lease and no transaction stays open across a
// network call: the message map (with the pending marker and the post prop) is what makes this exactly once. A
// message that keeps failing is set aside as a dead letter and the chat goes on.
namespace msteams::sync {

enum class InboundMode { mirror, notifications, off };

struct InboundSettings {
    InboundMode mode = InboundMode::mirror;
    MmUserId bot_user_id;
    std::int64_t max_file_size = 20LL << 20;  // to Mattermost
    // The Teams web client of the configured cloud, for links that open a message in Teams (no trailing slash).
    std::string teams_web_url = "https://teams.microsoft.com";
    int workers = 4;
    // A group chat's membership is read again after this long.
    std::int64_t chat_info_ttl_ms = 10 * 60 * 1000;
    // Reading a chat forward from its cursor starts this much earlier (clock skew between Graph's servers).
    std::int64_t cursor_overlap_ms = 5'000;
    // A chat's first notified messages are read with what was written this long before them: Graph keeps no order
    // between notifications, so the first one heard need not be the first one written.
    std::int64_t first_read_window_ms = 60'000;
    std::size_t max_messages_per_read = 1000;
    // The keys of rich notifications; null: an item's encrypted content is never opened (it is read from Graph).
    std::shared_ptr<Certificates> certificates;
    // Graph keeps no order between notifications, and a rich message is applied without reading the chat: a chat's
    // rich items are applied once the oldest has waited this long, together with every item that came meanwhile, in
    // the order the messages were written.
    std::int64_t rich_hold_ms = 1000;
    // per-user and hybrid: whether one of these connected members of a chat holds a rich subscription of their own.
    // A basic notification of such a chat waits rich_hold_ms for the rich one that carries the message (no read);
    // what did not come by then is read. Empty: never.
    std::function<bool(std::vector<TeamsUserId> const&)> rich_covered;
    // per-user and hybrid: each applied message adds to its chat's connected members' activity (msteams_activity),
    // halved every this long; 0: activity is not kept.
    std::int64_t activity_half_life_ms = 0;
    // Mirror mode: selective sync and each user's notifications-only choice decide, chat by chat, whether it is
    // mirrored, notified to some members (those at Teams right now are skipped), or left alone. Null: every chat with
    // a connected member is mirrored.
    std::shared_ptr<Audience> audience{};
};

class Inbound {
public:
    Inbound(InboundSettings settings, std::shared_ptr<mm::Api> api, store::Repositories repos,
            std::shared_ptr<Connections> logins, std::shared_ptr<graph::ChatApi> graph,
            std::shared_ptr<graph::AppTokens> entra, std::shared_ptr<People> people,
            std::shared_ptr<metrics::Counters> stats);
    ~Inbound();

    void start();
    void stop();
    // New inbox items are there.
    void wake();
    // Takes one thread's ready items and applies them; false when there was nothing to do.
    [[nodiscard]] Result<bool> run_once();

    // Queues a catch-up read of every chat portal and linked channel (after downtime or a `missed`).
    [[nodiscard]] Status schedule_catch_up(std::string const& reason);
    // Queues a read forward of the chats active in the last day (notifications Graph lost without a word).
    [[nodiscard]] Status schedule_reconcile();

private:
    struct Work;
    // hold: rich items younger than rich_hold_ms wait for the notifications of earlier messages delivered alongside.
    enum class Outcome { done, wait_for_sender, hold };
    // The messages rich items carry, opened (the newest version of each); `dropped`: the messages whose every item
    // was refused (counted; nothing of them is applied). An error only when a key could not be read now.
    // Selective sync and notifications-only users (Audience): false when the chat is not bridged (counted); else
    // `work` learns whether its users are only told.
    [[nodiscard]] Result<bool> take_audience(Work& work, std::vector<TeamsUserId> const& members, std::size_t items);
    [[nodiscard]] Status open_rich(std::vector<store::InboxItem> const& items,
                                   std::map<TeamsMessageId, graph::ChatMessage>& heard,
                                   std::set<TeamsMessageId>& dropped);
    // Applies the messages rich notifications carried, oldest first, without reading the chat. The cursor (where
    // reading stopped) stays; the chat is marked heard, so the periodic read forward still finds what Graph lost.
    [[nodiscard]] Result<Outcome> apply_heard(store::Tx& tx, Work& work, std::vector<TeamsUserId> const& members,
                                              std::optional<store::Portal>& portal,
                                              std::vector<TeamsMessageId> const& wanted,
                                              std::map<TeamsMessageId, graph::ChatMessage>& heard, int attempts);
    // Reads the chat forward from its cursor, oldest first, in bounded chunks (see read_forward_from), else the
    // notified messages one by one, and applies what was read (with what rich notifications carried).
    [[nodiscard]] Result<Outcome> read_and_apply(store::Tx& tx, Work& work, std::vector<TeamsUserId> const& members,
                                                 std::optional<store::Portal>& portal, ReadPlan& plan,
                                                 std::map<TeamsMessageId, graph::ChatMessage>& heard,
                                                 std::int64_t echoed_to, int attempts);
    // Applies one chat's claimed items; `attempts` is how often they were claimed (this time included).
    [[nodiscard]] Result<Outcome> process(std::vector<store::InboxItem> const& items, int attempts);
    // The same for a linked channel's items.
    [[nodiscard]] Result<Outcome> process_channel(std::vector<store::InboxItem> const& items,
                                                  store::Portal const& portal, int attempts);
    // The Mattermost thread a channel reply goes into: its root's post (or that post's own root); empty when the
    // root was never posted here or is gone.
    [[nodiscard]] Result<MmPostId> root_post(store::Tx& tx, store::Portal const& portal, TeamsMessageId const& root);
    // Reconciles messages in order; one that keeps failing (after `attempts`) is set aside as a dead letter.
    // Adds the messages applied to the activity of the chat's connected members (the planner's ranking).
    void credit(Work const& work, std::vector<graph::ChatMessage> const& messages);
    [[nodiscard]] Status apply(store::Tx& tx, Work& work, TeamsThreadId const& chat_id,
                               std::vector<TeamsUserId> const& members, std::optional<store::Portal>& portal,
                               std::vector<graph::ChatMessage> const& messages, int attempts);
    // Drops from `plan` the created notifications the message map answers; returns until when the bridge's own
    // messages came back.
    [[nodiscard]] Result<std::int64_t> skip_known(store::Tx& tx, TeamsThreadId const& chat_id, ReadPlan& plan);
    // The chat's connected members, whose tokens may read it (none: the chat is not bridged).
    [[nodiscard]] Result<Work> readers(TeamsThreadId const& chat_id, std::vector<TeamsUserId> const& members);
    // Reads the next chunk of changes after `after`, oldest first, into `messages` and drops them from `wanted`;
    // true when more changes remain.
    [[nodiscard]] Result<bool> read_chunk(Work& work, std::int64_t after, std::vector<TeamsMessageId>& wanted,
                                          std::vector<graph::ChatMessage>& messages);
    // Reads these messages of the chat one by one (a message Teams no longer has is skipped).
    [[nodiscard]] Status read_each(Work& work, std::vector<TeamsMessageId> const& ids,
                                   std::vector<graph::ChatMessage>& messages);
    // False when what was read may be missing the bridge's own latest writes to the chat (read again later).
    [[nodiscard]] Result<bool> read_is_current(store::Tx& tx, TeamsThreadId const& chat_id, std::int64_t version,
                                               std::vector<graph::ChatMessage> const& messages);
    [[nodiscard]] Result<std::vector<TeamsUserId>> chat_members(TeamsThreadId const& chat_id, bool refresh);
    [[nodiscard]] Result<store::Portal> ensure_portal(TeamsThreadId const& chat_id,
                                                      std::vector<TeamsUserId> const& members);
    [[nodiscard]] Status reconcile(store::Tx& tx, Work& work, store::Portal const& portal,
                                   graph::ChatMessage const& message);
    // The post made for `message_id` before a crash (marked pending, created, not yet linked): empty if none.
    [[nodiscard]] Result<MmPostId> find_pending_post(store::Portal const& portal, store::MessageLink const& link,
                                                     TeamsMessageId const& message_id);
    // Posts a Teams message in Mattermost, as its author (the bot for guests and apps), in the thread of the
    // message it quotes; marked pending first. Returns the post id.
    [[nodiscard]] Result<MmPostId> create_post(store::Tx& tx, Work& work, store::Portal const& portal,
                                               graph::ChatMessage const& message);
    [[nodiscard]] Status reconcile_reactions(store::Tx& tx, MmPostId const& post_id, graph::ChatMessage const& message);
    [[nodiscard]] Status notify(store::Tx& tx, Work& work, graph::ChatMessage const& message,
                                std::set<TeamsUserId> const& at_teams);
    [[nodiscard]] Status notify(store::Tx& tx, Work& work, std::vector<graph::ChatMessage> const& messages);
    [[nodiscard]] Result<std::string> render(Work& work, graph::ChatMessage const& message, MmUserId const& author,
                                             MmChannelId const& channel_id, std::vector<std::string>& file_ids);

    InboundSettings settings_;
    std::shared_ptr<mm::Api> api_;
    store::Repositories repos_;
    std::shared_ptr<Connections> logins_;
    std::shared_ptr<graph::ChatApi> graph_;
    std::shared_ptr<graph::AppTokens> entra_;
    std::shared_ptr<People> people_;
    std::shared_ptr<metrics::Counters> stats_;
    PostClock post_clock_;

    Workers workers_;
};

}  // namespace msteams::sync
