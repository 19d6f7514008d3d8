#pragma once

// Microsoft Teams in memory, as the pipelines see it through graph::ChatApi: chats with members, messages with
// edits, soft deletes and reactions, tokens that name a user, and faults on demand. Its clock moves one millisecond
// per write, so the order of what happens is the order of the timestamps, as in Teams.
#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "graph/client.hpp"
#include "graph/entra.hpp"
#include "test_ids.hpp"

namespace msteams::test {

class FakeTeams final : public graph::ChatApi {
public:
    // A token for `user_id` (what the fake Connections hand out).
    static std::string token_for(std::string const& user_id) { return "token-of-" + user_id; }
    static std::string token_for(TeamsUserId const& user_id) { return token_for(user_id.str()); }

    // The helpers below take ids as text, and the fake keeps them so; graph::ChatApi's functions take typed ids.

    // A chat with these members (Teams user ids); returns its id.
    std::string add_chat(IdText const& chat, std::string const& type, std::vector<IdText> const& members) {
        std::string const& id = chat;
        std::lock_guard lock(mutex_);
        graph::Chat c;
        c.id = TeamsThreadId(id);
        c.chat_type = type;
        c.web_url = "https://teams.example/chat/" + id;
        for (auto const& member : members) {
            std::string const& m = member;
            c.members.push_back(graph::ChatMember{TeamsUserId(m), "User " + m, m + "@example.com", {}});
        }
        chats_[id] = Room{c, {}};
        return id;
    }

    // A channel of team `team` with these members (Teams user ids); returns its id. Its messages are addressed with
    // graph::Thread{team, id}; a reply's id is "<root>/<reply>", as graph::Client gives it.
    std::string add_channel(std::string const& team, IdText const& channel, std::vector<IdText> const& members) {
        auto const id = add_chat(channel, "channel", members);
        std::lock_guard lock(mutex_);
        chats_[id].team = team;
        return id;
    }
    // A reply written in Teams in a channel thread.
    graph::ChatMessage channel_reply(IdText const& channel, IdText const& from, std::string const& html,
                                     IdText const& root) {
        std::lock_guard lock(mutex_);
        append(channel, from, html, {});
        return as_reply(channel, TeamsMessageId(root.text));
    }

    // A message written in Teams by `from` (not through the bridge); returns it.
    graph::ChatMessage post(IdText const& chat_id, IdText const& from, std::string const& html) {
        std::lock_guard lock(mutex_);
        return append(chat_id, from, html, {});
    }
    // A reply in Teams quoting message `quoted_id`.
    graph::ChatMessage reply(IdText const& chat_id, IdText const& from, std::string const& html, IdText const& quoted) {
        std::string const& quoted_id = quoted;
        std::lock_guard lock(mutex_);
        graph::Attachment quote;
        quote.id = quoted_id;
        quote.content_type = "messageReference";
        quote.content = "{\"messageId\":\"" + quoted_id + "\"}";
        return append(chat_id, from, "<attachment id=\"" + quoted_id + "\"></attachment>" + html, {quote});
    }
    void edit(IdText const& chat_id, IdText const& id, std::string const& html) {
        std::lock_guard lock(mutex_);
        auto& m = message(chat_id, id);
        m.body = html;
        m.last_edited_at = m.last_modified_at = tick();
    }
    void remove(IdText const& chat_id, IdText const& id) {
        std::lock_guard lock(mutex_);
        auto& m = message(chat_id, id);
        m.deleted_at = m.last_modified_at = tick();
    }
    void react(IdText const& chat_id, IdText const& id, IdText const& user, std::string const& type) {
        std::lock_guard lock(mutex_);
        auto& m = message(chat_id, id);
        m.reactions.push_back(graph::Reaction{type, TeamsUserId(user.text), tick()});
        m.last_modified_at = now_;
    }

    // Time passes in Teams: the next change is `ms` later.
    void advance(std::int64_t ms) {
        std::lock_guard lock(mutex_);
        now_ += ms;
    }

