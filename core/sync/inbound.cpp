#include "sync/inbound.hpp"

#include <algorithm>
#include <charconv>
#include <exception>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>
#include <tuple>

#include "common/backoff.hpp"
#include "common/clock.hpp"
#include "common/log.hpp"
#include "common/strings.hpp"
#include "convert/convert.hpp"
#include "crypto/rich.hpp"
#include "sync/lease_keeper.hpp"
#include "sync/post_props.hpp"

namespace msteams::sync {
namespace {

using nlohmann::json;

constexpr std::size_t k_max_post_chars = 16'000;  // Mattermost's limit is 16,383 runes
constexpr std::size_t k_max_files_per_post = 10;
constexpr int k_max_attempts_permanent = 5;
constexpr int k_max_attempts_transient = 30;  // with backoff capped at 5 minutes: about two hours
constexpr std::int64_t k_pending_window_ms = 60'000;
constexpr std::size_t k_max_discovery_users = 10'000;
constexpr std::size_t k_max_discovery_chats = 1'000;
// How long an interrupted outbound send holds back the chat's inbound changes at most.
constexpr std::int64_t k_send_resolution_ms = 5 * 60'000;

bool token_refused(Error const& e) {
    return e.code == ErrorCode::unauthenticated || e.code == ErrorCode::permission_denied;
}

std::string megabytes(std::int64_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MB"; }

std::string teams_link(std::string const& web_url, TeamsThreadId const& chat_id, TeamsMessageId const& message_id) {
    return web_url + "/l/message/" + strings::url_encode(chat_id.str()) + "/" + strings::url_encode(message_id.str()) +
           "?context=%7B%22contextType%22%3A%22chat%22%7D";
}

using strings::utf8_prefix;  // trims to at most n bytes without cutting a UTF-8 sequence

// How many attempts an item gets before it is set aside as a dead letter.
int max_attempts(Error const& e) {
    return e.code == ErrorCode::unavailable ? k_max_attempts_transient : k_max_attempts_permanent;
}

// When the newest of these messages last changed (0 for none): where the cursor moves once they are applied.
std::int64_t newest_change(std::vector<graph::ChatMessage> const& messages) {
    std::int64_t newest = 0;
    for (auto const& m : messages) {
        newest = std::max(newest, m.last_modified_at);
    }
    return newest;
}

// When the oldest of a batch's notifications arrived (Unix ms).
std::int64_t oldest_received(std::vector<store::InboxItem> const& items) {
    std::int64_t oldest = items.front().received_at;
    for (auto const& item : items) {
        oldest = std::min(oldest, item.received_at);
    }
    return oldest;
}

// In the order they were written (Graph keeps no order between notifications, nor between pages).
void sort_oldest_first(std::vector<graph::ChatMessage>& messages) {
    std::stable_sort(messages.begin(), messages.end(), [](auto const& a, auto const& b) {
        return std::tie(a.created_at, a.id) < std::tie(b.created_at, b.id);
    });
}

// Adds what rich notifications carried to what was read (the newer version of a message wins); empties `heard`.
void merge_heard(std::vector<graph::ChatMessage>& messages, std::map<TeamsMessageId, graph::ChatMessage>& heard) {
    for (auto& [id, m] : heard) {
        auto const same = std::find_if(messages.begin(), messages.end(), [&](auto const& r) { return r.id == id; });
        if (same == messages.end()) {
            messages.push_back(std::move(m));
        } else if (m.last_modified_at > same->last_modified_at) {
            *same = std::move(m);
        }
    }
    heard.clear();
}

// A channel post's subject line, in bold above its text as Teams shows it (escaped like any Teams text).
std::string with_subject(std::string const& subject, std::string text) {
    if (subject.empty()) {
        return text;
    }
    auto converted = convert::teams_to_markdown(subject, "text", {}, {});
    if (!converted || converted->markdown.empty()) {
        return text;
    }
    return "**" + converted->markdown + "**\n" + text;
}

// The Teams message a post was made from (the prop the bridge set); empty when it has none of that shape.
TeamsMessageId posted_message_id(std::string const& props_json) {
    auto const props = json::parse(props_json, nullptr, false);
    if (props.is_object() && props.contains(k_teams_message_prop) && props[k_teams_message_prop].is_string()) {
        return TeamsMessageId::parse(props[k_teams_message_prop].get<std::string>()).value_or(TeamsMessageId());
    }
    return {};
}

}  // namespace

// One thread's processing: the connected members whose tokens may read it, tried in turn.
struct Inbound::Work {
    TeamsThreadId chat_id;
    // How Graph addresses it: the chat, or a linked channel (with its team).
    graph::Thread thread;
    // A linked channel is read with the app's token (ChannelMessage.Read.All), not a member's.
    graph::AppTokens* app = nullptr;
    // When the notifications of the batch arrived, by message (for the notification → post latency).
    std::vector<std::pair<TeamsMessageId, std::int64_t>> notified_at;
    std::vector<std::pair<TeamsUserId, MmUserId>> connected;
    std::size_t member = 0;
    std::string token;
    Connections* logins = nullptr;
    // Mirror mode, every connected member chose notifications only: these are told instead (Audience).
    bool notify_only = false;
    std::vector<std::pair<TeamsUserId, MmUserId>> recipients{};
    // Linked channels are always mirrored.
    [[nodiscard]] bool notifying(InboundMode mode) const {
        return !thread.channel() && (mode == InboundMode::notifications || notify_only);
    }

