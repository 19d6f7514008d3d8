#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "graph/notification_tokens.hpp"
#include "metrics/counters.hpp"
#include "store/repositories.hpp"

// The receiving end of Microsoft Graph change and lifecycle notifications: validates every item (clientState in
// constant time, a subscription of ours, a resource we understand) and writes the batch to the inbox in one
// transaction, so that the answer goes back well inside Graph's 3-second budget and nothing is lost.
namespace msteams::sync {

// A Graph resource path such as chats('19:…')/messages('16…') or teams('…')/channels('…')/messages('…').
struct ResourceRef {
    store::PortalKind kind = store::PortalKind::chat;
    std::string team_id;
    TeamsThreadId thread_id;  // chat id or channel id
    TeamsMessageId message_id;
    TeamsMessageId reply_id;  // channel replies
};
[[nodiscard]] std::optional<ResourceRef> parse_resource(std::string_view resource);

struct Answer {
    int status = 202;
    std::string error_id;  // empty on success
    std::string message;
    int retry_after_seconds = 0;
};

inline constexpr std::size_t k_max_notifications_per_batch = 1000;

class Receiver {
public:
    // `on_enqueued` wakes the inbound workers; `on_lifecycle` wakes the subscription monitor. `tenant_id` is the
    // configured tenant: when it is a GUID, every item must carry it as its tenantId (any case); items without it
    // or for another tenant are refused and counted. A tenant configured by domain name has no GUID to compare.
    // `check_tokens` checks rich batches' validationTokens (graph::NotificationTokens::check); without it every rich
    // item is refused. A rich item kept with its content is not claimed before `rich_hold_ms` (the workers' order
    // hold, InboundSettings::rich_hold_ms).
    Receiver(store::Repositories repos, std::string webhook_secret, std::shared_ptr<metrics::Counters> stats,
             std::function<void()> on_enqueued, std::function<void()> on_lifecycle, std::string tenant_id = {},
             graph::TokenCheck check_tokens = {}, std::int64_t rich_hold_ms = 0);

    [[nodiscard]] Answer changes(std::string_view body);
    [[nodiscard]] Answer lifecycle(std::string_view body);

    // A group chat whose members were read longer ago than this is not taken as unbridged on their word.
    static constexpr std::int64_t k_chat_members_fresh_ms = 10 * 60 * 1000;

private:
    // An item checked like any notification (clientState, tenant, a subscription of ours, a resource); nullopt when
    // refused (counted).
    [[nodiscard]] std::optional<store::InboxItem> accept(nlohmann::json const& item, std::int64_t now);
    enum class Bridged { yes, no, unknown };
    struct RichBatch {
        std::vector<std::string> tokens;             // the batch's validationTokens
        std::optional<graph::TokenRefusal> checked;  // once, at the first rich item
        std::map<TeamsUserId, bool> connected;       // each member asked about once
        std::map<TeamsThreadId, Bridged> chats;      // each chat looked up once
    };
    enum class Rich { keep, drop, retry };
    // A rich item: kept (with its content when its chat is bridged), dropped (forged batch, unbridged chat: counted,
    // nothing stored), or the batch is to be sent again (the keys could not be read).
    [[nodiscard]] Rich take_rich(nlohmann::json const& item, RichBatch& batch, store::InboxItem& accepted);
    // Whether a rich item's chat has a connected member, from what the database knows (no Graph request: the
    // answer to Graph waits on it). `connected` caches the batch's answers by Teams user.
    [[nodiscard]] Bridged bridged(TeamsThreadId const& chat_id, std::map<TeamsUserId, bool>& connected);
    [[nodiscard]] bool known_subscription(SubscriptionId const& id);
    [[nodiscard]] bool our_tenant(std::string const& tenant_id) const;

    store::Repositories repos_;
    std::string webhook_secret_;
    std::shared_ptr<metrics::Counters> stats_;
    std::function<void()> on_enqueued_;
    std::function<void()> on_lifecycle_;
    std::string tenant_id_;  // a GUID, or empty: not checked
    graph::TokenCheck check_tokens_;
    std::int64_t rich_hold_ms_ = 0;
    std::mutex mutex_;
    std::set<SubscriptionId> known_;
};

}  // namespace msteams::sync
