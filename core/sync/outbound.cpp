#include "sync/outbound.hpp"

#include <algorithm>
#include <exception>
#include <map>
#include <nlohmann/json.hpp>
#include <mutex>
#include <optional>
#include <set>
#include <string_view>

#include "common/backoff.hpp"
#include "common/clock.hpp"
#include "common/log.hpp"
#include "common/strings.hpp"
#include "sync/post_props.hpp"
#include "convert/convert.hpp"
#include "graph/entra.hpp"
#include "sync/lease_keeper.hpp"

namespace msteams::sync {
namespace {

using nlohmann::json;

constexpr int k_max_attempts = 30;
constexpr int k_max_members = 8;  // Mattermost group messages
// Mattermost runs hooks on goroutines, so two events of a channel made a moment apart can reach the plugin in either
// order, a few milliseconds apart. Edits, deletes and reactions wait this long before they are sent, in the order they
// happened. A post is sent at once unless Mattermost shows an earlier post of its channel that has not reached the
// bridge yet; then it waits for that post until that post is this old: by then its hook is taken as lost (Mattermost
// saved the post, then its server died before the hook ran), and the post is queued without it.
constexpr std::int64_t k_settle_ms = 500;
// How far back, from a post, its claim looks for earlier posts of its channel that the bridge has not sent; a post is
// checked while it is younger than this.
constexpr std::int64_t k_lookback_ms = 10'000;
// How long a post waiting for an earlier one is set aside before it is looked at again (the earlier post's arrival
// ends the wait sooner).
constexpr std::int64_t k_order_wait_ms = 100;
// How long the outbox remembers the event keys it was given: a hook later than that would be queued again.
constexpr std::int64_t k_seen_for_ms = 60 * 60'000;
// recover_since: chat portals read per page, and posts queued per channel at most.
constexpr std::size_t k_recover_page = 200;
constexpr std::size_t k_recover_max_per_channel = 200;
// How far back a retried send looks for its own message in Teams.
constexpr std::int64_t k_resend_window_ms = 60'000;

std::string text(json const& j, char const* key) {
    auto const it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool bridge_post(std::string const& props_json) {
    auto const props = json::parse(props_json, nullptr, false);
    return props.is_object() && props.contains(k_teams_message_prop);
}

bool not_connected(Error const& e) { return e.code == ErrorCode::permission_denied || e.code == ErrorCode::not_found; }

// The text a reader sees in a message's HTML, whitespace collapsed: tags dropped, character references decoded. Graph
// may serialise the HTML it stores differently from what was posted (attribute order, quoting, wrapping elements),
// but not the text. One pass, linear in the input.
std::string visible_text(std::string_view html) {
    std::string out;
    out.reserve(html.size());
    bool space = false;
    auto const put = [&](std::string_view piece) {
        if (space && !out.empty()) {
            out += ' ';
        }
        space = false;
        out += piece;
    };
    for (std::size_t i = 0; i < html.size();) {
        char const c = html[i];
        if (c == '<') {
            auto const close = html.find('>', i);
            if (close == std::string_view::npos) {
                break;
            }
            space = true;  // block boundaries and line breaks read as a space; inline tags too (harmless here)
            i = close + 1;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
            space = true;
            ++i;
            continue;
        }
        if (c == '&') {
            auto const semi = html.find(';', i);
            if (semi != std::string_view::npos && semi - i <= 10) {
                auto const decoded =
                    strings::decode_character_reference(html.substr(i + 1, semi - i - 1)).value_or(std::string());
                if (decoded == " " || decoded == "\xC2\xA0") {
                    space = true;
                    i = semi + 1;
                    continue;
                }
                if (!decoded.empty()) {
                    put(decoded);
                    i = semi + 1;
                    continue;
                }
            }
        }
        if (c == '\xC2' && i + 1 < html.size() && html[i + 1] == '\xA0') {  // U+00A0 as is
            space = true;
            i += 2;
            continue;
        }
        put(std::string_view(&html[i], 1));
        ++i;
    }
    return out;
}

// What identifies a sent message when it is looked for again (after a crash, or a request whose outcome is unknown):
// its visible text and the names of its files, in order of name. Neither changes between tries of the same outbox
// item; the Teams ids of uploaded files need not be known.
std::string fingerprint(std::string_view html, std::vector<std::string> file_names) {
    std::sort(file_names.begin(), file_names.end());
    std::string out = visible_text(html);
    for (auto const& name : file_names) {
        out += '\n';
        out += name;
    }
    return out;
}

std::string fingerprint(graph::ChatMessage const& m) {
    std::vector<std::string> names;
    for (auto const& a : m.attachments) {
        if (a.content_type == "reference") {
            names.push_back(a.name);
        }
    }
    return fingerprint(m.body, std::move(names));
}

}  // namespace

// An outbox item claimed by this worker and the write to a Teams chat it announced: both kept alive while the worker
// sends, and ended together with what the send recorded.
class Outbound::Lease {
public:
    Lease(store::Repositories repos, std::int64_t outbox_id)
        : repos_(std::move(repos)),
          outbox_id_(outbox_id),
          keeper_(std::in_place, k_claim_renew_every, [this] { renew(); }) {}
    ~Lease() {
        keeper_.reset();            // no renewal after the write is over
        if (!thread_id_.empty()) {  // a send that failed: its write is over too
            (void)repos_.db->transact([&](store::Tx& tx) { return repos_.portals->end_write(tx, thread_id_); });
        }
    }
    Lease(Lease const&) = delete;
    Lease& operator=(Lease const&) = delete;

    // Before the first Graph request that changes the chat: the inbound side waits while it is in flight.
    [[nodiscard]] Status begin_write(TeamsThreadId const& thread_id) {
        MSTEAMS_TRY(repos_.portals->begin_write(thread_id, now_ms() + k_claim_lease.count()));
        std::lock_guard lock(mutex_);
        thread_id_ = thread_id;
        return {};
    }

    // Records what was sent, ends the write and removes the item, in one transaction: a retry after a crash either
    // finds all of it or none.
    [[nodiscard]] Status finish(std::function<Status(store::Tx&)> const& record) {
        if (finished_) {
            return {};
        }
        TeamsThreadId thread;
        {
            std::lock_guard lock(mutex_);
            thread = thread_id_;
        }
        auto const done = repos_.db->transact([&](store::Tx& tx) -> Status {
            MSTEAMS_TRY(record(tx));
            if (!thread.empty()) {
                MSTEAMS_TRY(repos_.portals->end_write(tx, thread));
            }
            return repos_.outbox->remove(tx, outbox_id_);
        });
        if (!done) {
            return done;
        }
        finished_ = true;
        std::lock_guard lock(mutex_);
        thread_id_ = {};
        return {};
    }

private:
    void renew() {
        TeamsThreadId thread;
        {
            std::lock_guard lock(mutex_);
            thread = thread_id_;
        }
        auto const until = now_ms() + k_claim_lease.count();
        auto renewed = repos_.outbox->renew(outbox_id_, until);
        if (renewed && !thread.empty()) {
            renewed = repos_.portals->renew_write(thread, until);
        }
        if (!renewed) {
            log::warn("could not renew the lease of an outbox item", {{"error", renewed.error().message}});
        }
    }