    // The next call of `method` fails with `error` (in order, one per call).
    void fail_next(std::string const& method, Error error) {
        std::lock_guard lock(mutex_);
        faults_[method].push_back(std::move(error));
    }
    // The next send_message reaches Teams but its answer is lost (a timeout after the request went out).
    void lose_next_answer() {
        std::lock_guard lock(mutex_);
        lose_answer_ = true;
    }
    [[nodiscard]] int calls(std::string const& method) const {
        std::lock_guard lock(mutex_);
        auto const it = calls_.find(method);
        return it == calls_.end() ? 0 : it->second;
    }
    [[nodiscard]] std::vector<graph::ChatMessage> messages(IdText const& chat_id) const {
        std::lock_guard lock(mutex_);
        auto const it = chats_.find(chat_id.text);
        return it == chats_.end() ? std::vector<graph::ChatMessage>() : it->second.messages;
    }
    [[nodiscard]] std::int64_t now() const {
        std::lock_guard lock(mutex_);
        return now_;
    }

    // ---- graph::ChatApi
    Result<graph::Chat> get_chat(std::string const& token, TeamsThreadId const& chat_id, bool) override {
        std::lock_guard lock(mutex_);
        MSTEAMS_TRY(enter("get_chat", token));
        auto const it = chats_.find(chat_id.str());
        if (it == chats_.end()) {
            return fail(ErrorCode::not_found, "no such chat");
        }
        return it->second.chat;
    }
    Result<graph::Chat> create_chat(std::string const& token, std::string const& chat_type,
                                    std::vector<TeamsUserId> const& member_ids) override {
        std::lock_guard lock(mutex_);
        MSTEAMS_TRY(enter("create_chat", token));
        auto members = member_ids;
        std::sort(members.begin(), members.end());
        std::string id;
        if (chat_type == "oneOnOne" && members.size() == 2) {
            id = "19:" + members[0].str() + "_" + members[1].str() + "@unq.gbl.spaces";
        } else {
            id = "19:group" + std::to_string(chats_.size() + 1) + "@thread.v2";
        }
        if (!chats_.contains(id)) {
            graph::Chat c;
            c.id = TeamsThreadId(id);
            c.chat_type = chat_type;
            for (auto const& m : members) {
                c.members.push_back(graph::ChatMember{m, "User " + m.str(), m.str() + "@example.com", {}});
            }
            chats_[id] = Room{c, {}};
        }
        return chats_[id].chat;
    }
    Result<std::vector<graph::Chat>> list_my_chats(std::string const& token, std::size_t max_chats) override {
        std::lock_guard lock(mutex_);
        MSTEAMS_TRY(enter("list_my_chats", token));
        std::vector<graph::Chat> out;
        for (auto const& [_, room] : chats_) {
            bool const mine = std::any_of(room.chat.members.begin(), room.chat.members.end(),
                                          [&](auto const& m) { return token_for(m.user_id) == token; });
            if (mine && out.size() < max_chats) {
                out.push_back(room.chat);
            }
        }
        return out;
    }
    Result<graph::ChatMessage> get_message(std::string const& token, graph::Thread const& chat_id,
                                           TeamsMessageId const& message_id) override {
        std::lock_guard lock(mutex_);
        MSTEAMS_TRY(enter("get_message", token));
        MSTEAMS_TRY(member(token, chat_id));
        for (auto const& m : chats_[chat_id.id.str()].messages) {
            if (m.id == message_id) {
                return m;
            }
        }
        return fail(ErrorCode::not_found, "no such message");
    }
    Result<Page> list_messages_since(std::string const& token, graph::Thread const& chat_id, std::int64_t after_ms,
                                     std::size_t max_messages) override {
        return list("list_messages_since", token, chat_id, after_ms, max_messages, false);
    }
    Result<Page> list_oldest_messages_since(std::string const& token, graph::Thread const& chat_id,
                                            std::int64_t after_ms, std::size_t max_messages) override {
        return list("list_oldest_messages_since", token, chat_id, after_ms, max_messages, true);
    }
    Result<graph::ChatMessage> send_message(std::string const& token, graph::Thread const& chat_id,
                                            graph::NewMessage const& message) override {
        std::lock_guard lock(mutex_);
        MSTEAMS_TRY(enter("send_message", token));
        MSTEAMS_TRY(member(token, chat_id));
        auto sent = append(chat_id.id.str(), user_of(token), message.html, message.attachments);
        if (!message.reply_to.empty()) {
            sent = as_reply(chat_id.id.str(), graph::channel_root_of(message.reply_to));
        }
        if (lose_answer_) {
            lose_answer_ = false;
            Error lost{ErrorCode::unavailable, "the request timed out", 0, {}};
            lost.outcome_unknown = true;
            return std::unexpected(lost);
        }
        return sent;
    }
    Status update_message(std::string const& token, graph::Thread const& chat_id, TeamsMessageId const& message_id,
                          graph::NewMessage const& message) override {
        std::lock_guard lock(mutex_);
        MSTEAMS_TRY(enter("update_message", token));
        MSTEAMS_TRY(member(token, chat_id));
        auto* m = find(chat_id, message_id);
        if (!m) {
            return fail(ErrorCode::not_found, "no such message");
        }
        m->body = message.html;
        m->last_edited_at = m->last_modified_at = tick();
        return {};
    }
    Status soft_delete_message(std::string const& token, TeamsUserId const&, graph::Thread const& chat_id,
                               TeamsMessageId const& message_id) override {
        std::lock_guard lock(mutex_);
        MSTEAMS_TRY(enter("soft_delete_message", token));
        auto* m = find(chat_id, message_id);
        if (!m) {
            return fail(ErrorCode::not_found, "no such message");
        }
        m->deleted_at = m->last_modified_at = tick();
        return {};
    }
    Status set_reaction(std::string const& token, graph::Thread const& chat_id, TeamsMessageId const& message_id,
                        std::string const& reaction_type) override {
        std::lock_guard lock(mutex_);
        MSTEAMS_TRY(enter("set_reaction", token));
        auto* m = find(chat_id, message_id);
        if (!m) {
            return fail(ErrorCode::not_found, "no such message");
        }
        m->reactions.push_back(graph::Reaction{reaction_type, TeamsUserId(user_of(token)), tick()});
        m->last_modified_at = now_;
        return {};
    }
    Status unset_reaction(std::string const& token, graph::Thread const& chat_id, TeamsMessageId const& message_id,
                          std::string const& reaction_type) override {
        std::lock_guard lock(mutex_);
        MSTEAMS_TRY(enter("unset_reaction", token));
        auto* m = find(chat_id, message_id);
        if (!m) {
            return fail(ErrorCode::not_found, "no such message");
        }
        std::erase_if(m->reactions, [&](auto const& r) {
            return r.reaction_type == reaction_type && r.user_id.str() == user_of(token);
        });
        m->last_modified_at = tick();
        return {};
    }
    Result<std::string> get_hosted_content(std::string const& token, graph::Thread const&, TeamsMessageId const&,
                                           std::string const& hosted_content_id) override {
        std::lock_guard lock(mutex_);
        MSTEAMS_TRY(enter("get_hosted_content", token));
        return "bytes of " + hosted_content_id;
    }
    Result<std::string> download_shared(std::string const& token, std::string const& content_url) override {
        std::lock_guard lock(mutex_);
        MSTEAMS_TRY(enter("download_shared", token));
        return "bytes of " + content_url;
    }
    Result<graph::DriveItem> upload_chat_file(std::string const& token, std::string const& key, std::string const& name,
                                              std::string const& bytes) override {
        std::lock_guard lock(mutex_);
        MSTEAMS_TRY(enter("upload_chat_file", token));
        return graph::DriveItem{"item-" + key, name, "https://files.example/" + key + "/" + name,
                                "{00000000-0000-0000-0000-" +
                                    std::string(12 - std::min<std::size_t>(12, key.size()), '0') + key.substr(0, 12) +
                                    "},1",
                                static_cast<std::int64_t>(bytes.size())};
    }

private:
    struct Room {
        graph::Chat chat;
        std::vector<graph::ChatMessage> messages;
        std::string team{};  // a channel's team; empty for a chat
    };

