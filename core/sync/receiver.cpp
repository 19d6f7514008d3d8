#include "sync/receiver.hpp"

#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/json_depth.hpp"
#include "common/log.hpp"
#include "common/strings.hpp"
#include "graph/client.hpp"
#include "graph/entra.hpp"
#include "sync/inbound_plan.hpp"

namespace msteams::sync {
namespace {

using nlohmann::json;

std::string text(json const& obj, char const* key) {
    auto const it = obj.find(key);
    return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// One "name('value')" or "name/value" step of a resource path.
struct Step {
    std::string name;
    std::string value;
};

std::optional<std::vector<Step>> steps(std::string_view path) {
    std::vector<Step> out;
    if (!path.empty() && path.front() == '/') {
        path.remove_prefix(1);
    }
    while (!path.empty()) {
        auto const open = path.find("('");
        auto const slash = path.find('/');
        Step s;
        if (open != std::string_view::npos && (slash == std::string_view::npos || open < slash)) {
            s.name = path.substr(0, open);
            auto const close = path.find("')", open + 2);
            if (close == std::string_view::npos) {
                return std::nullopt;
            }
            s.value = path.substr(open + 2, close - open - 2);
            path.remove_prefix(close + 2);
            if (!path.empty()) {
                if (path.front() != '/') {
                    return std::nullopt;
                }
                path.remove_prefix(1);
            }
        } else {
            s.name = path.substr(0, slash);
            path.remove_prefix(slash == std::string_view::npos ? path.size() : slash + 1);
            auto const next = path.find('/');
            s.value = path.substr(0, next);
            path.remove_prefix(next == std::string_view::npos ? path.size() : next + 1);
        }
        if (s.name.empty() || s.value.empty() || s.value.size() > 512) {
            return std::nullopt;
        }
        out.push_back(std::move(s));
    }
    return out;
}

}  // namespace

std::optional<ResourceRef> parse_resource(std::string_view resource) {
    if (resource.size() > 2048) {
        return std::nullopt;
    }
    auto const s = steps(resource);
    if (!s) {
        return std::nullopt;
    }
    auto const& v = *s;
    ResourceRef r;
    std::optional<TeamsThreadId> thread;
    std::optional<TeamsMessageId> message;
    if (v.size() == 2 && v[0].name == "chats" && v[1].name == "messages") {
        r.kind = store::PortalKind::chat;
        thread = TeamsThreadId::parse(v[0].value);
        message = TeamsMessageId::parse(v[1].value);
    } else if ((v.size() == 3 || v.size() == 4) && v[0].name == "teams" && v[1].name == "channels" &&
               v[2].name == "messages" && (v.size() == 3 || v[3].name == "replies")) {
        r.kind = store::PortalKind::channel;
        r.team_id = v[0].value;
        thread = TeamsThreadId::parse(v[1].value);
        message = TeamsMessageId::parse(v[2].value);
        if (v.size() == 4) {
            auto reply = TeamsMessageId::parse(v[3].value);
            if (!reply) {
                return std::nullopt;
            }
            r.reply_id = *std::move(reply);
        }
    }
    if (!thread || !message) {
        return std::nullopt;
    }
    r.thread_id = *std::move(thread);
    r.message_id = *std::move(message);
    return r;
}

Receiver::Receiver(store::Repositories repos, std::string webhook_secret, std::shared_ptr<metrics::Counters> stats,
                   std::function<void()> on_enqueued, std::function<void()> on_lifecycle, std::string tenant_id,
                   graph::TokenCheck check_tokens, std::int64_t rich_hold_ms)
    : repos_(std::move(repos)),
      webhook_secret_(std::move(webhook_secret)),
      stats_(std::move(stats)),
      on_enqueued_(std::move(on_enqueued)),
      on_lifecycle_(std::move(on_lifecycle)),
      tenant_id_(strings::is_guid(tenant_id) ? std::move(tenant_id) : std::string()),
      check_tokens_(std::move(check_tokens)),
      rich_hold_ms_(rich_hold_ms) {}

bool Receiver::our_tenant(std::string const& tenant_id) const {
    return tenant_id_.empty() || strings::iequals(tenant_id, tenant_id_);
}

bool Receiver::known_subscription(SubscriptionId const& id) {
    {
        std::lock_guard lock(mutex_);
        if (known_.contains(id)) {
            return true;
        }
    }
    auto const known = repos_.subscriptions->known(id);
    if (known && *known) {
        std::lock_guard lock(mutex_);
        if (known_.size() > 10'000) {
            known_.clear();
        }
        known_.insert(id);
        return true;
    }
    return false;
}

namespace {

std::optional<json> notification_items(std::string_view body, metrics::Counters& stats, Answer& refusal,
                                       std::vector<std::string>* tokens = nullptr) {
    // nlohmann parses recursively: a body of nested brackets from anyone who finds the URL must not reach it.
    if (!json_limits::nesting_within(body, json_limits::k_max_json_depth)) {
        ++stats.notification_batches_refused;
        refusal = Answer{400, "bad_notification", "The body is not a change notification collection.", 0};
        return std::nullopt;
    }
    auto parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("value") || !parsed["value"].is_array()) {
        ++stats.notification_batches_refused;
        refusal = Answer{400, "bad_notification", "The body is not a change notification collection.", 0};
        return std::nullopt;
    }
    if (parsed["value"].size() > k_max_notifications_per_batch) {
        ++stats.notification_batches_refused;
        refusal = Answer{413, "too_many_notifications", "The batch has too many notifications.", 0};
        return std::nullopt;
    }
    if (tokens != nullptr) {
        if (auto const it = parsed.find("validationTokens"); it != parsed.end() && it->is_array()) {
            for (auto const& t : *it) {
                if (t.is_string() && tokens->size() < 16) {
                    tokens->push_back(t.get<std::string>());
                }
            }
        }
    }
    return std::move(parsed["value"]);
}

// A rich item's encryptedContent, kept as it arrived (the worker decrypts it); nullopt when it is not one.
std::optional<std::string> encrypted_content(json const& item) {
    auto const it = item.find("encryptedContent");
    if (it == item.end() || !it->is_object()) {
        return std::nullopt;
    }
    json kept = json::object();
    for (char const* field : {"data", "dataKey", "dataSignature", "encryptionCertificateId"}) {
        auto const f = it->find(field);
        if (f == it->end() || !f->is_string()) {
            return std::string();  // rich, but not usable
        }
        kept[field] = *f;
    }
    return kept.dump();
}

}  // namespace

Receiver::Bridged Receiver::bridged(TeamsThreadId const& chat_id, std::map<TeamsUserId, bool>& connected) {
    // Known without Graph: a one-on-one chat's members are in its id; a group chat's were read when it was last
    // seen. Unknown: the item goes on without its content and the worker reads the chat's members first.
    auto members = one_on_one_members(chat_id);
    bool fresh = true;
    if (members.empty()) {
        auto cached = repos_.chats->find(chat_id);
        if (!cached || !*cached) {
            return Bridged::unknown;
        }
        members = (*cached)->member_ids;
        fresh = now_ms() - (*cached)->checked_at < k_chat_members_fresh_ms;
    }
    std::vector<TeamsUserId> ask;
    for (auto const& m : members) {
        if (!connected.contains(m)) {
            ask.push_back(m);
        }
    }
    if (!ask.empty()) {
        auto found = repos_.accounts->connected_among(ask);
        if (!found) {
            return Bridged::unknown;
        }
        for (auto const& m : ask) {
            connected[m] = std::find(found->begin(), found->end(), m) != found->end();
        }
    }
    if (std::any_of(members.begin(), members.end(), [&](auto const& m) { return connected[m]; })) {
        return Bridged::yes;
    }
    return fresh ? Bridged::no : Bridged::unknown;
}

std::optional<store::InboxItem> Receiver::accept(nlohmann::json const& item, std::int64_t now) {
    ++stats_->notifications_received;
    if (!item.is_object()) {
        ++stats_->notifications_malformed;
        return std::nullopt;
    }
    // clientState first, in constant time: a forged item learns nothing else about us.
    if (!strings::constant_time_equal(text(item, "clientState"), webhook_secret_)) {
        ++stats_->notifications_bad_client_state;
        return std::nullopt;
    }
    if (!our_tenant(text(item, "tenantId"))) {
        ++stats_->notifications_wrong_tenant;
        return std::nullopt;
    }
    auto const change = store::parse<store::Change>(text(item, "changeType"));
    auto const ref = parse_resource(text(item, "resource"));
    auto const subscription = SubscriptionId::parse(text(item, "subscriptionId"));
    if (!ref || !subscription || !change || *change == store::Change::catchup) {
        ++stats_->notifications_malformed;
        return std::nullopt;
    }
    if (!known_subscription(*subscription)) {
        ++stats_->notifications_unknown_subscription;
        return std::nullopt;
    }
    if (ref->kind == store::PortalKind::channel) {
        // A linked channel's: only while it is linked (an unlinked channel stops at once, whatever Graph still
        // sends). A reply is queued as "<root>/<reply>", the id the bridge knows it by.
        auto const portal = repos_.portals->by_thread(ref->thread_id);
        if (portal && (!*portal || (*portal)->kind != store::PortalKind::channel)) {
            ++stats_->notifications_unlinked;
            return std::nullopt;
        }
        auto const id =
            ref->reply_id.empty() ? ref->message_id : graph::channel_reply_id(ref->message_id, ref->reply_id);
        return store::InboxItem{0, now, *subscription, *change, ref->thread_id, id, 0};
    }
    return store::InboxItem{0, now, *subscription, *change, ref->thread_id, ref->message_id, 0};
}

Receiver::Rich Receiver::take_rich(nlohmann::json const& item, RichBatch& batch, store::InboxItem& accepted) {
    auto content = encrypted_content(item);
    if (!content) {
        return Rich::keep;  // a basic notification
    }
    // A rich batch is trusted only when its validationTokens are Graph's, for us, now: checked once per batch.
    if (!batch.checked) {
        batch.checked = check_tokens_ ? check_tokens_(batch.tokens) : graph::TokenRefusal::claims;
    }
    if (*batch.checked == graph::TokenRefusal::keys_unavailable) {
        return Rich::retry;
    }
    if (*batch.checked != graph::TokenRefusal::none) {
        stats_->rich_refused.add({"webhook", graph::to_string(*batch.checked)});
        return Rich::drop;
    }
    auto const known = batch.chats.find(accepted.thread_id);
    auto const is_bridged =
        known != batch.chats.end()
            ? known->second
            : batch.chats.emplace(accepted.thread_id, bridged(accepted.thread_id, batch.connected)).first->second;
    if (is_bridged == Bridged::no) {
        ++stats_->rich_unbridged;  // dropped unread: nothing of it is stored or logged
        return Rich::drop;
    }
    if (is_bridged == Bridged::yes && !content->empty()) {
        accepted.content = std::move(*content);
        // Graph keeps no order between notifications: the item waits out the workers' order hold in the inbox.
        accepted.not_before = accepted.received_at + rich_hold_ms_;
    }
    return Rich::keep;
}

Answer Receiver::changes(std::string_view body) {
    Answer refusal;
    RichBatch batch;
    auto const items = notification_items(body, *stats_, refusal, &batch.tokens);
    if (!items) {
        return refusal;
    }
    std::vector<store::InboxItem> accepted;
    auto const now = now_ms();
    for (auto const& item : *items) {
        auto one = accept(item, now);
        if (!one) {
            continue;
        }
        auto const rich = take_rich(item, batch, *one);
        if (rich == Rich::retry) {
            return Answer{503, "unavailable", "The notifications could not be checked; send them again.", 5};
        }
        if (rich == Rich::keep) {
            accepted.push_back(*std::move(one));
        }
    }
    if (!accepted.empty()) {
        if (auto stored = repos_.inbox->enqueue(accepted); !stored) {
            ++stats_->notification_batches_refused;
            log::warn("could not store change notifications; Graph will send them again",
                      {{"count", std::to_string(accepted.size())}, {"error", stored.error().message}});
            return Answer{503, "unavailable", "The notifications could not be stored; send them again.", 5};
        }
        stats_->notifications_accepted += accepted.size();
        stats_->last_notification_at_ms.store(now);
        if (on_enqueued_) {
            on_enqueued_();
        }
    }
    return Answer{};
}

Answer Receiver::lifecycle(std::string_view body) {
    Answer refusal;
    auto const items = notification_items(body, *stats_, refusal);
    if (!items) {
        return refusal;
    }
    bool changed = false;
    for (auto const& item : *items) {
        ++stats_->lifecycle_received;
        if (!item.is_object() || !strings::constant_time_equal(text(item, "clientState"), webhook_secret_)) {
            ++stats_->lifecycle_ignored;
            continue;
        }
        if (!our_tenant(text(item, "tenantId"))) {
            ++stats_->lifecycle_wrong_tenant;
            continue;
        }
        auto const subscription = SubscriptionId::parse(text(item, "subscriptionId"));
        auto const event = text(item, "lifecycleEvent");
        std::optional<store::SubscriptionState> state;
        if (event == "reauthorizationRequired") {
            state = store::SubscriptionState::reauthorize;
        } else if (event == "subscriptionRemoved") {
            state = store::SubscriptionState::removed;
        } else if (event == "missed") {
            state = store::SubscriptionState::missed;
        }
        if (!state || !subscription || !known_subscription(*subscription)) {
            ++stats_->lifecycle_ignored;
            continue;
        }
        if (auto s = repos_.subscriptions->set_state(*subscription, *state); !s) {
            ++stats_->notification_batches_refused;
            return Answer{503, "unavailable", "The lifecycle event could not be stored; send it again.", 5};
        }
        log::info("subscription lifecycle event", {{"subscription_id", subscription->str()}, {"event", event}});
        changed = true;
    }
    if (changed && on_lifecycle_) {
        on_lifecycle_();
    }
    return Answer{};
}

}  // namespace msteams::sync
