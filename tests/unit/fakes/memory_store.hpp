#pragma once

// In-memory repositories for unit tests of the pipelines: the same contract as the PostgreSQL ones of
// core/store/<concern>.cpp (tests/unit/store/repositories_test.cpp runs its cases against both), with one
// lock over all tables. A transaction holds the lock and is undone when its work fails, as a rollback would be.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "common/clock.hpp"
#include "store/detail/sql.hpp"
#include "store/repositories.hpp"

namespace msteams::test {

struct MemoryTables {
    struct Queued {
        store::InboxItem item;
        std::int64_t not_before = 0;
        std::int64_t claimed_until = 0;
        std::int64_t first_failed_at = 0;
        std::string last_error;
    };
    struct Sending {
        store::OutboxItem item;
        std::int64_t not_before = 0;
        std::int64_t claimed_until = 0;
        std::int64_t first_failed_at = 0;
        std::string last_error;
    };
    struct PortalRow {
        store::Portal portal;
        std::int64_t version = 0;
        std::int64_t writing_until = 0;
        std::int64_t heard_at = 0;
    };
    struct LeaseRow {
        std::string holder;
        std::int64_t expires_at = 0;
    };

    std::map<MmUserId, store::Account> accounts;
    std::map<std::string, store::OAuthState> oauth_states;
    std::map<TeamsUserId, store::TeamsUser> users;
    std::vector<PortalRow> portals;
    std::map<TeamsThreadId, store::ChatInfo> chats;
    std::map<std::pair<TeamsThreadId, TeamsMessageId>, store::MessageLink> messages;
    std::vector<store::ReactionLink> reactions;
    std::set<std::tuple<TeamsThreadId, TeamsMessageId, MmUserId>> notified;
    std::vector<Queued> inbox;
    std::vector<Sending> outbox;
    std::map<std::string, std::int64_t> outbox_seen;  // event key → when the outbox was given it
    std::vector<store::DeadLetter> dead_letters;
    std::map<SubscriptionId, store::SubscriptionRow> subscriptions;
    std::map<std::string, LeaseRow> leases;
    std::map<std::string, std::int64_t> nodes;  // node id → last beat
    std::map<std::string, std::int64_t> notices;
    std::vector<store::CertificateRow> certificates;
    std::int64_t next_id = 1;
};

struct MemoryState {
    std::recursive_mutex mutex;
    MemoryTables tables;
    std::function<std::int64_t()> clock = [] { return now_ms(); };
};

namespace memory_detail {

class NoSql final : public store::Tx {
public:
    Result<store::Rows> exec(std::string_view, std::vector<store::Param> const&) override {
        return fail(ErrorCode::internal, "the in-memory store runs no SQL");
    }
};

class Base {
public:
    explicit Base(std::shared_ptr<MemoryState> state) : state_(std::move(state)) {}

protected:
    [[nodiscard]] std::unique_lock<std::recursive_mutex> lock() const { return std::unique_lock(state_->mutex); }
    [[nodiscard]] MemoryTables& t() const { return state_->tables; }
    [[nodiscard]] std::int64_t now() const { return state_->clock(); }
    std::shared_ptr<MemoryState> state_;
};

// The dead letters' payloads, written by the store's own functions (what DeadLetters::retry reads back).
inline std::string inbox_payload(store::InboxItem const& i) {
    return store::detail::inbox_payload(i.change_type, store::detail::message_column(i), i.subscription_id);
}
using store::detail::outbox_payload;

}  // namespace memory_detail

class MemoryDatabase final : public store::Database, memory_detail::Base {
public:
    using Base::Base;
    Status migrate() override { return {}; }
    Result<int> schema_version() override { return 0; }
    Status transact(std::function<Status(store::Tx&)> const& work) override {
        auto const held = lock();
        auto saved = t();
        memory_detail::NoSql tx;
        auto const done = work(tx);
        if (!done) {
            t() = std::move(saved);
        }
        return done;
    }
    Result<store::Rows> exec(std::string_view, std::vector<store::Param> const&) override {
        return fail(ErrorCode::internal, "the in-memory store runs no SQL");
    }
};

class MemoryAccounts final : public store::Accounts, memory_detail::Base {
public:
    using Base::Base;
    Result<std::optional<store::Account>> by_mm_user(MmUserId const& mm_user_id) override {
        auto const held = lock();
        auto const it = t().accounts.find(mm_user_id);
        return it == t().accounts.end() ? std::optional<store::Account>() : std::optional(it->second);
    }
    Result<std::optional<store::Account>> by_teams_user(TeamsUserId const& teams_user_id) override {
        auto const held = lock();
        for (auto const& [_, a] : t().accounts) {
            if (a.teams_user_id == teams_user_id) {
                return std::optional(a);
            }
        }
        return std::optional<store::Account>();
    }
    Status connect(store::Account const& account, int limit) override {
        auto const held = lock();
        bool already = false;
        for (auto it = t().accounts.begin(); it != t().accounts.end();) {
            if (it->first == account.mm_user_id) {
                already = it->second.connected();
            } else if (it->second.teams_user_id == account.teams_user_id) {
                if (it->second.connected()) {
                    return fail(ErrorCode::conflict, "that Teams account is connected to another Mattermost user");
                }
                it = t().accounts.erase(it);
                continue;
            }
            ++it;
        }
        int connected = 0;
        for (auto const& [_, a] : t().accounts) {
            connected += a.connected() ? 1 : 0;
        }
        if (!already && connected >= limit) {
            return fail(ErrorCode::permission_denied, "the limit of connected users is reached");
        }
        t().accounts[account.mm_user_id] = account;
        return {};
    }
    Status disconnect(MmUserId const& mm_user_id) override {
        auto const held = lock();
        auto const it = t().accounts.find(mm_user_id);
        if (it == t().accounts.end()) {
            return fail(ErrorCode::not_found, "not connected");
        }
        it->second.token_sealed.clear();
        it->second.disconnected_at = now();
        return {};
    }
    Status update_token(MmUserId const& mm_user_id, std::string const& token_sealed) override {
        auto const held = lock();
        auto const it = t().accounts.find(mm_user_id);
        if (it == t().accounts.end() || !it->second.connected()) {
            return fail(ErrorCode::not_found, "not connected");
        }
        it->second.token_sealed = token_sealed;
        return {};
    }
    Result<int> count_connected() override {
        auto const held = lock();
        return static_cast<int>(std::count_if(t().accounts.begin(), t().accounts.end(),
                                              [](auto const& a) { return a.second.connected(); }));
    }
    Result<std::vector<TeamsUserId>> connected_among(std::vector<TeamsUserId> const& ids) override {
        auto const held = lock();
        std::vector<TeamsUserId> out;
        for (auto const& [_, a] : t().accounts) {
            if (a.connected() && std::find(ids.begin(), ids.end(), a.teams_user_id) != ids.end()) {
                out.push_back(a.teams_user_id);
            }
        }
        return out;
    }
    Result<std::vector<MmUserId>> connected_users(std::size_t limit) override {
        auto const held = lock();
        std::vector<store::Account> connected;
        for (auto const& [_, a] : t().accounts) {
            if (a.connected()) {
                connected.push_back(a);
            }
        }
        std::stable_sort(connected.begin(), connected.end(),
                         [](auto const& a, auto const& b) { return a.connected_at > b.connected_at; });
        std::vector<MmUserId> out;
        for (auto const& a : connected) {
            if (out.size() < limit) {
                out.push_back(a.mm_user_id);
            }
        }
        return out;
    }
};

class MemoryOAuthStates final : public store::OAuthStates, memory_detail::Base {
public:
    using Base::Base;
    Status put(store::OAuthState const& state) override {
        auto const held = lock();
        t().oauth_states[state.state] = state;
        return {};
    }
    Result<store::OAuthState> take(std::string const& state, MmUserId const& mm_user_id) override {
        auto const held = lock();
        auto const it = t().oauth_states.find(state);
        if (it == t().oauth_states.end()) {
            return fail(ErrorCode::not_found, "unknown state");
        }
        if (it->second.mm_user_id != mm_user_id) {
            return fail(ErrorCode::permission_denied, "another user's state");
        }
        auto out = it->second;
        t().oauth_states.erase(it);
        return out;
    }
    Result<std::int64_t> purge_expired(std::int64_t now_ms) override {
        auto const held = lock();
        return static_cast<std::int64_t>(
            std::erase_if(t().oauth_states, [&](auto const& s) { return s.second.expires_at < now_ms; }));
    }
};

class MemoryUsers final : public store::Users, memory_detail::Base {
public:
    using Base::Base;
    Result<std::optional<store::TeamsUser>> by_teams_id(TeamsUserId const& teams_user_id) override {
        auto const held = lock();
        auto const it = t().users.find(teams_user_id);
        return it == t().users.end() ? std::optional<store::TeamsUser>() : std::optional(it->second);
    }
    Result<std::optional<store::TeamsUser>> by_mm_id(MmUserId const& mm_user_id) override {
        auto const held = lock();
        for (auto const& [_, u] : t().users) {
            if (u.mm_user_id == mm_user_id) {
                return std::optional(u);
            }
        }
        return std::optional<store::TeamsUser>();
    }
    Result<store::TeamsUser> add(store::TeamsUser const& user) override {
        auto const held = lock();
        return t().users.try_emplace(user.teams_user_id, user).first->second;
    }
    Status mark_promoted(MmUserId const& mm_user_id, std::int64_t at) override {
        auto const held = lock();
        for (auto& [_, u] : t().users) {
            if (u.mm_user_id == mm_user_id) {
                u.synthetic = false;
                u.promoted_at = at;
                return {};
            }
        }
        return fail(ErrorCode::not_found, "not a Teams user");
    }
};

class MemoryPortals final : public store::Portals, memory_detail::Base {
public:
    using Base::Base;
    Result<std::optional<store::Portal>> by_thread(TeamsThreadId const& id) override {
        auto const held = lock();
        auto const* row = find(id);
        return row ? std::optional(row->portal) : std::nullopt;
    }
    Result<std::optional<store::Portal>> by_channel(MmChannelId const& mm_channel_id) override {
        auto const held = lock();
        for (auto const& r : t().portals) {
            if (r.portal.mm_channel_id == mm_channel_id) {
                return std::optional(r.portal);
            }
        }
        return std::optional<store::Portal>();
    }
    Result<store::Portal> add(store::Portal const& portal) override {
        auto const held = lock();
        if (auto const* row = find(portal.teams_thread_id)) {
            return row->portal;
        }
        for (auto const& r : t().portals) {
            if (r.portal.mm_channel_id == portal.mm_channel_id) {
                return fail(ErrorCode::conflict,
                            "the Mattermost channel is already bridged to another Teams conversation");
            }
        }
        t().portals.push_back({portal, 0, 0});
        return portal;
    }
    Result<bool> remove(TeamsThreadId const& id) override {
        auto const held = lock();
        return std::erase_if(t().portals, [&](auto const& r) { return r.portal.teams_thread_id == id; }) > 0;
    }
    Result<std::vector<store::Portal>> list(store::PortalKind kind) override {
        auto const held = lock();
        std::vector<store::Portal> out;
        for (auto const& r : t().portals) {
            if (r.portal.kind == kind) {
                out.push_back(r.portal);
            }
        }
        std::sort(out.begin(), out.end(), [](auto const& a, auto const& b) {
            return std::tie(a.created_at, a.teams_thread_id) < std::tie(b.created_at, b.teams_thread_id);
        });
        return out;
    }
    Result<std::vector<store::Portal>> list_page(store::PortalKind kind, TeamsThreadId const& after,
                                                 std::size_t limit) override {
        auto const held = lock();
        std::vector<store::Portal> out;
        for (auto const& r : t().portals) {
            if (r.portal.kind == kind && r.portal.teams_thread_id.str() > after.str()) {
                out.push_back(r.portal);
            }
        }
        std::sort(out.begin(), out.end(),
                  [](auto const& a, auto const& b) { return a.teams_thread_id.str() < b.teams_thread_id.str(); });
        out.resize(std::min(out.size(), limit));
        return out;
    }
    Result<std::int64_t> newest_chat_cursor() override {
        auto const held = lock();
        std::int64_t n = 0;
        for (auto const& r : t().portals) {
            n = r.portal.kind == store::PortalKind::chat ? std::max(n, r.portal.cursor_ms) : n;
        }
        return n;
    }
    Status advance_cursor(store::Tx&, TeamsThreadId const& id, std::int64_t cursor_ms) override {
        auto const held = lock();
        if (auto* row = find(id)) {
            row->portal.cursor_ms = std::max(row->portal.cursor_ms, cursor_ms);
        }
        return {};
    }
    Status mark_heard(store::Tx&, TeamsThreadId const& id, std::int64_t at_ms) override {
        auto const held = lock();
        if (auto* row = find(id)) {
            row->heard_at = std::max(row->heard_at, at_ms);
        }
        return {};
    }
    Result<std::int64_t> version(store::Tx&, TeamsThreadId const& id) override {
        auto const held = lock();
        auto const* row = find(id);
        return row ? row->version : 0;
    }
    Status begin_write(TeamsThreadId const& id, std::int64_t until_ms) override {
        auto const held = lock();
        if (auto* row = find(id)) {
            ++row->version;
            row->writing_until = until_ms;
        }
        return {};
    }
    Status renew_write(TeamsThreadId const& id, std::int64_t until_ms) override {
        auto const held = lock();
        if (auto* row = find(id); row && row->writing_until > 0) {
            row->writing_until = until_ms;
        }
        return {};
    }
    Status end_write(store::Tx&, TeamsThreadId const& id) override {
        auto const held = lock();
        if (auto* row = find(id)) {
            ++row->version;
            row->writing_until = 0;
        }
        return {};
    }
    Result<bool> unchanged(store::Tx&, TeamsThreadId const& id, std::int64_t version, std::int64_t now_ms) override {
        auto const held = lock();
        auto const* row = find(id);
        return row ? row->version == version && row->writing_until <= now_ms : version == 0;
    }

private:
    MemoryTables::PortalRow* find(TeamsThreadId const& id) const {
        for (auto& r : t().portals) {
            if (r.portal.teams_thread_id == id) {
                return &r;
            }
        }
        return nullptr;
    }
};

class MemoryChats final : public store::Chats, memory_detail::Base {
public:
    using Base::Base;
    Result<std::optional<store::ChatInfo>> find(TeamsThreadId const& chat_id) override {
        auto const held = lock();
        auto const it = t().chats.find(chat_id);
        return it == t().chats.end() ? std::optional<store::ChatInfo>() : std::optional(it->second);
    }
    Status put(store::ChatInfo const& chat) override {
        auto const held = lock();
        auto row = chat;
        std::sort(row.member_ids.begin(), row.member_ids.end());
        if (auto const it = t().chats.find(chat.chat_id); it != t().chats.end() && row.web_url.empty()) {
            row.web_url = it->second.web_url;
        }
        t().chats[chat.chat_id] = row;
        return {};
    }
};

class MemoryMessages final : public store::Messages, memory_detail::Base {
public:
    using Base::Base;
    Result<std::optional<store::MessageLink>> find(store::Tx&, TeamsThreadId const& thread_id,
                                                   TeamsMessageId const& message_id) override {
        auto const held = lock();
        auto const it = t().messages.find({thread_id, message_id});
        return it == t().messages.end() ? std::optional<store::MessageLink>() : std::optional(it->second);
    }
    Result<std::optional<store::MessageLink>> by_post(MmPostId const& mm_post_id) override {
        auto const held = lock();
        for (auto const& [_, m] : t().messages) {
            if (!mm_post_id.empty() && m.mm_post_id == mm_post_id) {
                return std::optional(m);
            }
        }
        return std::optional<store::MessageLink>();
    }
    Result<std::vector<MmPostId>> linked(std::vector<MmPostId> const& mm_post_ids) override {
        auto const held = lock();
        std::vector<MmPostId> out;
        for (auto const& [_, m] : t().messages) {
            if (!m.mm_post_id.empty() &&
                std::find(mm_post_ids.begin(), mm_post_ids.end(), m.mm_post_id) != mm_post_ids.end()) {
                out.push_back(m.mm_post_id);
            }
        }
        return out;
    }
    Status mark_pending(store::MessageLink const& link) override {
        auto const held = lock();
        auto const key = std::pair(link.teams_thread_id, link.teams_message_id);
        if (auto const it = t().messages.find(key); it != t().messages.end()) {
            if (it->second.mm_post_id.empty()) {
                it->second.pending_since = link.pending_since;
            }
            return {};
        }
        auto row = link;
        row.mm_post_id = {};
        row.teams_modified_at = 0;
        row.deleted = false;
        t().messages[key] = row;
        return {};
    }
    Result<bool> sending_to(TeamsThreadId const& thread_id, std::int64_t since_ms) override {
        auto const held = lock();
        for (auto const& [key, m] : t().messages) {
            if (key.first == thread_id && m.mm_post_id.empty() && m.origin == store::Origin::mattermost &&
                m.pending_since > since_ms) {
                return true;
            }
        }
        return false;
    }
    Result<std::int64_t> sent_since(TeamsThreadId const& thread_id, std::int64_t since_ms) override {
        auto const held = lock();
        std::int64_t n = 0;
        for (auto const& [key, m] : t().messages) {
            if (key.first == thread_id && !m.mm_post_id.empty() && m.origin == store::Origin::mattermost &&
                m.teams_modified_at > since_ms) {
                ++n;
            }
        }
        return n;
    }
    Status forget(store::Tx&, TeamsThreadId const& thread_id, TeamsMessageId const& message_id) override {
        auto const held = lock();
        t().messages.erase({thread_id, message_id});
        return {};
    }
    Status put(store::Tx&, store::MessageLink const& link) override {
        auto const held = lock();
        for (auto const& [key, m] : t().messages) {
            if (!link.mm_post_id.empty() && m.mm_post_id == link.mm_post_id &&
                key != std::pair(link.teams_thread_id, link.teams_message_id)) {
                return fail(ErrorCode::conflict, "the post is linked to another Teams message");
            }
        }
        auto row = link;
        row.pending_since = 0;
        t().messages[{link.teams_thread_id, link.teams_message_id}] = row;
        return {};
    }
};

class MemoryReactions final : public store::Reactions, memory_detail::Base {
public:
    using Base::Base;
    Result<std::vector<store::ReactionLink>> list(store::Tx&, MmPostId const& mm_post_id) override {
        auto const held = lock();
        std::vector<store::ReactionLink> out;
        for (auto const& r : t().reactions) {
            if (r.mm_post_id == mm_post_id) {
                out.push_back(r);
            }
        }
        std::sort(out.begin(), out.end(), [](auto const& a, auto const& b) {
            return std::tie(a.mm_user_id, a.emoji_name) < std::tie(b.mm_user_id, b.emoji_name);
        });
        return out;
    }
    Status add(store::Tx&, store::ReactionLink const& r) override {
        auto const held = lock();
        if (std::none_of(t().reactions.begin(), t().reactions.end(), [&](auto const& x) { return same(x, r); })) {
            t().reactions.push_back(r);
        }
        return {};
    }
    Status remove(store::Tx&, store::ReactionLink const& r) override {
        auto const held = lock();
        std::erase_if(t().reactions, [&](auto const& x) { return same(x, r); });
        return {};
    }

private:
    static bool same(store::ReactionLink const& a, store::ReactionLink const& b) {
        return a.mm_post_id == b.mm_post_id && a.mm_user_id == b.mm_user_id && a.emoji_name == b.emoji_name;
    }
};

class MemoryNotified final : public store::Notified, memory_detail::Base {
public:
    using Base::Base;
    Result<bool> claim(store::Tx&, TeamsThreadId const& thread_id, TeamsMessageId const& message_id,
                       MmUserId const& mm_user_id) override {
        auto const held = lock();
        return t().notified.insert({thread_id, message_id, mm_user_id}).second;
    }
    Status release(store::Tx&, TeamsThreadId const& thread_id, TeamsMessageId const& message_id,
                   MmUserId const& mm_user_id) override {
        auto const held = lock();
        t().notified.erase({thread_id, message_id, mm_user_id});
        return {};
    }
};

class MemoryInbox final : public store::Inbox, memory_detail::Base {
public:
    using Base::Base;
    Status enqueue(std::vector<store::InboxItem> const& items) override {
        auto const held = lock();
        for (auto i : items) {
            i.id = t().next_id++;
            i.attempts = 0;
            t().inbox.push_back({i, i.not_before, 0, 0, {}});
        }
        return {};
    }
    Result<std::vector<store::InboxItem>> claim(std::int64_t now_ms, std::int64_t lease_until,
                                                std::size_t max_items) override {
        auto const held = lock();
        auto const ready = [&](MemoryTables::Queued const& q) {
            return q.not_before <= now_ms && q.claimed_until <= now_ms;
        };
        // The head of a thread is its oldest item; a thread whose head is leased belongs to that worker.
        MemoryTables::Queued const* head = nullptr;
        for (auto const& q : t().inbox) {
            bool const is_head = std::none_of(t().inbox.begin(), t().inbox.end(), [&](auto const& o) {
                return o.item.thread_id == q.item.thread_id && o.item.id < q.item.id;
            });
            if (is_head && ready(q) && (!head || q.item.id < head->item.id)) {
                head = &q;
            }
        }
        std::vector<store::InboxItem> out;
        if (!head) {
            return out;
        }
        auto const thread = head->item.thread_id;
        auto const head_id = head->item.id;
        for (auto& q : t().inbox) {
            // Behind the head, a rich item in its order hold comes too (as PgInbox::claim).
            bool const held_rich = !q.item.content.empty() && q.claimed_until <= now_ms;
            if (q.item.thread_id == thread && (q.item.id == head_id || ready(q) || held_rich) &&
                out.size() < std::max<std::size_t>(1, max_items)) {
                q.claimed_until = lease_until;
                ++q.item.attempts;
                out.push_back(q.item);
            }
        }
        return out;
    }
    Status renew(std::vector<std::int64_t> const& ids, std::int64_t lease_until) override {
        return each(ids, [&](MemoryTables::Queued& q) { q.claimed_until = lease_until; });
    }
    Status remove(store::Tx&, std::vector<std::int64_t> const& ids) override {
        auto const held = lock();
        std::erase_if(t().inbox, [&](auto const& q) { return contains(ids, q.item.id); });
        return {};
    }
    Status postpone(std::vector<std::int64_t> const& ids, std::int64_t not_before, std::string const& error) override {
        return each(ids, [&](MemoryTables::Queued& q) {
            q.claimed_until = 0;
            q.not_before = not_before;
            q.last_error = error;
            q.first_failed_at = q.first_failed_at ? q.first_failed_at : now();
        });
    }
    Status delay(std::vector<std::int64_t> const& ids, std::int64_t not_before) override {
        return each(ids, [&](MemoryTables::Queued& q) {
            q.claimed_until = 0;
            q.not_before = not_before;
            q.item.attempts = std::max(q.item.attempts - 1, 0);
        });
    }
    Status dead_letter(store::Tx&, std::vector<store::InboxItem> const& items, std::string const& error,
                       std::int64_t now_ms) override {
        auto const held = lock();
        for (auto const& i : items) {
            auto const it =
                std::find_if(t().inbox.begin(), t().inbox.end(), [&](auto const& q) { return q.item.id == i.id; });
            if (it == t().inbox.end()) {
                continue;
            }
            auto const first = it->first_failed_at ? it->first_failed_at : now_ms;
            t().inbox.erase(it);
            t().dead_letters.push_back(store::DeadLetter{t().next_id++, store::Direction::inbound, i.thread_id.str(),
                                                         memory_detail::inbox_payload(i), error, i.attempts, first,
                                                         now_ms});
        }
        return {};
    }
    Status dead_letter_message(store::Tx&, TeamsThreadId const& thread_id, TeamsMessageId const& message_id,
                               std::string const& error, int attempts, std::int64_t now_ms) override {
        auto const held = lock();
        store::InboxItem i;
        i.change_type = store::Change::updated;
        i.message_id = message_id;
        t().dead_letters.push_back(store::DeadLetter{t().next_id++, store::Direction::inbound, thread_id.str(),
                                                     memory_detail::inbox_payload(i), error, attempts, now_ms, now_ms});
        return {};
    }
    Result<std::int64_t> size() override {
        auto const held = lock();
        return static_cast<std::int64_t>(t().inbox.size());
    }
    Result<std::int64_t> enqueue_reconcile(std::int64_t active_since, std::int64_t now_ms) override {
        auto const held = lock();
        std::vector<store::InboxItem> items;
        for (auto const& r : t().portals) {
            auto const& p = r.portal;
            bool const queued = std::any_of(t().inbox.begin(), t().inbox.end(), [&](auto const& q) {
                return q.item.thread_id == p.teams_thread_id && q.item.change_type == store::Change::catchup;
            });
            if (std::max({p.cursor_ms, p.created_at, r.heard_at}) > active_since && !queued) {
                items.push_back(store::InboxItem{0, now_ms, {}, store::Change::catchup, p.teams_thread_id, {}, 0});
            }
        }
        MSTEAMS_TRY(enqueue(items));
        return static_cast<std::int64_t>(items.size());
    }

private:
    static bool contains(std::vector<std::int64_t> const& ids, std::int64_t id) {
        return std::find(ids.begin(), ids.end(), id) != ids.end();
    }
    template <class F>
    Status each(std::vector<std::int64_t> const& ids, F&& f) {
        auto const held = lock();
        for (auto& q : t().inbox) {
            if (contains(ids, q.item.id)) {
                f(q);
            }
        }
        return {};
    }
};

class MemoryOutbox final : public store::Outbox, memory_detail::Base {
public:
    using Base::Base;
    Result<std::int64_t> enqueue(std::vector<store::OutboxItem> const& items) override {
        auto const held = lock();
        std::int64_t added = 0;
        for (auto i : items) {
            if (!t().outbox_seen.emplace(i.event_key, i.created_at).second || queued(i.event_key)) {
                continue;
            }
            i.id = t().next_id++;
            i.attempts = 0;
            end_holds(i.channel_id);
            t().outbox.push_back({i, 0, 0, 0, {}});
            ++added;
        }
        return added;
    }
    Result<std::vector<store::SeenEvent>> seen(std::vector<std::string> const& event_keys) override {
        auto const held = lock();
        std::vector<store::SeenEvent> out;
        for (auto const& key : event_keys) {
            if (t().outbox_seen.contains(key) &&
                std::none_of(out.begin(), out.end(), [&](auto const& s) { return s.event_key == key; })) {
                out.push_back(store::SeenEvent{key, queued(key)});
            }
        }
        return out;
    }
    Result<std::int64_t> forget_seen(std::int64_t before_ms) override {
        auto const held = lock();
        return static_cast<std::int64_t>(std::erase_if(
            t().outbox_seen, [&](auto const& seen) { return seen.second < before_ms && !queued(seen.first); }));
    }
    Result<std::optional<store::OutboxItem>> claim(std::int64_t now_ms, std::int64_t settled_ms,
                                                   std::int64_t lease_until_ms) override {
        auto const held = lock();
        auto const key = [](MemoryTables::Sending const& s) { return std::pair(s.item.sort_at, s.item.id); };
        MemoryTables::Sending* best = nullptr;
        for (auto& s : t().outbox) {
            bool const first = std::none_of(t().outbox.begin(), t().outbox.end(), [&](auto const& o) {
                return o.item.channel_id == s.item.channel_id && key(o) < key(s);
            });
            bool const settled = s.item.kind == store::OutboxKind::post || s.item.sort_at <= settled_ms;
            if (first && s.not_before <= now_ms && s.claimed_until <= now_ms && settled &&
                (!best || key(s) < key(*best))) {
                best = &s;
            }
        }
        if (!best) {
            return std::optional<store::OutboxItem>();
        }
        best->claimed_until = lease_until_ms;
        return std::optional(best->item);
    }
    Status hold(std::int64_t id, std::int64_t until_ms) override {
        auto const held = lock();
        if (auto* s = find(id)) {
            s->not_before = until_ms;
            s->claimed_until = 0;
        }
        return {};
    }
    Status renew(std::int64_t id, std::int64_t lease_until_ms) override {
        auto const held = lock();
        if (auto* s = find(id)) {
            s->claimed_until = lease_until_ms;
        }
        return {};
    }
    Status remove(store::Tx&, std::int64_t id) override {
        auto const held = lock();
        if (auto const* gone = find(id)) {
            end_holds(gone->item.channel_id);
        }
        std::erase_if(t().outbox, [&](auto const& s) { return s.item.id == id; });
        return {};
    }
    Status postpone(std::int64_t id, std::int64_t not_before, std::string const& error) override {
        auto const held = lock();
        if (auto* s = find(id)) {
            ++s->item.attempts;
            s->not_before = not_before;
            s->last_error = error;
            s->first_failed_at = s->first_failed_at ? s->first_failed_at : now();
            s->claimed_until = 0;
        }
        return {};
    }
    Result<std::int64_t> size() override {
        auto const held = lock();
        return static_cast<std::int64_t>(t().outbox.size());
    }
    Status dead_letter(store::OutboxItem const& item, std::string const& error, std::int64_t now_ms) override {
        auto const held = lock();
        auto* s = find(item.id);
        if (!s) {
            return {};
        }
        auto const first = s->first_failed_at ? s->first_failed_at : now_ms;
        auto const attempts = s->item.attempts + 1;
        std::erase_if(t().outbox, [&](auto const& o) { return o.item.id == item.id; });
        t().dead_letters.push_back(store::DeadLetter{t().next_id++, store::Direction::outbound, item.channel_id.str(),
                                                     memory_detail::outbox_payload(item), error, attempts, first,
                                                     now_ms});
        return {};
    }

private:
    [[nodiscard]] bool queued(std::string const& event_key) const {
        return std::any_of(t().outbox.begin(), t().outbox.end(),
                           [&](auto const& s) { return s.item.event_key == event_key; });
    }
    void end_holds(MmChannelId const& channel_id) const {
        for (auto& s : t().outbox) {
            if (s.item.channel_id == channel_id && s.item.attempts == 0) {
                s.not_before = 0;
            }
        }
    }
    MemoryTables::Sending* find(std::int64_t id) const {
        for (auto& s : t().outbox) {
            if (s.item.id == id) {
                return &s;
            }
        }
        return nullptr;
    }
};

class MemoryDeadLetters final : public store::DeadLetters, memory_detail::Base {
public:
    using Base::Base;
    Result<std::int64_t> count() override {
        auto const held = lock();
        return static_cast<std::int64_t>(t().dead_letters.size());
    }
    Result<std::vector<store::DeadLetter>> newest(std::size_t limit) override {
        auto const held = lock();
        auto all = t().dead_letters;
        std::sort(all.begin(), all.end(), [](auto const& a, auto const& b) {
            return std::tie(a.last_failed_at, a.id) > std::tie(b.last_failed_at, b.id);
        });
        all.resize(std::min(all.size(), limit));
        return all;
    }
    Result<std::int64_t> discard(std::optional<std::int64_t> id) override {
        auto const held = lock();
        auto& letters = t().dead_letters;
        auto const before = letters.size();
        std::erase_if(letters, [&](store::DeadLetter const& d) { return !id || d.id == *id; });
        return static_cast<std::int64_t>(before - letters.size());
    }
    Result<std::int64_t> retry(std::optional<std::int64_t> id, std::int64_t now_ms) override {
        auto const held = lock();
        std::int64_t n = 0;
        std::vector<store::DeadLetter> keep;
        auto letters = t().dead_letters;
        std::sort(letters.begin(), letters.end(), [](auto const& a, auto const& b) { return a.id < b.id; });
        for (auto const& d : letters) {
            if (id && d.id != *id) {
                keep.push_back(d);
                continue;
            }
            auto const p = nlohmann::json::parse(d.payload, nullptr, false);
            if (!p.is_object()) {
                continue;  // unreadable: dropped
            }
            auto const text = [&](char const* key) { return p.value(key, std::string()); };
            auto const integer = [&](char const* key) { return p.value(key, std::int64_t{0}); };
            auto const change = store::parse<store::Change>(text("change_type"));
            auto const kind = store::parse<store::OutboxKind>(text("kind"));
            if (d.direction == store::Direction::inbound ? !change : !kind) {
                continue;  // unreadable: dropped
            }
            if (d.direction == store::Direction::inbound) {
                store::InboxItem i{t().next_id++,
                                   now_ms,
                                   SubscriptionId(text("subscription_id")),
                                   *change,
                                   TeamsThreadId(d.thread_id),
                                   {},
                                   0};
                store::detail::read_message_column(text("message_id"), i);
                t().inbox.push_back({i, i.not_before, 0, 0, {}});
            } else {
                store::OutboxItem o{0,
                                    integer("created_at"),
                                    MmChannelId(d.thread_id),
                                    *kind,
                                    MmPostId(text("post_id")),
                                    MmUserId(text("user_id")),
                                    text("payload"),
                                    text("event_key"),
                                    integer("sort_at"),
                                    0};
                bool const queued = std::any_of(t().outbox.begin(), t().outbox.end(),
                                                [&](auto const& q) { return q.item.event_key == o.event_key; });
                if (!queued) {
                    o.id = t().next_id++;
                    t().outbox.push_back({o, 0, 0, 0, {}});
                }
            }
            ++n;
        }
        t().dead_letters = keep;
        return n;
    }
};

class MemorySubscriptions final : public store::Subscriptions, memory_detail::Base {
public:
    using Base::Base;
    Result<std::vector<store::SubscriptionRow>> list() override {
        auto const held = lock();
        std::vector<store::SubscriptionRow> out;
        for (auto const& [_, s] : t().subscriptions) {
            out.push_back(s);
        }
        return out;
    }
    Result<bool> known(SubscriptionId const& id) override {
        auto const held = lock();
        return t().subscriptions.contains(id);
    }
    Status put(store::SubscriptionRow const& row) override {
        auto const held = lock();
        auto stored = row;
        if (auto const it = t().subscriptions.find(row.id); it != t().subscriptions.end()) {
            stored.created_at = it->second.created_at;
        }
        t().subscriptions[row.id] = stored;
        return {};
    }
    Status set_state(SubscriptionId const& id, store::SubscriptionState state) override {
        auto const held = lock();
        if (auto const it = t().subscriptions.find(id); it != t().subscriptions.end()) {
            it->second.state = state;
        }
        return {};
    }
    Status remove(SubscriptionId const& id) override {
        auto const held = lock();
        t().subscriptions.erase(id);
        return {};
    }
};

class MemoryLeases final : public store::Leases, memory_detail::Base {
public:
    using Base::Base;
    Result<bool> hold(std::string const& name, std::string const& holder, std::chrono::seconds ttl) override {
        auto const held = lock();
        auto const at = now();
        auto& row = t().leases[name];
        if (!row.holder.empty() && row.holder != holder && row.expires_at >= at) {
            return false;
        }
        row = {holder, at + std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count()};
        return true;
    }
    Status release(std::string const& name, std::string const& holder) override {
        auto const held = lock();
        if (auto const it = t().leases.find(name); it != t().leases.end() && it->second.holder == holder) {
            t().leases.erase(it);
        }
        return {};
    }
};

class MemoryNodes final : public store::Nodes, memory_detail::Base {
public:
    using Base::Base;
    Status beat(std::string const& node_id) override {
        auto const held = lock();
        t().nodes[node_id] = now();
        return {};
    }
    Result<std::vector<store::NodeBeat>> silent(std::chrono::seconds ttl) override {
        auto const held = lock();
        auto const before = now() - std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count();
        std::vector<store::NodeBeat> out;
        for (auto const& [id, seen_at] : t().nodes) {
            if (seen_at < before) {
                out.push_back(store::NodeBeat{id, seen_at});
            }
        }
        std::sort(out.begin(), out.end(), [](auto const& a, auto const& b) {
            return std::tie(a.seen_at, a.node_id) < std::tie(b.seen_at, b.node_id);
        });
        return out;
    }
    Status remove(std::string const& node_id) override {
        auto const held = lock();
        t().nodes.erase(node_id);
        return {};
    }
    Status forget(store::NodeBeat const& beat) override {
        auto const held = lock();
        if (auto const it = t().nodes.find(beat.node_id); it != t().nodes.end() && it->second == beat.seen_at) {
            t().nodes.erase(it);
        }
        return {};
    }
};

class MemoryNotices final : public store::Notices, memory_detail::Base {
public:
    using Base::Base;
    Result<bool> claim(std::string const& key, std::int64_t now_ms) override {
        auto const held = lock();
        return t().notices.emplace(key, now_ms).second;
    }
};

class MemoryCertificates final : public store::Certificates, memory_detail::Base {
public:
    using Base::Base;
    Result<std::vector<store::CertificateRow>> list() override {
        auto const held = lock();
        auto out = t().certificates;
        std::stable_sort(out.begin(), out.end(),
                         [](auto const& a, auto const& b) { return a.created_at > b.created_at; });
        return out;
    }
    Status add(store::CertificateRow const& row) override {
        auto const held = lock();
        t().certificates.push_back(row);
        return {};
    }
    Result<std::int64_t> remove_expired(std::int64_t before_ms) override {
        auto const held = lock();
        return static_cast<std::int64_t>(
            std::erase_if(t().certificates, [&](auto const& c) { return c.expires_at < before_ms; }));
    }
};

// Every repository over one in-memory state; `state` is there for tests to look at (under its lock).
struct MemoryStore {
    std::shared_ptr<MemoryState> state = std::make_shared<MemoryState>();
    store::Repositories repos = [this] {
        store::Repositories r;
        r.db = std::make_shared<MemoryDatabase>(state);
        r.accounts = std::make_shared<MemoryAccounts>(state);
        r.oauth_states = std::make_shared<MemoryOAuthStates>(state);
        r.users = std::make_shared<MemoryUsers>(state);
        r.portals = std::make_shared<MemoryPortals>(state);
        r.chats = std::make_shared<MemoryChats>(state);
        r.messages = std::make_shared<MemoryMessages>(state);
        r.reactions = std::make_shared<MemoryReactions>(state);
        r.notified = std::make_shared<MemoryNotified>(state);
        r.inbox = std::make_shared<MemoryInbox>(state);
        r.outbox = std::make_shared<MemoryOutbox>(state);
        r.dead_letters = std::make_shared<MemoryDeadLetters>(state);
        r.subscriptions = std::make_shared<MemorySubscriptions>(state);
        r.leases = std::make_shared<MemoryLeases>(state);
        r.nodes = std::make_shared<MemoryNodes>(state);
        r.notices = std::make_shared<MemoryNotices>(state);
        r.certificates = std::make_shared<MemoryCertificates>(state);
        return r;
    }();

    template <class F>
    auto with(F&& f) {
        std::lock_guard held(state->mutex);
        return f(state->tables);
    }
};

}  // namespace msteams::test