    // The room's newest message becomes a reply to `root`.
    graph::ChatMessage as_reply(std::string const& room, TeamsMessageId const& root) {
        auto& m = chats_[room].messages.back();
        m.reply_to_id = root;
        m.id = graph::channel_reply_id(root, m.id);
        return m;
    }

    std::int64_t tick() { return ++now_; }
    static std::string user_of(std::string const& token) { return token.substr(std::string("token-of-").size()); }

    Status enter(std::string const& method, std::string const& token) {
        ++calls_[method];
        if (!token.starts_with("token-of-") && token != "app-token") {
            return fail(ErrorCode::unauthenticated, "401: not a token");
        }
        if (auto& q = faults_[method]; !q.empty()) {
            auto e = q.front();
            q.pop_front();
            return std::unexpected(e);
        }
        return {};
    }
    Status member(std::string const& token, graph::Thread const& chat_id) {
        auto const it = chats_.find(chat_id.id.str());
        if (it == chats_.end() || it->second.team != chat_id.team_id) {
            return fail(ErrorCode::not_found, "no such chat");
        }
        if (token == "app-token") {
            return {};
        }
        bool const in = std::any_of(it->second.chat.members.begin(), it->second.chat.members.end(),
                                    [&](auto const& m) { return m.user_id.str() == user_of(token); });
        return in ? Status{} : fail(ErrorCode::permission_denied, "403: not a member of the chat");
    }
    graph::ChatMessage* find(std::string const& chat_id, std::string const& id) {
        for (auto& m : chats_[chat_id].messages) {
            if (m.id.str() == id) {
                return &m;
            }
        }
        return nullptr;
    }
    graph::ChatMessage* find(graph::Thread const& chat_id, TeamsMessageId const& id) {
        return find(chat_id.id.str(), id.str());
    }
    graph::ChatMessage& message(std::string const& chat_id, std::string const& id) { return *find(chat_id, id); }