    store::Repositories repos_;
    std::int64_t outbox_id_;
    std::mutex mutex_;
    TeamsThreadId thread_id_;            // the chat being written to, if any (the keeper reads it)
    bool finished_ = false;              // only touched by the sending worker
    std::optional<LeaseKeeper> keeper_;  // last: renews once the rest is ready
};

// Where a post goes and as whom.
struct Outbound::Target {
    TeamsThreadId chat_id;
    graph::Thread thread;  // how Graph addresses it: the chat, or the linked channel with its team
    std::string token;
    TeamsUserId author_teams_id;
    TeamsUserId sender_teams_id;  // whose Teams account posts: the author's, or the bot's for a relay (empty: unknown)
    bool relay = false;           // posted by the bot's Teams account for an author who is not connected
};

Outbound::Outbound(OutboundSettings settings, std::shared_ptr<mm::Api> api, store::Repositories repos,
                   std::shared_ptr<Connections> logins, std::shared_ptr<graph::ChatApi> graph,
                   std::shared_ptr<metrics::Counters> stats, std::shared_ptr<People> people)
    : settings_(std::move(settings)),
      api_(std::move(api)),
      repos_(std::move(repos)),
      logins_(std::move(logins)),
      graph_(std::move(graph)),
      stats_(std::move(stats)),
      people_(std::move(people)),
      workers_(
          "outbox", settings_.workers, std::chrono::milliseconds(250), [this] { return run_once(); },
          &stats_->worker_exceptions) {}

Outbound::~Outbound() { stop(); }

void Outbound::start() {
    stopping_ = false;
    workers_.start();
}
void Outbound::stop() {
    stopping_ = true;
    workers_.stop();
}

Result<bool> Outbound::is_direct_or_group(MmChannelId const& channel_id) {
    {
        std::lock_guard lock(cache_mutex_);
        if (auto it = channel_kinds_.find(channel_id); it != channel_kinds_.end()) {
            return it->second;
        }
    }
    mm::Channel channel;
    MSTEAMS_TRY_ASSIGN(channel, api_->get_channel(channel_id));
    bool const direct = channel.type == "D" || channel.type == "G";
    std::lock_guard lock(cache_mutex_);
    if (channel_kinds_.size() > 100'000) {
        channel_kinds_.clear();
    }
    channel_kinds_[channel_id] = direct;
    return direct;
}

namespace {
// An outbox item's event key starts with its kind: "post:<post id>", "edit:<post id>:<update_at>", …
std::string key_of(store::OutboxKind kind) { return std::string(store::text(kind)) + ":"; }
}  // namespace

std::optional<store::OutboxItem> outbox_item_for(OutboundEvent const& e, std::int64_t now,
                                                 MmUserId const& bot_user_id) {
    store::OutboxItem item;
    item.created_at = now;
    json payload = json::object();
    switch (e.kind) {
        case OutboundEvent::Kind::posted:
        case OutboundEvent::Kind::edited:
        case OutboundEvent::Kind::deleted: {
            auto const& p = e.post;
            if (!p.type.empty() || p.user_id == bot_user_id || bridge_post(p.props_json)) {
                return std::nullopt;  // system posts, the bot's, and what the bridge itself posted for Teams
            }
            item.channel_id = p.channel_id;
            item.post_id = p.id;
            item.user_id = p.user_id;
            if (e.kind == OutboundEvent::Kind::posted) {
                item.sort_at = p.create_at;
                item.kind = store::OutboxKind::post;
                item.event_key = key_of(item.kind) + p.id.str();
                payload = json{{"message", p.message}, {"root_id", p.root_id}, {"file_ids", p.file_ids}};
            } else if (e.kind == OutboundEvent::Kind::edited) {
                if (p.delete_at != 0 || p.message == e.old_post.message) {
                    return std::nullopt;  // pins, reactions and other changes that are not edits
                }
                item.kind = store::OutboxKind::edit;
                item.sort_at = p.update_at;
                item.event_key = key_of(item.kind) + p.id.str() + ":" + std::to_string(p.update_at);
                payload = json{{"message", p.message}};
            } else {
                item.kind = store::OutboxKind::remove;
                item.sort_at = p.delete_at != 0 ? p.delete_at : p.update_at;
                item.event_key = key_of(item.kind) + p.id.str();
            }
            break;
        }
        case OutboundEvent::Kind::reacted:
        case OutboundEvent::Kind::unreacted: {
            auto const& r = e.reaction;
            if (r.user_id == bot_user_id) {
                return std::nullopt;  // the bot's
            }
            item.channel_id = r.channel_id;
            item.post_id = r.post_id;
            item.user_id = r.user_id;
            bool const add = e.kind == OutboundEvent::Kind::reacted;
            item.kind = add ? store::OutboxKind::react : store::OutboxKind::unreact;
            item.sort_at = add && r.create_at != 0 ? r.create_at : now;
            item.event_key = key_of(item.kind) + r.post_id.str() + ":" + r.user_id.str() + ":" + r.emoji_name + ":" +
                             std::to_string(add ? r.create_at : now);
            payload = json{{"emoji", r.emoji_name}};
            break;
        }
    }
    if (item.sort_at == 0) {
        item.sort_at = now;
    }
    item.payload = payload.dump();
    return item;
}

Result<bool> Outbound::bridged_channel(MmChannelId const& channel_id) {
    bool direct = false;
    MSTEAMS_TRY_ASSIGN(direct, is_direct_or_group(channel_id));
    if (direct) {
        return settings_.enabled;  // chats follow chat sync
    }
    // A linked channel, whatever chat sync does (its link is asked for every time: unlinking stops it at once).
    std::optional<store::Portal> portal;
    MSTEAMS_TRY_ASSIGN(portal, repos_.portals->by_channel(channel_id));
    return portal && portal->kind == store::PortalKind::channel;
}

Status Outbound::enqueue(std::vector<OutboundEvent> const& events) {
    std::vector<store::OutboxItem> items;
    auto const now = clock();
    for (auto const& e : events) {
        auto found = outbox_item_for(e, now, settings_.bot_user_id);
        if (!found) {
            continue;
        }
        auto& item = *found;
        if (item.channel_id.empty() && !item.post_id.empty()) {
            mm::Post post;
            MSTEAMS_TRY_ASSIGN(post, api_->get_post(item.post_id));
            item.channel_id = post.channel_id;
        }
        bool bridged = false;
        MSTEAMS_TRY_ASSIGN(bridged, bridged_channel(item.channel_id));
        if (!bridged) {
            continue;
        }
        items.push_back(std::move(item));
    }
    std::int64_t added = 0;
    MSTEAMS_TRY_ASSIGN(added, repos_.outbox->enqueue(items));
    if (added > 0) {
        stats_->outbox_enqueued += static_cast<std::uint64_t>(added);
        workers_.wake();
    }
    return {};
}

Result<bool> Outbound::run_once() {
    auto const now = clock();
    std::optional<store::OutboxItem> item;
    MSTEAMS_TRY_ASSIGN(item, repos_.outbox->claim(now, now - k_settle_ms, now + k_claim_lease.count()));
    if (!item) {
        return false;
    }
    if (item->kind == store::OutboxKind::post && item->sort_at > now - k_lookback_ms) {
        auto const wait = earlier_post_in_flight(*item);
        if (!wait) {  // sent without the check: order is a courtesy, delivery is not
            log::warn("could not read a channel's recent posts; sending without waiting for earlier ones",
                      {{"channel_id", item->channel_id}, {"error", wait.error().message}});
        } else if (*wait) {
            ++stats_->outbound_order_waits;
            MSTEAMS_TRY(repos_.outbox->hold(item->id, now + k_order_wait_ms));
            return true;
        }
    }
    if (item->kind == store::OutboxKind::post) {
        auto const held = channel_cap_hold(*item);
        if (!held) {
            return std::unexpected(held.error());
        }
        if (*held > 0) {
            ++stats_->outbound_channel_cap_holds;
            MSTEAMS_TRY(repos_.outbox->hold(item->id, *held));
            return true;
        }
    }
    Status done;
    {
        Lease lease(repos_, item->id);
        // A bug must not end the core nor retry the item forever: it fails like any error, and counts.
        done = guarded(stats_->worker_exceptions, [&]() -> Status {
            MSTEAMS_TRY(process(lease, *item));
            return lease.finish([](store::Tx&) { return Status{}; });  // for sends that recorded nothing
        });
    }
    if (done) {
        return true;
    }
    ++stats_->outbound_failures;
    auto const& e = done.error();
    int const attempts = item->attempts + 1;
    bool const transient = e.code == ErrorCode::unavailable || e.code == ErrorCode::internal;
    if (!transient || attempts >= k_max_attempts) {
        // Set aside as a dead letter (admins see it and can retry it); the channel's later changes go on.
        ++stats_->outbound_dead_lettered;
        log::error("could not send a Mattermost change to Teams; set aside as a dead letter",
                   {{"post_id", item->post_id},
                    {"kind", std::string(store::text(item->kind))},
                    {"attempts", std::to_string(attempts)},
                    {"error", e.message}});
        if (item->kind == store::OutboxKind::post || item->kind == store::OutboxKind::edit) {
            tell(item->user_id, item->channel_id,
                 "Your message could not be delivered to Microsoft Teams: " + e.message);
        }
        MSTEAMS_TRY(repos_.outbox->dead_letter(*item, e.message, clock()));
        return true;
    }
    std::int64_t const delay_ms = retry_delay(attempts, e.retry_after).count();
    log::warn("could not send a Mattermost change to Teams; trying again later",
              {{"post_id", item->post_id},
               {"kind", std::string(store::text(item->kind))},
               {"attempt", std::to_string(attempts)},
               {"retry_in_ms", std::to_string(delay_ms)},
               {"error", e.message}});
    MSTEAMS_TRY(repos_.outbox->postpone(item->id, clock() + delay_ms, e.message));
    return true;
}

Result<bool> Outbound::earlier_post_in_flight(store::OutboxItem const& item) {
    std::vector<mm::Post> recent;
    MSTEAMS_TRY_ASSIGN(recent, api_->get_posts_since(item.channel_id, item.sort_at - k_lookback_ms));
    // Only posts written before this one count; posts of the same millisecond have no order to keep. In a linked
    // channel, only those written since the link: what was posted while it was not linked never goes to Teams.
    std::int64_t since = item.sort_at - k_lookback_ms;
    std::optional<store::Portal> linked;
    MSTEAMS_TRY_ASSIGN(linked, repos_.portals->by_channel(item.channel_id));
    if (linked && linked->kind == store::PortalKind::channel) {
        since = std::max(since, linked->created_at);
    }
    std::erase_if(recent, [&](mm::Post const& p) {
        return p.id == item.post_id || p.create_at >= item.sort_at || p.create_at < since;
    });
    Unsent found;
    MSTEAMS_TRY_ASSIGN(found, unsent(recent));
    // One queued before this post was claimed would have held it back (the claim takes a channel's items in order):
    // one queued since goes first. One given and no longer queued (skipped on purpose, set aside) is not on its way.
    bool wait = found.queued;
    auto const now = clock();
    std::vector<store::OutboxItem> lost;
    for (auto& earlier : found.never_given) {
        wait = true;
        if (now - earlier.sort_at >= k_settle_ms) {  // its hook would have come by now
            lost.push_back(std::move(earlier));
        }
    }
    MSTEAMS_TRY(recover(lost));  // sorted before this post, they go first
    return wait;
}

Result<Outbound::Unsent> Outbound::unsent(std::vector<mm::Post> const& posts) {
    Unsent out;
    auto const now = clock();
    std::vector<store::OutboxItem> items;
    std::vector<MmPostId> ids;
    for (auto const& p : posts) {
        if (p.delete_at != 0) {
            continue;  // deleted before it was sent: nothing to send
        }
        auto item = outbox_item_for(OutboundEvent{OutboundEvent::Kind::posted, p, {}, {}}, now, settings_.bot_user_id);
        if (!item) {
            continue;  // not something the bridge sends
        }
        ids.push_back(p.id);
        items.push_back(std::move(*item));
    }
    if (items.empty()) {
        return out;
    }
    // Two queries, whatever the number of posts: the links, then the keys the outbox was given.
    std::vector<MmPostId> linked;
    MSTEAMS_TRY_ASSIGN(linked, repos_.messages->linked(ids));
    std::set<MmPostId> const sent(linked.begin(), linked.end());
    std::erase_if(items, [&](store::OutboxItem const& i) { return sent.contains(i.post_id); });
    if (items.empty()) {
        return out;
    }
    std::vector<std::string> keys;
    keys.reserve(items.size());
    for (auto const& i : items) {
        keys.push_back(i.event_key);
    }
    std::vector<store::SeenEvent> given;
    MSTEAMS_TRY_ASSIGN(given, repos_.outbox->seen(keys));
    std::map<std::string, bool> queued;
    for (auto const& g : given) {
        queued[g.event_key] = g.queued;
    }
    for (auto& i : items) {
        auto const it = queued.find(i.event_key);
        if (it == queued.end()) {
            out.never_given.push_back(std::move(i));
        } else if (it->second) {
            out.queued = true;
        }
    }
    return out;
}

Result<std::int64_t> Outbound::recover(std::vector<store::OutboxItem> const& items) {
    std::int64_t recovered = 0;
    for (auto const& item : items) {
        std::int64_t added = 0;
        MSTEAMS_TRY_ASSIGN(added, repos_.outbox->enqueue({item}));
        if (added == 0) {
            continue;  // its hook came meanwhile, or another node recovered it
        }
        ++recovered;
        ++stats_->outbound_hooks_recovered;
        ++stats_->outbox_enqueued;
        log::info("queued a post whose hook never reached the bridge",
                  {{"post_id", item.post_id}, {"channel_id", item.channel_id}});
    }
    if (recovered > 0) {
        workers_.wake();
    }
    return recovered;
}

Result<std::int64_t> Outbound::recover_channel(store::Portal const& portal, std::int64_t since_ms,
                                               std::int64_t settled) {
    // A linked channel's posts count from its link on: what was written while it was not linked never goes.
    if (portal.kind == store::PortalKind::channel) {
        since_ms = std::max(since_ms, portal.created_at);
    }
    auto posts = api_->get_posts_since(portal.mm_channel_id, since_ms);
    if (!posts) {
        if (posts.error().code == ErrorCode::unavailable) {
            return std::unexpected(posts.error());  // Mattermost out of reach: all of it again later
        }
        log::warn("could not read a bridged channel's posts to recover those whose hooks were lost",
                  {{"channel_id", portal.mm_channel_id}, {"error", posts.error().message}});
        return 0;
    }
    std::erase_if(*posts, [&](mm::Post const& p) { return p.create_at < since_ms || p.create_at >= settled; });
    Unsent found;
    MSTEAMS_TRY_ASSIGN(found, unsent(*posts));
    if (found.never_given.size() > k_recover_max_per_channel) {
        log::warn("a channel has more posts without hooks than are recovered at once; the newest are left",
                  {{"channel_id", portal.mm_channel_id},
                   {"posts", std::to_string(found.never_given.size())},
                   {"queued", std::to_string(k_recover_max_per_channel)}});
        found.never_given.resize(k_recover_max_per_channel);
    }
    return recover(found.never_given);
}

Status Outbound::recover_since(std::int64_t since_ms) {
    auto const settled = clock() - k_settle_ms;  // younger posts are left to their hooks
    std::int64_t channels = 0;
    std::int64_t recovered = 0;
    // Chats while chat sync mirrors; linked channels always.
    for (auto const kind : {store::PortalKind::chat, store::PortalKind::channel}) {
        if (kind == store::PortalKind::chat && !settings_.enabled) {
            continue;
        }
        TeamsThreadId after;
        while (true) {
            std::vector<store::Portal> page;
            MSTEAMS_TRY_ASSIGN(page, repos_.portals->list_page(kind, after, k_recover_page));
            for (auto const& portal : page) {
                if (stopping_) {
                    return fail(ErrorCode::unavailable, "the bridge is stopping");
                }
                std::int64_t n = 0;
                MSTEAMS_TRY_ASSIGN(n, recover_channel(portal, since_ms, settled));
                recovered += n;
                ++channels;
            }
            if (page.size() < k_recover_page) {
                break;
            }
            after = page.back().teams_thread_id;
        }
    }
    log::info("looked for posts whose hooks were lost", {{"since_ms", std::to_string(since_ms)},
                                                         {"channels", std::to_string(channels)},
                                                         {"recovered", std::to_string(recovered)}});
    return {};
}

Status Outbound::forget_seen_events() {
    std::int64_t forgotten = 0;
    MSTEAMS_TRY_ASSIGN(forgotten, repos_.outbox->forget_seen(clock() - k_seen_for_ms));
    if (forgotten > 0) {
        log::debug("forgot the outbox's old event keys", {{"keys", std::to_string(forgotten)}});
    }
    return {};
}

void Outbound::tell(MmUserId const& user_id, MmChannelId const& channel_id, std::string const& message) {
    mm::Post post;
    post.user_id = settings_.bot_user_id;
    post.channel_id = channel_id;
    post.message = message;
    if (auto s = api_->send_ephemeral_post(user_id, post); !s) {
        log::warn("could not tell a user about a Teams delivery", {{"user_id", user_id}, {"error", s.error().message}});
    }
}

Result<std::optional<TeamsUserId>> Outbound::teams_id_for(MmUserId const& mm_user_id) {
    auto account = logins_->account(mm_user_id);
    if (!account) {
        return std::unexpected(account.error());
    }
    if (*account) {
        return std::optional<TeamsUserId>((*account)->teams_user_id);
    }
    return people_->teams_user_for(mm_user_id);
}

Status Outbound::process(Lease& lease, store::OutboxItem const& item) {
    switch (item.kind) {
        case store::OutboxKind::post: return send_post(lease, item);
        case store::OutboxKind::edit: return send_edit(lease, item);
        case store::OutboxKind::remove: return send_delete(lease, item);
        case store::OutboxKind::react: return send_reaction(lease, item, true);
        case store::OutboxKind::unreact: return send_reaction(lease, item, false);
    }
    return {};
}

Result<TeamsThreadId> Outbound::chat_with(std::string const& token, std::vector<TeamsUserId> const& teams_members) {
    if (teams_members.size() == 2) {
        graph::Chat chat;
        MSTEAMS_TRY_ASSIGN(chat, graph_->create_chat(token, "oneOnOne", teams_members));
        return chat.id;
    }
    std::vector<graph::Chat> chats;
    MSTEAMS_TRY_ASSIGN(chats, graph_->list_my_chats(token, 500));
    for (auto const& c : chats) {
        if (c.chat_type != "group") {
            continue;
        }
        std::vector<TeamsUserId> ids;
        for (auto const& m : c.members) {
            ids.push_back(m.user_id);
        }
        std::sort(ids.begin(), ids.end());
        if (ids == teams_members) {
            return c.id;
        }
    }
    graph::Chat chat;
    MSTEAMS_TRY_ASSIGN(chat, graph_->create_chat(token, "group", teams_members));
    return chat.id;
}

Result<graph::Thread> Outbound::thread_of(TeamsThreadId const& thread_id) {
    std::optional<store::Portal> portal;
    MSTEAMS_TRY_ASSIGN(portal, repos_.portals->by_thread(thread_id));
    if (portal && portal->kind == store::PortalKind::channel) {
        return graph::Thread(portal->teams_team_id, portal->teams_thread_id);
    }
    return graph::Thread(thread_id);
}

Result<std::int64_t> Outbound::channel_cap_hold(store::OutboxItem const& item) {
    if (settings_.channel_daily_limit <= 0) {
        return 0;
    }
    std::optional<store::Portal> portal;
    MSTEAMS_TRY_ASSIGN(portal, repos_.portals->by_channel(item.channel_id));
    if (!portal || portal->kind != store::PortalKind::channel) {
        return 0;
    }
    // Graph takes at most so many messages a day from an app in one channel. The bridge counts what it sent there
    // in the last 24 hours (the message map) and holds the channel's posts, in order, rather than have them refused.
    constexpr std::int64_t k_day_ms = 24LL * 60 * 60 * 1000;
    constexpr std::int64_t k_look_again_ms = 10'000;  // a count query; a new post of the channel looks sooner
    auto const now = clock();
    std::int64_t sent = 0;
    MSTEAMS_TRY_ASSIGN(sent, repos_.messages->sent_since(portal->teams_thread_id, now - k_day_ms));
    if (sent < settings_.channel_daily_limit) {
        return 0;
    }
    // The channel is told once a day (by whichever node gets there first).
    auto const first =
        repos_.notices->claim("channel-daily-cap:" + item.channel_id.str() + ":" + std::to_string(now / k_day_ms), now);
    if (first && *first) {
        mm::Post notice;
        notice.user_id = settings_.bot_user_id;
        notice.channel_id = item.channel_id;
        notice.message = "Microsoft Teams takes at most " + std::to_string(settings_.channel_daily_limit) +
                         " messages a day from this bridge in one channel, and this channel has reached it. New "
                         "messages here are kept, in order, and reach Teams as the day's count goes down.";
        if (auto posted = api_->create_post(notice); !posted) {
            log::warn("could not tell a linked channel it reached the daily limit",
                      {{"channel_id", item.channel_id}, {"error", posted.error().message}});
        }
    }
    log::info("a linked channel reached Graph's daily messages; holding its posts",
              {{"channel_id", item.channel_id}, {"sent_last_day", std::to_string(sent)}});
    return now + k_look_again_ms;
}

Result<std::optional<Outbound::Target>> Outbound::channel_target(store::OutboxItem const& item,
                                                                 store::Portal const& portal) {
    std::optional<store::TeamsUser> ghost;
    MSTEAMS_TRY_ASSIGN(ghost, repos_.users->by_mm_id(item.user_id));
    if (ghost && ghost->synthetic) {
        return std::optional<Target>();  // synthetic users speak in Teams, not here
    }
    Target t;
    t.chat_id = portal.teams_thread_id;
    t.thread = graph::Thread(portal.teams_team_id, portal.teams_thread_id);
    std::optional<TeamsUserId> author;
    MSTEAMS_TRY_ASSIGN(author, teams_id_for(item.user_id));
    t.author_teams_id = author.value_or(TeamsUserId());
    auto token = logins_->access_token(item.user_id);
    if (token) {
        t.token = *token;
        t.sender_teams_id = t.author_teams_id;
        return std::optional<Target>(std::move(t));
    }
    if (!not_connected(token.error())) {
        return std::unexpected(token.error());
    }
    // Not connected: the relay (the bot's Teams account) posts for them, with their name.
    auto relay = logins_->access_token(settings_.bot_user_id);
    if (!relay) {
        if (!not_connected(relay.error())) {
            return std::unexpected(relay.error());
        }
        ++stats_->outbound_not_connected;
        tell(item.user_id, item.channel_id,
             "This message was not sent to Microsoft Teams: your Mattermost account is not connected to Teams and "
             "no system admin has connected the bridge's bot to post for you. Connect with `/msteams connect`.");
        return std::optional<Target>();
    }
    t.token = *relay;
    t.relay = true;
    std::optional<store::Account> bot;
    MSTEAMS_TRY_ASSIGN(bot, logins_->account(settings_.bot_user_id));
    t.sender_teams_id = bot ? bot->teams_user_id : TeamsUserId();
    return std::optional<Target>(std::move(t));
}

Result<std::optional<Outbound::Target>> Outbound::target(store::OutboxItem const& item) {
    std::optional<store::Portal> linked;
    MSTEAMS_TRY_ASSIGN(linked, repos_.portals->by_channel(item.channel_id));
    if (linked && linked->kind == store::PortalKind::channel) {
        return channel_target(item, *linked);
    }
    bool direct = false;
    MSTEAMS_TRY_ASSIGN(direct, is_direct_or_group(item.channel_id));
    if (!direct) {
        return std::optional<Target>();  // a channel unlinked since it was queued: not sent
    }
    std::optional<Target> chat;
    MSTEAMS_TRY_ASSIGN(chat, chat_target(item));
    if (chat) {
        chat->thread = chat->chat_id;
    }
    return chat;
}

Result<std::optional<Outbound::Target>> Outbound::chat_target(store::OutboxItem const& item) {
    // Every member must be someone in Teams (connected, matched or synthetic): then this DM/GM is a Teams chat.
    std::vector<MmUserId> members;
    MSTEAMS_TRY_ASSIGN(members, api_->get_channel_member_ids(item.channel_id, 0, k_max_members + 1));
    std::vector<TeamsUserId> teams_members;
    for (auto const& m : members) {
        std::optional<TeamsUserId> id;
        MSTEAMS_TRY_ASSIGN(id, teams_id_for(m));
        if (!id) {
            ++stats_->outbound_not_bridged;
            return std::optional<Target>();
        }
        teams_members.push_back(*id);
    }
    std::sort(teams_members.begin(), teams_members.end());
    teams_members.erase(std::unique(teams_members.begin(), teams_members.end()), teams_members.end());
    if (teams_members.size() < 2) {
        ++stats_->outbound_not_bridged;
        return std::optional<Target>();
    }
    std::optional<store::TeamsUser> ghost;
    MSTEAMS_TRY_ASSIGN(ghost, repos_.users->by_mm_id(item.user_id));
    if (ghost && ghost->synthetic) {
        return std::optional<Target>();  // synthetic users speak in Teams, not here
    }
    if (settings_.audience) {
        ChatPlan plan;
        MSTEAMS_TRY_ASSIGN(plan, settings_.audience->for_mm_members(members));
        if (plan.bridging != Bridging::mirror) {
            ++stats_->outbound_selective_skipped;
            tell(item.user_id, item.channel_id, "This message was not sent to Microsoft Teams. " + plan.reason);
            return std::optional<Target>();
        }
    }

    Target t;
    std::optional<TeamsUserId> author;
    MSTEAMS_TRY_ASSIGN(author, teams_id_for(item.user_id));
    t.author_teams_id = author.value_or(TeamsUserId());
    auto token = logins_->access_token(item.user_id);
    if (!token) {
        if (!not_connected(token.error())) {
            return std::unexpected(token.error());
        }
        // Not connected: the relay posts for them where the bot's Teams account can, else they are told.
        std::optional<store::Portal> portal;
        MSTEAMS_TRY_ASSIGN(portal, repos_.portals->by_channel(item.channel_id));
        auto relay = logins_->access_token(settings_.bot_user_id);
        if (portal && relay) {
            t.token = *relay;
            t.chat_id = portal->teams_thread_id;
            t.relay = true;
            std::optional<store::Account> bot;
            MSTEAMS_TRY_ASSIGN(bot, logins_->account(settings_.bot_user_id));
            t.sender_teams_id = bot ? bot->teams_user_id : TeamsUserId();
            return std::optional<Target>(std::move(t));
        }
        ++stats_->outbound_not_connected;
        tell(item.user_id, item.channel_id,
             "This message was not sent to Microsoft Teams because your Mattermost account is not connected to "
             "Teams. Connect it with `/msteams connect` so that your next messages reach Teams.");
        return std::optional<Target>();
    }
    t.token = *token;
    t.sender_teams_id = t.author_teams_id;

    std::optional<store::Portal> portal;
    MSTEAMS_TRY_ASSIGN(portal, repos_.portals->by_channel(item.channel_id));
    if (portal) {
        t.chat_id = portal->teams_thread_id;
        return std::optional<Target>(std::move(t));
    }
    // Find or create the chat: one-on-one creation is idempotent; a group chat with exactly these members is reused.
    MSTEAMS_TRY_ASSIGN(t.chat_id, chat_with(t.token, teams_members));
    store::Portal created{t.chat_id, store::PortalKind::chat, "", item.channel_id, item.user_id, clock(), clock()};
    MSTEAMS_TRY(repos_.portals->add(created));
    return std::optional<Target>(std::move(t));
}

Result<graph::NewMessage> Outbound::outgoing(nlohmann::json const& payload, store::OutboxItem const& item,
                                             Target const& target) {
    auto const message = payload.is_object() ? text(payload, "message") : std::string();
    auto converted =
        convert::markdown_to_teams(message, [this](std::string const& username) -> std::optional<convert::TeamsUser> {
            auto const user = api_->get_user_by_username(username);
            if (!user) {
                return std::nullopt;
            }
            auto const id = teams_id_for(user->id);
            if (!id || !*id) {
                return std::nullopt;
            }
            std::string name = user->first_name + (user->last_name.empty() ? "" : " " + user->last_name);
            return convert::TeamsUser{(*id)->str(), name.empty() ? user->username : name};
        });
    if (!converted) {
        return fail(ErrorCode::invalid_argument, "the message could not be converted: " + converted.error().message);
    }
    graph::NewMessage out;
    out.html = converted->html;
    for (auto const& m : converted->mentions) {
        // The converter hands back the ids the look-up above gave it, which were Teams user ids already.
        out.mentions.push_back(graph::Mention{m.id, m.text, TeamsUserId(m.teams_user_id), m.text});
    }
    if (target.relay) {
        auto const author = api_->get_user(item.user_id);
        auto const name =
            author ? (author->first_name.empty() ? author->username : author->first_name + " " + author->last_name)
                   : std::string("Someone");
        out.html = "<p><b>" + strings::html_escape(name) + "</b> (from Mattermost):</p>" + out.html;
    }

    // A reply in a thread: in a channel, a Teams reply to the thread's root; in a chat, it quotes the root.
    auto const root_id = payload.is_object() ? text(payload, "root_id") : std::string();
    if (!root_id.empty()) {
        std::optional<store::MessageLink> root;
        MSTEAMS_TRY_ASSIGN(root, repos_.messages->by_post(MmPostId(root_id)));  // the post's own, from Mattermost
        if (target.thread.channel()) {
            if (root && root->teams_thread_id == target.chat_id && !root->deleted) {
                out.reply_to = graph::channel_root_of(root->teams_message_id);
            }
        } else if (root && root->teams_thread_id == target.chat_id && !root->deleted) {
            graph::Attachment a;
            a.id = root->teams_message_id.str();
            a.content_type = "messageReference";
            a.content = json{{"messageId", root->teams_message_id}}.dump();
            out.attachments.push_back(a);
            out.html = "<attachment id=\"" + strings::html_escape(a.id) + "\"></attachment>" + out.html;
        }
    }
    return out;
}

Result<Outbound::OutgoingFiles> Outbound::files_of(nlohmann::json const& payload, bool relay) {
    // Files: known before the look-up below, so that a retry recognises its message without uploading anything.
    OutgoingFiles out;
    if (payload.is_object() && payload.contains("file_ids") && payload["file_ids"].is_array() && !relay) {
        for (auto const& f : payload["file_ids"]) {
            if (!f.is_string()) {
                continue;
            }
            mm::FileInfo info;
            MSTEAMS_TRY_ASSIGN(info, api_->get_file_info(f.get<std::string>()));
            if (info.size > settings_.max_file_size) {
                out.skipped.push_back(info.name);
                continue;
            }
            out.files.push_back(std::move(info));
        }
    }
    return out;
}

Result<std::optional<graph::ChatMessage>> Outbound::sent_before(store::Tx& tx, Target const& target,
                                                                store::OutboxItem const& item,
                                                                std::int64_t pending_since, std::string const& html,
                                                                std::vector<mm::FileInfo> const& files) {
    std::vector<std::string> names;
    for (auto const& f : files) {
        names.push_back(f.name);
    }
    auto const wanted = fingerprint(html, std::move(names));
    graph::ChatApi::Page page;
    MSTEAMS_TRY_ASSIGN(
        page, graph_->list_messages_since(target.token, target.thread, pending_since - k_resend_window_ms, 200));
    for (auto const& m : page.messages) {
        bool const same_sender = target.sender_teams_id.empty() || m.from.id == target.sender_teams_id;
        if (same_sender && m.deleted_at == 0 && m.message_type != "systemEventMessage" && fingerprint(m) == wanted) {
            std::optional<store::MessageLink> taken;
            MSTEAMS_TRY_ASSIGN(taken, repos_.messages->find(tx, target.chat_id, m.id));
            if (!taken) {
                log::info("found a message sent by an earlier try; not sending it again",
                          {{"post_id", item.post_id}, {"message_id", m.id}});
                return std::optional<graph::ChatMessage>(m);
            }
        }
    }
    return std::optional<graph::ChatMessage>();
}

Status Outbound::attach_files(Target const& target, std::vector<mm::FileInfo> const& files, graph::NewMessage& out) {
    // Uploaded to the author's OneDrive chat-files folder under the Mattermost file's id (a retry replaces the
    // same item, so its link and attachment id stay), shared, and attached.
    for (auto const& info : files) {
        std::string bytes;
        MSTEAMS_TRY_ASSIGN(bytes, api_->get_file(info.id));
        graph::DriveItem drive;
        MSTEAMS_TRY_ASSIGN(drive, graph_->upload_chat_file(target.token, info.id, info.name, bytes));
        // The attachment id is the GUID in the item's eTag ("{GUID},n").
        std::string id = drive.etag;
        auto const open = id.find('{');
        auto const close = id.find('}');
        if (open != std::string::npos && close != std::string::npos && close > open) {
            id = id.substr(open + 1, close - open - 1);
        }
        graph::Attachment a;
        a.id = id;
        a.content_type = "reference";
        a.content_url = drive.web_url;
        a.name = info.name;
        out.attachments.push_back(a);
        out.html += "<attachment id=\"" + strings::html_escape(id) + "\"></attachment>";
        ++stats_->sent_files;
    }
    return {};
}

Status Outbound::send_post(Lease& lease, store::OutboxItem const& item) {
    // Teams has it already (queued again under another key, or by an older version): done, nothing sent.
    std::optional<store::MessageLink> already;
    MSTEAMS_TRY_ASSIGN(already, repos_.messages->by_post(item.post_id));
    if (already) {
        ++stats_->outbound_duplicates;
        log::debug("a post already in Teams was queued again; not sending it twice",
                   {{"post_id", item.post_id}, {"outbox_id", std::to_string(item.id)}});
        return {};
    }
    std::optional<Target> t;
    MSTEAMS_TRY_ASSIGN(t, target(item));
    if (!t) {
        return {};
    }
    // The echo of this message waits while the write is in flight.
    MSTEAMS_TRY(lease.begin_write(t->chat_id));
    store::AutoCommit tx(*repos_.db);
    auto const payload = json::parse(item.payload, nullptr, false);
    graph::NewMessage out;
    MSTEAMS_TRY_ASSIGN(out, outgoing(payload, item, *t));
    OutgoingFiles files;
    MSTEAMS_TRY_ASSIGN(files, files_of(payload, t->relay));
    if (out.html.empty() && out.attachments.empty() && files.files.empty()) {
        return {};
    }

    // Graph has no idempotency key: a send is recorded before the request, so that after a crash or a request whose
    // outcome is unknown (the message may or may not have reached Teams) the retry looks for it in the chat instead of
    // sending it twice. It is recognised by its sender and fingerprint (text and file names), which do not depend on
    // anything a try creates.
    auto const marker = store::send_in_flight(item.post_id);
    std::optional<store::MessageLink> pending;
    MSTEAMS_TRY_ASSIGN(pending, repos_.messages->find(tx, t->chat_id, marker));
    std::optional<graph::ChatMessage> sent;
    if (pending) {
        MSTEAMS_TRY_ASSIGN(sent, sent_before(tx, *t, item, pending->pending_since, out.html, files.files));
    }
    if (!sent) {
        MSTEAMS_TRY(attach_files(*t, files.files, out));
        if (!pending) {
            MSTEAMS_TRY(repos_.messages->mark_pending(store::MessageLink{
                t->chat_id, marker, {}, item.channel_id, store::Origin::mattermost, 0, clock(), false}));
        }
        MSTEAMS_TRY_ASSIGN(sent, graph_->send_message(t->token, t->thread, out));
    }
    auto const recorded = lease.finish([&](store::Tx& done) -> Status {
        MSTEAMS_TRY(repos_.messages->forget(done, t->chat_id, marker));
        return repos_.messages->put(
            done, store::MessageLink{t->chat_id, sent->id, item.post_id, item.channel_id, store::Origin::mattermost,
                                     sent->last_modified_at, 0, false});
    });
    if (!recorded) {
        return recorded;
    }
    ++(t->relay ? stats_->relayed_posts : stats_->sent_posts);
    stats_->post_to_teams_seconds.observe(static_cast<double>(clock() - item.sort_at) / 1000.0);
    log::debug("sent a post to Teams", {{"post_id", item.post_id},
                                        {"outbox_id", std::to_string(item.id)},
                                        {"message_id", sent->id},
                                        {"attempt", std::to_string(item.attempts + 1)}});
    if (!files.skipped.empty()) {
        std::string names;
        for (auto const& n : files.skipped) {
            names += (names.empty() ? "" : ", ") + n;
        }
        tell(item.user_id, item.channel_id,
             "Your message reached Microsoft Teams without " + names + ": files larger than " +
                 std::to_string(settings_.max_file_size >> 20) + " MB are not sent to Teams.");
    }
    return {};
}

Result<std::optional<Outbound::Writer>> Outbound::writer_for(store::OutboxItem const& item,
                                                             store::MessageLink const& link, char const* what) {
    Writer w;
    MSTEAMS_TRY_ASSIGN(w.thread, thread_of(link.teams_thread_id));
    MSTEAMS_TRY_ASSIGN(w.author, teams_id_for(item.user_id));
    auto token = logins_->access_token(item.user_id);
    if (token) {
        w.token = *token;
        return std::optional<Writer>(std::move(w));
    }
    if (!not_connected(token.error())) {
        return std::unexpected(token.error());
    }
    if (w.thread.channel()) {
        // In a linked channel the relay posted the messages of those who are not connected: it changes them too.
        auto relay = logins_->access_token(settings_.bot_user_id);
        if (relay) {
            w.token = *relay;
            w.relay = true;
            std::optional<store::Account> bot;
            MSTEAMS_TRY_ASSIGN(bot, logins_->account(settings_.bot_user_id));
            w.author = bot ? std::optional<TeamsUserId>(bot->teams_user_id) : std::nullopt;
            return std::optional<Writer>(std::move(w));
        }
        if (!not_connected(relay.error())) {
            return std::unexpected(relay.error());
        }
    }
    tell(item.user_id, item.channel_id,
         std::string("Your ") + what + " was not sent to Microsoft Teams because your account is not connected.");
    return std::optional<Writer>();
}

bool Outbound::scope_missing(Error const& e, store::OutboxItem const& item, Writer const& w, char const* what) {
    // Changing a channel message needs ChannelMessage.ReadWrite, which connections made before this version did not
    // ask for (their refresh asks for it, but an admin may not have granted it yet): the author is told, the change
    // stays in Mattermost.
    if (!w.thread.channel() || e.code != ErrorCode::permission_denied) {
        return false;
    }
    log::warn("Graph refused a change to a channel message", {{"post_id", item.post_id}, {"error", e.message}});
    tell(item.user_id, item.channel_id,
         std::string("Your ") + what +
             " was not sent to Microsoft Teams: the Teams connection may not change channel messages (it lacks the "
             "ChannelMessage.ReadWrite permission). A system admin can grant it to the app in Microsoft Entra ID; "
             "then run `/msteams disconnect` and `/msteams connect`." +
             (w.relay ? " (The message was posted by the bridge's bot for you.)" : ""));
    return true;
}

Status Outbound::send_edit(Lease& lease, store::OutboxItem const& item) {
    std::optional<store::MessageLink> link;
    MSTEAMS_TRY_ASSIGN(link, repos_.messages->by_post(item.post_id));
    if (!link || link->origin != store::Origin::mattermost || link->deleted) {
        return {};
    }
    std::optional<Writer> w;
    MSTEAMS_TRY_ASSIGN(w, writer_for(item, *link, "edit"));
    if (!w) {
        return {};
    }
    auto const payload = json::parse(item.payload, nullptr, false);
    auto converted = convert::markdown_to_teams(payload.is_object() ? text(payload, "message") : "", {});
    if (!converted) {
        return fail(ErrorCode::invalid_argument, "the edit could not be converted: " + converted.error().message);
    }
    graph::NewMessage out;
    out.html = converted->html;
    if (w->relay) {
        auto const author = api_->get_user(item.user_id);
        auto const name =
            author ? (author->first_name.empty() ? author->username : author->first_name + " " + author->last_name)
                   : std::string("Someone");
        out.html = "<p><b>" + strings::html_escape(name) + "</b> (from Mattermost):</p>" + out.html;
    }
    MSTEAMS_TRY(lease.begin_write(link->teams_thread_id));
    if (auto s = graph_->update_message(w->token, w->thread, link->teams_message_id, out); !s) {
        if (scope_missing(s.error(), item, *w, "edit")) {
            return lease.finish([](store::Tx&) { return Status{}; });
        }
        return s;
    }
    MSTEAMS_TRY(lease.finish([](store::Tx&) { return Status{}; }));
    ++stats_->sent_edits;
    return {};
}

Status Outbound::send_delete(Lease& lease, store::OutboxItem const& item) {
    std::optional<store::MessageLink> link;
    MSTEAMS_TRY_ASSIGN(link, repos_.messages->by_post(item.post_id));
    if (!link || link->origin != store::Origin::mattermost || link->deleted) {
        return {};
    }
    std::optional<Writer> w;
    MSTEAMS_TRY_ASSIGN(w, writer_for(item, *link, "deletion"));
    if (!w || !w->author) {
        return {};  // the author is not connected any more: Teams keeps the message
    }
    MSTEAMS_TRY(lease.begin_write(link->teams_thread_id));
    auto const deleted = graph_->soft_delete_message(w->token, *w->author, w->thread, link->teams_message_id);
    if (!deleted && deleted.error().code != ErrorCode::not_found) {
        if (scope_missing(deleted.error(), item, *w, "deletion")) {
            return lease.finish([](store::Tx&) { return Status{}; });
        }
        return deleted;
    }
    link->deleted = true;
    MSTEAMS_TRY(lease.finish([&](store::Tx& done) { return repos_.messages->put(done, *link); }));
    ++stats_->sent_deletes;
    return {};
}

Status Outbound::send_reaction(Lease& lease, store::OutboxItem const& item, bool add) {
    std::optional<store::MessageLink> link;
    MSTEAMS_TRY_ASSIGN(link, repos_.messages->by_post(item.post_id));
    if (!link || link->deleted || link->mm_post_id.empty()) {
        return {};
    }
    auto const payload = json::parse(item.payload, nullptr, false);
    auto const emoji = payload.is_object() ? text(payload, "emoji") : std::string();
    auto const reaction = convert::emoji_to_reaction(emoji);
    std::optional<TeamsUserId> teams_user;
    MSTEAMS_TRY_ASSIGN(teams_user, teams_id_for(item.user_id));
    if (!reaction || !teams_user) {
        return {};
    }
    // Reactions that came from Teams are known already.
    store::AutoCommit tx(*repos_.db);
    std::vector<store::ReactionLink> known;
    MSTEAMS_TRY_ASSIGN(known, repos_.reactions->list(tx, item.post_id));
    auto const it = std::find_if(known.begin(), known.end(),
                                 [&](auto const& k) { return k.mm_user_id == item.user_id && k.emoji_name == emoji; });
    if (add == (it != known.end())) {
        return {};
    }
    auto token = logins_->access_token(item.user_id);
    if (!token) {
        if (not_connected(token.error())) {
            return {};  // nobody can react in someone else's name
        }
        return std::unexpected(token.error());
    }
    store::ReactionLink r{item.post_id, item.user_id, emoji, *teams_user, *reaction};
    graph::Thread thread;
    MSTEAMS_TRY_ASSIGN(thread, thread_of(link->teams_thread_id));
    MSTEAMS_TRY(lease.begin_write(link->teams_thread_id));
    if (add) {
        MSTEAMS_TRY(graph_->set_reaction(*token, thread, link->teams_message_id, *reaction));
        MSTEAMS_TRY(lease.finish([&](store::Tx& done) { return repos_.reactions->add(done, r); }));
    } else {
        MSTEAMS_TRY(graph_->unset_reaction(*token, thread, link->teams_message_id, it->reaction_type));
        MSTEAMS_TRY(lease.finish([&](store::Tx& done) { return repos_.reactions->remove(done, r); }));
    }
    ++stats_->sent_reactions;
    return {};
}

}  // namespace msteams::sync