    template <class F>
    auto with_token(F&& call) -> decltype(call(std::string())) {
        if (app != nullptr) {
            auto t = app->app_token();
            if (!t) {
                return std::unexpected(t.error());
            }
            return call(t->access_token);
        }
        Error last{ErrorCode::permission_denied, "no connected member of the chat can read it", 0, {}};
        while (member < connected.size()) {
            if (token.empty()) {
                auto t = logins->access_token(connected[member].second);
                if (!t) {
                    if (t.error().code != ErrorCode::permission_denied && t.error().code != ErrorCode::not_found) {
                        return std::unexpected(t.error());
                    }
                    last = t.error();
                    ++member;
                    continue;
                }
                token = *t;
            }
            auto r = call(token);
            if (!r && token_refused(r.error())) {
                // This member may have left the chat or lost access; another member may still read it.
                last = r.error();
                token.clear();
                ++member;
                continue;
            }
            return r;
        }
        return std::unexpected(last);
    }
};

Inbound::Inbound(InboundSettings settings, std::shared_ptr<mm::Api> api, store::Repositories repos,
                 std::shared_ptr<Connections> logins, std::shared_ptr<graph::ChatApi> graph,
                 std::shared_ptr<graph::AppTokens> entra, std::shared_ptr<People> people,
                 std::shared_ptr<metrics::Counters> stats)
    : settings_(std::move(settings)),
      api_(std::move(api)),
      repos_(std::move(repos)),
      logins_(std::move(logins)),
      graph_(std::move(graph)),
      entra_(std::move(entra)),
      people_(std::move(people)),
      stats_(std::move(stats)),
      workers_(
          "inbox", settings_.workers, std::chrono::seconds(1), [this] { return run_once(); },
          &stats_->worker_exceptions) {}

Inbound::~Inbound() { stop(); }

void Inbound::start() { workers_.start(); }
void Inbound::stop() { workers_.stop(); }
void Inbound::wake() { workers_.wake(); }

Result<bool> Inbound::run_once() {
    auto const now = now_ms();
    std::vector<store::InboxItem> items;
    MSTEAMS_TRY_ASSIGN(items, repos_.inbox->claim(now, now + k_claim_lease.count(), 100));
    if (items.empty()) {
        return false;
    }
    ++stats_->inbox_batches;
    int attempts = 0;  // counted when claimed: a crash mid-batch counts too
    std::vector<std::int64_t> ids;
    for (auto const& i : items) {
        attempts = std::max(attempts, i.attempts);
        ids.push_back(i.id);
    }
    Result<Outcome> done = std::unexpected(Error{});
    {
        // The batch stays this worker's while it works (a crashed worker's comes back when its lease lapses).
        LeaseKeeper const keeper(k_claim_renew_every, [&] {
            if (auto s = repos_.inbox->renew(ids, now_ms() + k_claim_lease.count()); !s) {
                log::warn("could not renew the lease of Teams changes", {{"error", s.error().message}});
            }
        });
        done = guarded(stats_->worker_exceptions, [&] { return process(items, attempts); });
    }
    if (done && *done == Outcome::wait_for_sender) {
        MSTEAMS_TRY(repos_.inbox->delay(ids, now_ms() + 1000));
        return true;
    }
    if (done && *done == Outcome::hold) {
        MSTEAMS_TRY(repos_.inbox->delay(ids, oldest_received(items) + settings_.rich_hold_ms));
        return true;
    }
    if (done) {
        // Applied: a crash before this commit only repeats work that is idempotent.
        MSTEAMS_TRY(repos_.db->transact([&](store::Tx& tx) { return repos_.inbox->remove(tx, ids); }));
        return true;
    }
    auto const& e = done.error();
    ++stats_->failures;
    if (attempts >= max_attempts(e)) {
        // Set aside, visible to admins and retryable: the chat's later changes go on.
        stats_->dead_lettered += items.size();
        log::error("Teams changes failed repeatedly; set aside as dead letters",
                   {{"chat_id", items.front().thread_id},
                    {"count", std::to_string(items.size())},
                    {"attempts", std::to_string(attempts)},
                    {"error", e.message}});
        MSTEAMS_TRY(repos_.db->transact(
            [&](store::Tx& tx) { return repos_.inbox->dead_letter(tx, items, e.message, now_ms()); }));
        return true;
    }
    std::int64_t const delay_ms = retry_delay(attempts, e.retry_after).count();
    log::warn("could not apply Teams changes; trying again later", {{"chat_id", items.front().thread_id},
                                                                    {"attempt", std::to_string(attempts)},
                                                                    {"retry_in_ms", std::to_string(delay_ms)},
                                                                    {"error", e.message}});
    MSTEAMS_TRY(repos_.inbox->postpone(ids, now_ms() + delay_ms, e.message));
    return true;
}

Status Inbound::schedule_catch_up(std::string const& reason) {
    std::vector<store::Portal> portals;
    MSTEAMS_TRY_ASSIGN(portals, repos_.portals->list(store::PortalKind::chat));
    std::vector<store::Portal> channels;
    MSTEAMS_TRY_ASSIGN(channels, repos_.portals->list(store::PortalKind::channel));
    std::vector<store::InboxItem> items;
    auto const now = now_ms();
    for (auto const& p : portals) {
        items.push_back(store::InboxItem{0, now, {}, store::Change::catchup, p.teams_thread_id, {}, 0});
    }
    for (auto const& p : channels) {  // linked channels: read forward from their cursors
        items.push_back(store::InboxItem{0, now, {}, store::Change::catchup, p.teams_thread_id, {}, 0});
    }
    // Chats first seen while the bridge was away have no portal yet: a connected member's chats updated since the
    // bridge last read Teams are read from then on, oldest first.
    std::int64_t since = 0;
    MSTEAMS_TRY_ASSIGN(since, repos_.portals->newest_chat_cursor());
    std::size_t discovered = 0;
    if (since > 0) {
        std::set<TeamsThreadId> known;
        for (auto const& p : portals) {
            known.insert(p.teams_thread_id);
        }
        std::vector<MmUserId> users;
        MSTEAMS_TRY_ASSIGN(users, logins_->connected_users(k_max_discovery_users));
        for (auto const& user : users) {
            auto token = logins_->access_token(user);
            if (!token) {
                continue;  // not usable now; another member may see the chat
            }
            auto chats = graph_->list_my_chats(*token, k_max_discovery_chats);
            if (!chats) {
                log::warn("could not list a connected user's Teams chats", {{"error", chats.error().message}});
                continue;
            }
            for (auto const& c : *chats) {
                if (c.last_updated_at > since - settings_.cursor_overlap_ms && known.insert(c.id).second) {
                    items.push_back(store::InboxItem{0, now, {}, store::Change::catchup, c.id, {}, 0, since});
                    ++discovered;
                }
            }
        }
    }
    MSTEAMS_TRY(repos_.inbox->enqueue(items));
    stats_->catchups += items.size();
    log::info("catching up with Teams chats",
              {{"reason", reason}, {"chats", std::to_string(items.size())}, {"new_chats", std::to_string(discovered)}});
    wake();
    return {};
}

Status Inbound::schedule_reconcile() {
    constexpr std::int64_t k_active_window_ms = 24 * 60 * 60'000LL;
    auto const now = now_ms();
    std::int64_t queued = 0;
    MSTEAMS_TRY_ASSIGN(queued, repos_.inbox->enqueue_reconcile(now - k_active_window_ms, now));
    stats_->reconciles += static_cast<std::uint64_t>(queued);
    if (queued > 0) {
        wake();
    }
    return {};
}

Result<std::vector<TeamsUserId>> Inbound::chat_members(TeamsThreadId const& chat_id, bool refresh) {
    auto ids = one_on_one_members(chat_id);
    if (!ids.empty()) {
        return ids;  // known from the id itself: no request
    }
    std::optional<store::ChatInfo> cached;
    MSTEAMS_TRY_ASSIGN(cached, repos_.chats->find(chat_id));
    auto const now = now_ms();
    if (cached && !refresh && now - cached->checked_at < settings_.chat_info_ttl_ms) {
        return cached->member_ids;
    }
    graph::Token app;
    MSTEAMS_TRY_ASSIGN(app, entra_->app_token());
    auto chat = graph_->get_chat(app.access_token, chat_id, /*with_members=*/true);
    if (!chat) {
        if (chat.error().code == ErrorCode::not_found) {
            return std::vector<TeamsUserId>();
        }
        return std::unexpected(chat.error());
    }
    store::ChatInfo info{chat_id, {}, chat->web_url, now};
    for (auto const& m : chat->members) {
        if (!m.user_id.empty()) {
            info.member_ids.push_back(m.user_id);
        }
    }
    std::sort(info.member_ids.begin(), info.member_ids.end());
    MSTEAMS_TRY(repos_.chats->put(info));
    return info.member_ids;
}

Result<store::Portal> Inbound::ensure_portal(TeamsThreadId const& chat_id, std::vector<TeamsUserId> const& members) {
    std::optional<store::Portal> existing;
    MSTEAMS_TRY_ASSIGN(existing, repos_.portals->by_thread(chat_id));
    if (existing) {
        return *existing;
    }
    std::vector<MmUserId> users;
    for (auto const& teams_id : members) {
        std::optional<MmUserId> user;
        MSTEAMS_TRY_ASSIGN(user, people_->mm_user_for(TeamsProfile{teams_id, "", "", false}));
        if (!user) {
            continue;  // a guest, not synced
        }
        if (std::find(users.begin(), users.end(), *user) == users.end()) {
            users.push_back(*user);
        }
    }
    if (users.empty()) {
        return fail(ErrorCode::invalid_argument, "the chat has no members that can be bridged");
    }
    if (users.size() > 8) {
        return fail(ErrorCode::invalid_argument, "the chat has " + std::to_string(users.size()) +
                                                     " members; a Mattermost group message holds at most 8");
    }
    mm::Channel channel;
    if (users.size() <= 2) {
        MSTEAMS_TRY_ASSIGN(channel, api_->get_direct_channel(users.front(), users.back()));
    } else {
        MSTEAMS_TRY_ASSIGN(channel, api_->get_group_channel(users));
    }
    store::Portal portal{chat_id, store::PortalKind::chat, "", channel.id, {}, now_ms(), 0};
    MSTEAMS_TRY_ASSIGN(portal, repos_.portals->add(portal));
    log::info("bridging a Teams chat", {{"chat_id", chat_id}, {"channel_id", portal.mm_channel_id}});
    return portal;
}

namespace {

// When the batch's notifications arrived, by message.
std::vector<std::pair<TeamsMessageId, std::int64_t>> notified_at(std::vector<store::InboxItem> const& items) {
    std::vector<std::pair<TeamsMessageId, std::int64_t>> out;
    for (auto const& item : items) {
        if (!item.message_id.empty() && item.received_at > 0) {
            out.emplace_back(item.message_id, item.received_at);
        }
    }
    return out;
}

}  // namespace

Status Inbound::open_rich(std::vector<store::InboxItem> const& items,
                          std::map<TeamsMessageId, graph::ChatMessage>& heard, std::set<TeamsMessageId>& dropped) {
    std::set<TeamsMessageId> kept;  // messages with an item that was not refused
    for (auto const& item : items) {
        if (item.change_type == store::Change::catchup) {
            continue;
        }
        if (item.content.empty() || !settings_.certificates) {
            kept.insert(item.message_id);
            continue;
        }
        auto const refuse = [&](std::string_view reason) {
            stats_->rich_refused.add({"worker", std::string(reason)});
            log::warn("a rich Teams notification did not open; nothing of it is applied",
                      {{"chat_id", item.thread_id}, {"message_id", item.message_id}, {"reason", std::string(reason)}});
        };
        auto const content = json::parse(item.content, nullptr, false);
        auto const field = [&](char const* name) -> std::string {
            return content.is_object() && content.contains(name) && content[name].is_string()
                       ? content[name].get<std::string>()
                       : std::string();
        };
        auto key = settings_.certificates->private_key(field("encryptionCertificateId"));
        if (!key) {
            if (key.error().code != ErrorCode::not_found && key.error().code != ErrorCode::permission_denied) {
                return std::unexpected(key.error());  // the database: try again
            }
            refuse("certificate");
            continue;
        }
        auto const opened =
            crypto::decrypt_rich_content(**key, field("data"), field("dataKey"), field("dataSignature"));
        if (!opened.ok) {
            refuse(crypto::to_string(opened.refusal));
            continue;
        }
        auto message = graph::parse_chat_message(opened.plaintext);
        // What Graph encrypted names the message the notification does (anything else would be a replay).
        if (!message || message->id != item.message_id ||
            (!message->chat_id.empty() && message->chat_id != item.thread_id)) {
            refuse("content");
            continue;
        }
        kept.insert(item.message_id);
        auto const it = heard.find(message->id);
        bool const newer = it == heard.end() || message->last_modified_at > it->second.last_modified_at ||
                           (message->last_modified_at == it->second.last_modified_at && message->deleted_at != 0);
        if (newer) {
            auto const id = message->id;
            heard[id] = *std::move(message);
        }
    }
    for (auto const& item : items) {
        if (item.change_type != store::Change::catchup && !kept.contains(item.message_id)) {
            dropped.insert(item.message_id);
        }
    }
    return {};
}

Result<bool> Inbound::take_audience(Work& work, std::vector<TeamsUserId> const& members, std::size_t items) {
    if (!settings_.audience || settings_.mode != InboundMode::mirror) {
        return true;
    }
    ChatPlan chat_plan;
    MSTEAMS_TRY_ASSIGN(chat_plan, settings_.audience->for_teams_members(members));
    if (chat_plan.bridging == Bridging::none) {
        stats_->skipped_selective += items;
        log::debug("a Teams chat is not bridged", {{"chat_id", work.chat_id}, {"reason", chat_plan.reason}});
        return false;
    }
    if (chat_plan.bridging == Bridging::notify) {
        work.notify_only = true;
        for (auto const& m : chat_plan.notify) {
            work.recipients.emplace_back(m.teams_user_id, m.mm_user_id);
        }
    }
    return true;
}

Result<Inbound::Outcome> Inbound::process_channel(std::vector<store::InboxItem> const& items,
                                                  store::Portal const& portal, int attempts) {
    // A linked channel: read with the app's token, posted as its authors (connected, matched or synthetic users),
    // replies in their Mattermost threads. No transaction stays open across a network call, as for chats.
    store::AutoCommit tx(*repos_.db);
    Work work;
    work.chat_id = portal.teams_thread_id;
    work.thread = graph::Thread(portal.teams_team_id, portal.teams_thread_id);
    work.app = entra_.get();
    work.logins = logins_.get();
    work.notified_at = notified_at(items);
    auto plan = plan_reads(items);
    std::int64_t echoed_to = 0;
    MSTEAMS_TRY_ASSIGN(echoed_to, skip_known(tx, portal.teams_thread_id, plan));
    std::optional<store::Portal> linked = portal;
    if (plan.wanted.empty() && !plan.catch_up) {
        if (echoed_to > 0) {
            MSTEAMS_TRY(repos_.portals->advance_cursor(tx, portal.teams_thread_id, echoed_to));
        }
        return Outcome::done;
    }
    // A few notified messages are read one by one; a catch-up, or a burst, reads the channel forward (one list of
    // roots with their replies answers for many).
    constexpr std::size_t k_read_each_below = 3;
    plan.each = !plan.catch_up && plan.wanted.size() < k_read_each_below;
    std::map<TeamsMessageId, graph::ChatMessage> none;
    return read_and_apply(tx, work, {}, linked, plan, none, echoed_to, attempts);
}

Result<Inbound::Outcome> Inbound::process(std::vector<store::InboxItem> const& items, int attempts) {
    auto const& chat_id = items.front().thread_id;
    std::optional<store::Portal> linked;
    MSTEAMS_TRY_ASSIGN(linked, repos_.portals->by_thread(chat_id));
    if (linked && linked->kind == store::PortalKind::channel) {
        return process_channel(items, *linked, attempts);  // a link is its admins' choice, whatever chat sync does
    }
    if (settings_.mode == InboundMode::off) {
        stats_->skipped_sync_off += items.size();
        return Outcome::done;
    }
    // No transaction stays open across a network call: what is written here is idempotent (the message map's keys,
    // the pending marker and the post prop make a repeat harmless).
    store::AutoCommit tx(*repos_.db);
    std::vector<TeamsUserId> members;
    MSTEAMS_TRY_ASSIGN(members, chat_members(chat_id, false));
    Work work;
    MSTEAMS_TRY_ASSIGN(work, readers(chat_id, members));
    if (work.connected.empty()) {
        stats_->skipped_no_connected_member += items.size();
        return Outcome::done;
    }
    bool bridged = true;
    MSTEAMS_TRY_ASSIGN(bridged, take_audience(work, members, items.size()));
    if (!bridged) {
        return Outcome::done;
    }

    work.notified_at = notified_at(items);
    auto plan = plan_reads(items);
    // Rich notifications carry their messages: those are applied as they are, with no Graph request.
    std::map<TeamsMessageId, graph::ChatMessage> heard;
    std::set<TeamsMessageId> dropped;
    MSTEAMS_TRY(open_rich(items, heard, dropped));
    std::erase_if(plan.wanted, [&](TeamsMessageId const& id) { return dropped.contains(id); });
    std::int64_t echoed_to = 0;
    MSTEAMS_TRY_ASSIGN(echoed_to, skip_known(tx, chat_id, plan));
    auto& wanted = plan.wanted;
    std::optional<store::Portal> portal;
    MSTEAMS_TRY_ASSIGN(portal, repos_.portals->by_thread(chat_id));
    if (wanted.empty() && !plan.catch_up) {
        if (portal && echoed_to > 0) {
            MSTEAMS_TRY(repos_.portals->advance_cursor(tx, chat_id, echoed_to));
        }
        return Outcome::done;
    }
    bool const all_heard =
        !plan.catch_up && plan.discover_since == 0 &&
        std::all_of(wanted.begin(), wanted.end(), [&](auto const& id) { return heard.contains(id); });
    bool const young = oldest_received(items) > now_ms() - settings_.rich_hold_ms;
    if (all_heard) {
        if (young) {
            return Outcome::hold;
        }
        return apply_heard(tx, work, members, portal, wanted, heard, attempts);
    }
    // A member's rich subscription carries this chat's messages: the basic notification's message is waited for
    // rather than read.
    if (young && !plan.catch_up && plan.discover_since == 0 && settings_.rich_covered) {
        std::vector<TeamsUserId> connected;
        for (auto const& c : work.connected) {
            connected.push_back(c.first);
        }
        if (settings_.rich_covered(connected)) {
            return Outcome::hold;
        }
    }

    if (!portal && plan.discover_since == 0 && !work.notifying(settings_.mode)) {
        // A chat's first messages, read: the one notified first need not be the first written (its notification,
        // or its trip through the inbox, can be slower than the next one's). The chat is read from a while before
        // them, once, so they are posted in the order written; later changes follow the chat's cursor. (Rich
        // copies were ordered by the hold above, as in any chat. A chat only notified about never has a portal:
        // each notification is about its own message.)
        plan.discover_since = std::max<std::int64_t>(1, oldest_received(items) - settings_.first_read_window_ms);
        plan.first_read = true;
    }

    return read_and_apply(tx, work, members, portal, plan, heard, echoed_to, attempts);
}

Result<Inbound::Outcome> Inbound::read_and_apply(store::Tx& tx, Work& work, std::vector<TeamsUserId> const& members,
                                                 std::optional<store::Portal>& portal, ReadPlan& plan,
                                                 std::map<TeamsMessageId, graph::ChatMessage>& heard,
                                                 std::int64_t echoed_to, int attempts) {
    auto const& chat_id = work.chat_id;
    auto& wanted = plan.wanted;
    // A first read keeps the notified messages whatever their age (see first_read below).
    std::vector<TeamsMessageId> const notified = plan.first_read ? wanted : std::vector<TeamsMessageId>{};
    // Forward from the cursor, oldest first, in bounded chunks (see read_forward_from); else the notified messages.
    auto const from = read_forward_from(portal, plan, settings_.cursor_overlap_ms);
    bool const forward = from.has_value();
    std::int64_t after = from.value_or(0);
    while (true) {
        // What the bridge changes in this chat from now on makes what is read below possibly stale (checked below).
        std::int64_t version = 0;
        MSTEAMS_TRY_ASSIGN(version, repos_.portals->version(tx, chat_id));
        std::vector<graph::ChatMessage> messages;
        bool more = false;
        if (forward) {
            MSTEAMS_TRY_ASSIGN(more, read_chunk(work, after, wanted, messages));
        }
        if (plan.first_read) {
            // Older messages edited since are history, not the chat's first posts (a notified one is kept).
            std::erase_if(messages, [&](graph::ChatMessage const& m) {
                return m.created_at < plan.discover_since &&
                       std::find(notified.begin(), notified.end(), m.id) == notified.end();
            });
        }
        if (!more) {
            // What rich notifications carried is not read again; it joins the last chunk.
            std::erase_if(wanted, [&](TeamsMessageId const& id) { return heard.contains(id); });
            MSTEAMS_TRY(read_each(work, wanted, messages));
            wanted.clear();
            merge_heard(messages, heard);
        }
        sort_oldest_first(messages);

        bool current = false;
        MSTEAMS_TRY_ASSIGN(current, read_is_current(tx, chat_id, version, messages));
        if (!current) {
            return Outcome::wait_for_sender;
        }

        std::int64_t const newest_listed = newest_change(messages);
        std::int64_t const newest = std::max(echoed_to, newest_listed);
        if (work.notifying(settings_.mode)) {
            MSTEAMS_TRY(notify(tx, work, messages));
            return Outcome::done;
        }
        MSTEAMS_TRY(apply(tx, work, chat_id, members, portal, messages, attempts));
        if (portal && newest > 0) {
            MSTEAMS_TRY(repos_.portals->advance_cursor(tx, chat_id, newest));
        }
        if (!more) {
            return Outcome::done;
        }
        if (newest_listed <= after) {  // more than a chunk in one millisecond: never loop on it
            log::warn("a Teams chat has more changes in one instant than can be read at once; some may be skipped",
                      {{"chat_id", chat_id}, {"read", std::to_string(messages.size())}});
            return Outcome::done;
        }
        after = newest_listed;
        ++stats_->catchup_chunks;
    }
}

Result<Inbound::Outcome> Inbound::apply_heard(store::Tx& tx, Work& work, std::vector<TeamsUserId> const& members,
                                              std::optional<store::Portal>& portal,
                                              std::vector<TeamsMessageId> const& wanted,
                                              std::map<TeamsMessageId, graph::ChatMessage>& heard, int attempts) {
    auto const& chat_id = work.chat_id;
    std::int64_t version = 0;
    MSTEAMS_TRY_ASSIGN(version, repos_.portals->version(tx, chat_id));
    std::vector<graph::ChatMessage> messages;
    for (auto const& id : wanted) {
        messages.push_back(std::move(heard[id]));
    }
    sort_oldest_first(messages);
    // The bridge's own sends in flight are waited for as after a read (an echo must find its link).
    bool current = false;
    MSTEAMS_TRY_ASSIGN(current, read_is_current(tx, chat_id, version, messages));
    if (!current) {
        return Outcome::wait_for_sender;
    }
    if (work.notifying(settings_.mode)) {
        MSTEAMS_TRY(notify(tx, work, messages));
        stats_->rich_applied += messages.size();
        return Outcome::done;
    }
    MSTEAMS_TRY(apply(tx, work, chat_id, members, portal, messages, attempts));
    stats_->rich_applied += messages.size();
    if (portal) {
        MSTEAMS_TRY(repos_.portals->mark_heard(tx, chat_id, newest_change(messages)));
    }
    return Outcome::done;
}

Result<Inbound::Work> Inbound::readers(TeamsThreadId const& chat_id, std::vector<TeamsUserId> const& members) {
    Work work;
    work.chat_id = chat_id;
    work.thread = chat_id;
    work.logins = logins_.get();
    for (auto const& m : members) {
        std::optional<MmUserId> mm;
        MSTEAMS_TRY_ASSIGN(mm, people_->connected_mm_user(m));
        if (mm) {
            work.connected.emplace_back(m, *mm);
        }
    }
    return work;
}

Result<bool> Inbound::read_chunk(Work& work, std::int64_t after, std::vector<TeamsMessageId>& wanted,
                                 std::vector<graph::ChatMessage>& messages) {
    graph::ChatApi::Page page;
    MSTEAMS_TRY_ASSIGN(page, work.with_token([&](std::string const& token) {
        return graph_->list_oldest_messages_since(token, work.thread, after, settings_.max_messages_per_read);
    }));
    messages = std::move(page.messages);
    std::erase_if(wanted, [&](TeamsMessageId const& id) {
        return std::any_of(messages.begin(), messages.end(), [&](auto const& m) { return m.id == id; });
    });
    return page.truncated;
}

Status Inbound::read_each(Work& work, std::vector<TeamsMessageId> const& ids,
                          std::vector<graph::ChatMessage>& messages) {
    // A notified message older than the cursor's window (a late redelivery) is read on its own.
    for (auto const& id : ids) {
        auto m = work.with_token([&](std::string const& token) { return graph_->get_message(token, work.thread, id); });
        if (!m) {
            if (m.error().code == ErrorCode::not_found) {
                ++stats_->duplicates;
                continue;
            }
            return std::unexpected(m.error());
        }
        messages.push_back(std::move(*m));
    }
    return {};
}

Result<bool> Inbound::read_is_current(store::Tx& tx, TeamsThreadId const& chat_id, std::int64_t version,
                                      std::vector<graph::ChatMessage> const& messages) {
    // A message from Mattermost may be in Teams before its sender has linked it: the sender's marker is committed
    // before the send and replaced by the link in one transaction, so checking the marker after reading Teams and
    // the links after the marker never sees neither. Such a chat waits a moment.
    bool in_flight = false;
    MSTEAMS_TRY_ASSIGN(in_flight, repos_.messages->sending_to(chat_id, now_ms() - k_send_resolution_ms));
    if (in_flight) {
        for (auto const& m : messages) {
            std::optional<store::MessageLink> link;
            MSTEAMS_TRY_ASSIGN(link, repos_.messages->find(tx, chat_id, m.id));
            if (!link) {
                return false;
            }
        }
    }
    // The sender announces each write to Teams before it starts and ends it with what it recorded. A write in
    // flight, or one that started after the version was read, may be missing from what was read (a reaction it just
    // set would look removed): read again.
    return repos_.portals->unchanged(tx, chat_id, version, now_ms());
}

Result<std::int64_t> Inbound::skip_known(store::Tx& tx, TeamsThreadId const& chat_id, ReadPlan& plan) {
    // A `created` notification for a message the map already has (our own coming back, or a redelivery) needs no
    // Graph request: the map knows it. Returns until when the bridge's own messages came back (for the cursor).
    std::int64_t echoed_to = 0;
    std::erase_if(plan.wanted, [&](TeamsMessageId const& id) -> bool {
        if (plan.changed.contains(id)) {
            return false;
        }
        auto link = repos_.messages->find(tx, chat_id, id);
        if (!link || !*link || (*link)->mm_post_id.empty()) {
            return false;  // unknown, pending, or unreadable now: read it
        }
        if ((*link)->origin == store::Origin::mattermost) {
            ++stats_->echoes;
            echoed_to = std::max(echoed_to, (*link)->teams_modified_at);
        } else {
            ++stats_->duplicates;
        }
        return true;
    });
    return echoed_to;
}

void Inbound::credit(Work const& work, std::vector<graph::ChatMessage> const& messages) {
    if (settings_.activity_half_life_ms <= 0 || !repos_.planning || work.connected.empty()) {
        return;
    }
    auto const n = std::count_if(messages.begin(), messages.end(),
                                 [](auto const& m) { return m.message_type == "message" && m.deleted_at == 0; });
    if (n == 0) {
        return;
    }
    std::vector<TeamsUserId> users;
    for (auto const& c : work.connected) {
        users.push_back(c.first);
    }
    // The ranking is a hint: a failure to keep it is logged, never a reason to apply a message again.
    if (auto s = repos_.planning->credit(users, static_cast<double>(n), now_ms(), settings_.activity_half_life_ms);
        !s) {
        log::warn("could not add to the chat members' activity",
                  {{"chat_id", work.chat_id}, {"error", s.error().message}});
    }
}

Status Inbound::apply(store::Tx& tx, Work& work, TeamsThreadId const& chat_id, std::vector<TeamsUserId> const& members,
                      std::optional<store::Portal>& portal, std::vector<graph::ChatMessage> const& messages,
                      int attempts) {
    for (auto const& m : messages) {
        if (m.message_type != "message") {
            ++stats_->skipped_not_a_message;
            continue;
        }
        if (!portal && m.deleted_at != 0) {
            continue;
        }
        auto applied = [&]() -> Status {
            if (!portal) {
                MSTEAMS_TRY_ASSIGN(portal, ensure_portal(chat_id, members));
            }
            return reconcile(tx, work, *portal, m);
        }();
        if (applied) {
            continue;
        }
        if (attempts < max_attempts(applied.error())) {
            return std::unexpected(applied.error());
        }
        // This message keeps failing: it is set aside (visible to admins, retryable) and the chat goes on.
        ++stats_->dead_lettered;
        log::error("a Teams message failed repeatedly; set aside as a dead letter",
                   {{"chat_id", chat_id},
                    {"message_id", m.id},
                    {"attempts", std::to_string(attempts)},
                    {"error", applied.error().message}});
        MSTEAMS_TRY(repos_.inbox->dead_letter_message(tx, chat_id, m.id, applied.error().message, attempts, now_ms()));
    }
    credit(work, messages);
    return {};
}

Result<std::string> Inbound::render(Work& work, graph::ChatMessage const& m, MmUserId const& author,
                                    MmChannelId const& channel_id, std::vector<std::string>& file_ids) {
    std::vector<convert::TeamsMention> mentions;
    for (auto const& x : m.mentions) {
        mentions.push_back(convert::TeamsMention{x.id, x.text, x.user_id.str()});
    }
    auto converted = convert::teams_to_markdown(
        m.body, m.body_content_type, mentions,
        // The converter hands back the ids of `mentions`, which were Teams user ids already.
        [this](std::string const& teams_user_id) { return people_->username_for(TeamsUserId(teams_user_id)); });
    std::string text;
    std::vector<std::string> notes;
    std::vector<std::string> hosted;
    if (converted) {
        text = std::move(converted->markdown);
        hosted = std::move(converted->hosted_content_ids);
        text = with_subject(m.subject, std::move(text));
    } else {
        log::warn("could not convert a Teams message",
                  {{"chat_id", m.chat_id}, {"message_id", m.id}, {"error", converted.error().message}});
        notes.push_back("This message could not be shown here: " + converted.error().message);
    }

    auto deliver = [&](std::string const& name, Result<std::string> bytes) {
        if (!bytes) {
            ++stats_->files_failed;
            notes.push_back(name + " could not be delivered" +
                            (bytes.error().code == ErrorCode::too_large
                                 ? ": it is larger than the " + megabytes(settings_.max_file_size) + " limit."
                                 : "."));
            return;
        }
        if (static_cast<std::int64_t>(bytes->size()) > settings_.max_file_size) {
            ++stats_->files_failed;
            notes.push_back(name + " could not be delivered: it is larger than the " +
                            megabytes(settings_.max_file_size) + " limit.");
            return;
        }
        if (file_ids.size() >= k_max_files_per_post) {
            ++stats_->files_failed;
            notes.push_back(name + " could not be delivered: a post holds at most " +
                            std::to_string(k_max_files_per_post) + " files.");
            return;
        }
        auto info = api_->upload_file(author, channel_id, name, *bytes);
        if (!info) {
            ++stats_->files_failed;
            notes.push_back(name + " could not be delivered: " + info.error().message);
            return;
        }
        ++stats_->files_delivered;
        file_ids.push_back(info->id);
    };
    int image = 0;
    for (auto const& hid : hosted) {
        ++image;
        deliver("image-" + std::to_string(image) + ".png", work.with_token([&](std::string const& token) {
            return graph_->get_hosted_content(
                token, work.thread.channel() || m.chat_id.empty() ? work.thread : graph::Thread(m.chat_id), m.id, hid);
        }));
    }
    for (auto const& a : m.attachments) {
        if (a.content_type == "reference") {
            auto const name = a.name.empty() ? std::string("file") : a.name;
            deliver(name, work.with_token(
                              [&](std::string const& token) { return graph_->download_shared(token, a.content_url); }));
        } else if (a.content_type != "messageReference") {
            notes.push_back("This message has content (" + utf8_prefix(a.content_type, 80) +
                            ") that can only be seen in Teams.");
        }
    }
    if (text.size() > k_max_post_chars) {
        text = utf8_prefix(text, k_max_post_chars);
        notes.push_back("This message was shortened; read it in full in Teams.");
    }
    for (auto const& n : notes) {
        text += (text.empty() ? "" : "\n\n") + std::string("*") + n + "*";
    }
    return text;
}

Result<MmPostId> Inbound::find_pending_post(store::Portal const& portal, store::MessageLink const& link,
                                            TeamsMessageId const& message_id) {
    // A post may have been created before a crash: find it instead of posting twice.
    std::vector<mm::Post> recent;
    MSTEAMS_TRY_ASSIGN(recent, api_->get_posts_since(portal.mm_channel_id, link.pending_since - k_pending_window_ms));
    for (auto const& p : recent) {
        if (posted_message_id(p.props_json) == message_id) {
            ++stats_->recovered_pending;
            return p.id;
        }
    }
    return MmPostId();
}

Result<MmPostId> Inbound::create_post(store::Tx& tx, Work& work, store::Portal const& portal,
                                      graph::ChatMessage const& m) {
    MmUserId author = settings_.bot_user_id;
    std::string prefix;
    if (!m.from.id.empty()) {
        std::optional<MmUserId> user;
        MSTEAMS_TRY_ASSIGN(user, people_->mm_user_for(TeamsProfile{m.from.id, m.from.display_name, "", false}));
        if (user) {
            author = *user;
        } else {
            prefix = "**" + m.from.display_name + "** (Teams guest):\n";  // not synced: the bot posts for them
        }
    } else {
        prefix = "**" + (m.from.display_name.empty() ? std::string("Teams") : m.from.display_name) + "**:\n";
    }
    mm::Post post;
    post.user_id = author;
    post.channel_id = portal.mm_channel_id;
    MSTEAMS_TRY_ASSIGN(post.message, render(work, m, author, portal.mm_channel_id, post.file_ids));
    post.message = prefix + post.message;
    if (portal.kind == store::PortalKind::channel) {
        // A channel reply goes into the Mattermost thread of its root ("<root>/<reply>").
        if (graph::is_channel_reply(m.id)) {
            MSTEAMS_TRY_ASSIGN(post.root_id, root_post(tx, portal, graph::channel_root_of(m.id)));
        }
    }
    // A quoted reply becomes a reply in the thread of the message it quotes.
    for (auto const& a : m.attachments) {
        if (a.content_type != "messageReference") {
            continue;
        }
        auto const ref = json::parse(a.content, nullptr, false);
        auto quoted = TeamsMessageId::parse(a.id);
        if (ref.is_object() && ref.contains("messageId") && ref["messageId"].is_string()) {
            quoted = TeamsMessageId::parse(ref["messageId"].get<std::string>());
        }
        if (!quoted) {
            break;  // not a message of this chat: posted as it is, outside any thread
        }
        std::optional<store::MessageLink> target;
        MSTEAMS_TRY_ASSIGN(target, repos_.messages->find(tx, portal.teams_thread_id, *quoted));
        if (target && !target->mm_post_id.empty() && !target->deleted) {
            auto const root = api_->get_post(target->mm_post_id);
            if (root) {
                post.root_id = root->root_id.empty() ? root->id : root->root_id;
            }
        }
        break;
    }
    post.props_json = json{{k_teams_message_prop, m.id}}.dump();
    post.create_at = post_clock_.next(portal.mm_channel_id.str(), now_ms());
    MSTEAMS_TRY(repos_.messages->mark_pending(store::MessageLink{
        portal.teams_thread_id, m.id, {}, portal.mm_channel_id, store::Origin::teams, 0, now_ms(), false}));
    mm::Post created;
    MSTEAMS_TRY_ASSIGN(created, api_->create_post(post));
    ++stats_->posts_created;
    for (auto const& [id, at] : work.notified_at) {
        if (id == m.id) {
            stats_->notification_to_post_seconds.observe(static_cast<double>(now_ms() - at) / 1000.0);
            break;
        }
    }
    return created.id;
}

Result<MmPostId> Inbound::root_post(store::Tx& tx, store::Portal const& portal, TeamsMessageId const& root) {
    std::optional<store::MessageLink> target;
    MSTEAMS_TRY_ASSIGN(target, repos_.messages->find(tx, portal.teams_thread_id, root));
    if (!target || target->mm_post_id.empty() || target->deleted) {
        return MmPostId();  // a root the bridge never posted (written before the link): the reply stands alone
    }
    auto const post = api_->get_post(target->mm_post_id);
    if (!post) {
        return post.error().code == ErrorCode::not_found ? Result<MmPostId>(MmPostId())
                                                         : Result<MmPostId>(std::unexpected(post.error()));
    }
    return post->root_id.empty() ? post->id : post->root_id;
}

Status Inbound::reconcile(store::Tx& tx, Work& work, store::Portal const& portal, graph::ChatMessage const& m) {
    std::optional<store::MessageLink> link;
    MSTEAMS_TRY_ASSIGN(link, repos_.messages->find(tx, portal.teams_thread_id, m.id));
    if (link && !link->mm_post_id.empty()) {
        if (link->deleted) {
            ++stats_->duplicates;
            return {};
        }
        if (m.deleted_at != 0) {
            if (auto s = api_->delete_post(link->mm_post_id); !s && s.error().code != ErrorCode::not_found) {
                return s;
            }
            link->deleted = true;
            link->teams_modified_at = m.last_modified_at;
            ++stats_->posts_deleted;
            return repos_.messages->put(tx, *link);
        }
        if (m.last_modified_at <= link->teams_modified_at) {
            ++(link->origin == store::Origin::mattermost ? stats_->echoes : stats_->unchanged);
            return {};
        }
        if (link->origin == store::Origin::teams && m.last_edited_at > 0) {
            mm::Post post;
            MSTEAMS_TRY_ASSIGN(post, api_->get_post(link->mm_post_id));
            std::vector<std::string> no_new_files;
            std::string text;
            graph::ChatMessage without_files = m;
            without_files.attachments.clear();
            MSTEAMS_TRY_ASSIGN(text, render(work, without_files, post.user_id, post.channel_id, no_new_files));
            if (text != post.message) {
                post.message = text;
                MSTEAMS_TRY(api_->update_post(post));
                ++stats_->posts_updated;
            }
        }
        MSTEAMS_TRY(reconcile_reactions(tx, link->mm_post_id, m));
        link->teams_modified_at = m.last_modified_at;
        return repos_.messages->put(tx, *link);
    }
    if (m.deleted_at != 0) {
        return {};  // created and deleted before we saw it
    }

    MmPostId post_id;
    if (link) {
        MSTEAMS_TRY_ASSIGN(post_id, find_pending_post(portal, *link, m.id));
    }
    if (post_id.empty()) {
        MSTEAMS_TRY_ASSIGN(post_id, create_post(tx, work, portal, m));
    }
    MSTEAMS_TRY(repos_.messages->put(tx, store::MessageLink{portal.teams_thread_id, m.id, post_id, portal.mm_channel_id,
                                                            store::Origin::teams, m.last_modified_at, 0, false}));
    return reconcile_reactions(tx, post_id, m);
}

Status Inbound::reconcile_reactions(store::Tx& tx, MmPostId const& post_id, graph::ChatMessage const& m) {
    std::vector<store::ReactionLink> known;
    MSTEAMS_TRY_ASSIGN(known, repos_.reactions->list(tx, post_id));
    std::map<std::pair<MmUserId, std::string>, store::ReactionLink> wanted;  // by (user, emoji)
    for (auto const& r : m.reactions) {
        auto const emoji = convert::reaction_to_emoji(r.reaction_type);
        if (!emoji || r.user_id.empty()) {
            continue;
        }
        std::optional<MmUserId> user;
        MSTEAMS_TRY_ASSIGN(user, people_->mm_user_for(TeamsProfile{r.user_id, "", "", false}));
        if (!user) {
            continue;  // a guest, not synced: their reaction stays in Teams
        }
        wanted.emplace(std::make_pair(*user, *emoji),
                       store::ReactionLink{post_id, *user, *emoji, r.user_id, r.reaction_type});
    }
    for (auto const& [key, r] : wanted) {
        bool const present = std::any_of(known.begin(), known.end(), [&](auto const& k) {
            return k.mm_user_id == r.mm_user_id && k.emoji_name == r.emoji_name;
        });
        if (present) {
            continue;
        }
        mm::Reaction reaction;
        reaction.user_id = r.mm_user_id;
        reaction.post_id = post_id;
        reaction.emoji_name = r.emoji_name;
        MSTEAMS_TRY(api_->add_reaction(reaction));
        MSTEAMS_TRY(repos_.reactions->add(tx, r));
        ++stats_->reactions_added;
    }
    for (auto const& k : known) {
        if (wanted.contains({k.mm_user_id, k.emoji_name})) {
            continue;
        }
        mm::Reaction reaction;
        reaction.user_id = k.mm_user_id;
        reaction.post_id = post_id;
        reaction.emoji_name = k.emoji_name;
        if (auto s = api_->remove_reaction(reaction); !s && s.error().code != ErrorCode::not_found) {
            return s;
        }
        MSTEAMS_TRY(repos_.reactions->remove(tx, k));
        ++stats_->reactions_removed;
    }
    return {};
}

Status Inbound::notify(store::Tx& tx, Work& work, std::vector<graph::ChatMessage> const& messages) {
    // Users who chose notifications only are not told while they are at Teams (they see the message there); their
    // presence is asked once for the batch, within the presence budget.
    std::set<TeamsUserId> at_teams;
    if (work.notify_only && settings_.audience && !messages.empty()) {
        std::vector<TeamsUserId> ids;
        for (auto const& r : work.recipients) {
            ids.push_back(r.first);
        }
        at_teams = settings_.audience->at_teams(ids);
    }
    for (auto const& m : messages) {
        MSTEAMS_TRY(notify(tx, work, m, at_teams));
    }
    return {};
}

Status Inbound::notify(store::Tx& tx, Work& work, graph::ChatMessage const& m, std::set<TeamsUserId> const& at_teams) {
    if (m.message_type != "message" || m.deleted_at != 0 || m.last_edited_at != 0) {
        return {};
    }
    auto converted = convert::teams_to_markdown(m.body, m.body_content_type, {}, {});
    std::string preview = converted ? converted->markdown : std::string();
    if (preview.size() > 300) {
        preview = utf8_prefix(preview, 300) + "…";
    }
    std::string quoted;
    for (auto const& line : strings::split(preview, '\n')) {
        quoted += "> " + line + "\n";
    }
    for (auto const& [teams_id, mm_id] : work.notify_only ? work.recipients : work.connected) {
        if (teams_id == m.from.id) {
            continue;  // their own message
        }
        if (at_teams.contains(teams_id)) {
            ++stats_->notifications_skipped_active;
            continue;
        }
        bool first = false;
        MSTEAMS_TRY_ASSIGN(first, repos_.notified->claim(tx, work.chat_id, m.id, mm_id));
        if (!first) {
            ++stats_->duplicates;
            continue;
        }
        // The claim is committed before the post (no transaction spans the call): a failed post releases it.
        auto dm = api_->get_direct_channel(settings_.bot_user_id, mm_id);
        if (!dm) {
            (void)repos_.notified->release(tx, work.chat_id, m.id, mm_id);
            return std::unexpected(dm.error());
        }
        mm::Post post;
        post.user_id = settings_.bot_user_id;
        post.channel_id = dm->id;
        post.message = "**" + (m.from.display_name.empty() ? std::string("Someone") : m.from.display_name) +
                       "** sent you a message in Microsoft Teams:\n" + quoted + "\n[Open in Teams](" +
                       teams_link(settings_.teams_web_url, work.chat_id, m.id) + ")";
        post.props_json = json{{k_teams_message_prop, m.id}}.dump();
        if (auto created = api_->create_post(post); !created) {
            (void)repos_.notified->release(tx, work.chat_id, m.id, mm_id);
            return std::unexpected(created.error());
        }
        ++stats_->notifications_sent;
    }
    return {};
}

}  // namespace msteams::sync