    graph::ChatMessage append(std::string const& chat_id, std::string const& from, std::string const& html,
                              std::vector<graph::Attachment> const& attachments) {
        graph::ChatMessage m;
        m.created_at = m.last_modified_at = tick();
        m.id = TeamsMessageId(std::to_string(m.created_at));
        m.chat_id = TeamsThreadId(chat_id);
        m.message_type = "message";
        m.from = graph::Identity{TeamsUserId(from), "User " + from};
        m.body_content_type = "html";
        m.body = html;
        m.attachments = attachments;
        chats_[chat_id].messages.push_back(m);
        return m;
    }

    Result<Page> list(std::string const& method, std::string const& token, graph::Thread const& chat_id,
                      std::int64_t after_ms, std::size_t max_messages, bool oldest) {
        std::lock_guard lock(mutex_);
        MSTEAMS_TRY(enter(method, token));
        MSTEAMS_TRY(member(token, chat_id));
        std::vector<graph::ChatMessage> changed;
        for (auto const& m : chats_[chat_id.id.str()].messages) {
            if (m.last_modified_at > after_ms) {
                changed.push_back(m);
            }
        }
        std::stable_sort(changed.begin(), changed.end(),
                         [](auto const& a, auto const& b) { return a.last_modified_at < b.last_modified_at; });
        Page page;
        page.truncated = changed.size() > max_messages;
        if (page.truncated) {
            if (oldest) {
                changed.resize(max_messages);
            } else {
                changed.erase(changed.begin(), changed.end() - static_cast<std::ptrdiff_t>(max_messages));
            }
        }
        page.messages = std::move(changed);
        return page;
    }

    mutable std::mutex mutex_;
    std::map<std::string, Room> chats_;
    std::map<std::string, std::deque<Error>> faults_;
    std::map<std::string, int> calls_;
    bool lose_answer_ = false;
    std::int64_t now_ = msteams::now_ms() - 30'000;  // every change is in the recent past
};

// The application's token, always granted.
class FakeAppTokens final : public graph::AppTokens {
public:
    Result<graph::Token> app_token() override {
        graph::Token t;
        t.access_token = "app-token";
        return t;
    }
};

}  // namespace msteams::test

namespace msteams::test {

// Graph's subscriptions in memory: created, renewed, listed and deleted as the monitor asks; Graph may drop one
// (forget) and can be made to fail.
class FakeSubscriptions final : public graph::SubscriptionApi {
public:
    Result<graph::Subscription> create_subscription(std::string const&, graph::Subscription const& wanted) override {
        std::lock_guard lock(mutex_);
        MSTEAMS_TRY(fault("create"));
        auto made = wanted;
        made.id = SubscriptionId("sub-" + std::to_string(++created_));
        live_[made.id.str()] = made;
        return made;
    }
    Result<graph::Subscription> renew_subscription(std::string const&, SubscriptionId const& id,
                                                   std::int64_t expires_at, std::string const& certificate,
                                                   std::string const& certificate_id) override {
        std::lock_guard lock(mutex_);
        MSTEAMS_TRY(fault("renew"));
        auto const it = live_.find(id.str());
        if (it == live_.end()) {
            return fail(ErrorCode::not_found, "404: no such subscription");
        }
        it->second.expires_at = expires_at;
        if (!certificate.empty()) {
            it->second.encryption_certificate = certificate;
            it->second.encryption_certificate_id = certificate_id;
        }
        ++renewed_;
        return it->second;
    }
    Status reauthorize_subscription(std::string const&, SubscriptionId const& id) override {
        std::lock_guard lock(mutex_);
        return live_.contains(id.str()) ? Status{} : fail(ErrorCode::not_found, "404: no such subscription");
    }
    Status delete_subscription(std::string const&, SubscriptionId const& id) override {
        std::lock_guard lock(mutex_);
        live_.erase(id.str());
        return {};
    }
    Result<std::vector<graph::Subscription>> list_subscriptions(std::string const&) override {
        std::lock_guard lock(mutex_);
        MSTEAMS_TRY(fault("list"));
        ++listed_;
        std::vector<graph::Subscription> out;
        for (auto const& [_, s] : live_) {
            out.push_back(s);
        }
        return out;
    }

    // Graph drops a subscription (as when it expires unrenewed).
    void forget(std::string const& id) {
        std::lock_guard lock(mutex_);
        live_.erase(id);
    }
    void fail_next(std::string const& what, Error e) {
        std::lock_guard lock(mutex_);
        faults_[what].push_back(std::move(e));
    }
    [[nodiscard]] std::vector<graph::Subscription> live() const {
        std::lock_guard lock(mutex_);
        std::vector<graph::Subscription> out;
        for (auto const& [_, s] : live_) {
            out.push_back(s);
        }
        return out;
    }
    // How many times the monitor listed the subscriptions (once per upkeep).
    [[nodiscard]] int listed() const {
        std::lock_guard lock(mutex_);
        return listed_;
    }
    [[nodiscard]] int created() const {
        std::lock_guard lock(mutex_);
        return created_;
    }
    [[nodiscard]] int renewed() const {
        std::lock_guard lock(mutex_);
        return renewed_;
    }

private:
    Status fault(std::string const& what) {
        if (auto& q = faults_[what]; !q.empty()) {
            auto e = q.front();
            q.pop_front();
            return std::unexpected(e);
        }
        return {};
    }
    mutable std::mutex mutex_;
    std::map<std::string, graph::Subscription> live_;
    std::map<std::string, std::deque<Error>> faults_;
    int created_ = 0;
    int renewed_ = 0;
    int listed_ = 0;
};

}  // namespace msteams::test
