// libFuzzer target: the /changes and /lifecycle notification bodies (core/sync/receiver.cpp) and Graph resource
// paths. The receiver is built alone, over the fake store below (it knows most subscription ids, some chats and
// connected users), so the fuzzer reaches past the subscription check and into rich items. The webhook secret is fixed;
// the seed corpus carries it.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "graph/entra.hpp"
#include "store/repositories.hpp"
#include "sync/receiver.hpp"

namespace {

using namespace msteams;

// Known subscriptions, linked channels and an inbox that is sometimes down; nothing else of the store is reached from
// the receiver.
class FuzzSubscriptions final : public store::Subscriptions {
public:
    Result<std::vector<store::SubscriptionRow>> list() override { return std::vector<store::SubscriptionRow>(); }
    Result<bool> known(SubscriptionId const& id) override { return id.str().size() % 3 != 0; }
    Status put(store::SubscriptionRow const&) override { return {}; }
    Status set_state(SubscriptionId const&, store::SubscriptionState) override { return {}; }
    Status remove(SubscriptionId const&) override { return {}; }
};

class FuzzInbox final : public store::Inbox {
public:
    Status enqueue(std::vector<store::InboxItem> const& items) override {
        if (items.size() == 7) {
            return fail(ErrorCode::unavailable, "stub: the database is down");
        }
        return {};
    }
    Result<std::vector<store::InboxItem>> claim(std::int64_t, std::int64_t, std::size_t) override { return {}; }
    Status renew(std::vector<std::int64_t> const&, std::int64_t) override { return {}; }
    Status remove(store::Tx&, std::vector<std::int64_t> const&) override { return {}; }
    Status postpone(std::vector<std::int64_t> const&, std::int64_t, std::string const&) override { return {}; }
    Status delay(std::vector<std::int64_t> const&, std::int64_t) override { return {}; }
    Status dead_letter(store::Tx&, std::vector<store::InboxItem> const&, std::string const&, std::int64_t) override {
        return {};
    }
    Status dead_letter_message(store::Tx&, TeamsThreadId const&, TeamsMessageId const&, std::string const&, int,
                               std::int64_t) override {
        return {};
    }
    Result<std::int64_t> size() override { return 0; }
    Result<std::int64_t> enqueue_reconcile(std::int64_t, std::int64_t) override { return 0; }
};

// A Teams channel is linked when its id is long (the receiver keeps only linked channels' notifications).
class FuzzPortals final : public store::Portals {
public:
    Result<std::optional<store::Portal>> by_thread(TeamsThreadId const& id) override {
        if (id.str().size() % 2 == 0) {
            return std::optional<store::Portal>();
        }
        return std::optional<store::Portal>(store::Portal{id, store::PortalKind::channel, "team", {}, {}, 0, 0});
    }
    Result<std::optional<store::Portal>> by_channel(MmChannelId const&) override { return std::nullopt; }
    Result<store::Portal> add(store::Portal const& p) override { return p; }
    Result<bool> remove(TeamsThreadId const&) override { return false; }
    Result<std::vector<store::Portal>> list(store::PortalKind) override { return std::vector<store::Portal>(); }
    Result<std::vector<store::Portal>> list_page(store::PortalKind, TeamsThreadId const&, std::size_t) override {
        return std::vector<store::Portal>();
    }
    Result<std::int64_t> newest_chat_cursor() override { return 0; }
    Status advance_cursor(store::Tx&, TeamsThreadId const&, std::int64_t) override { return {}; }
    Status mark_heard(store::Tx&, TeamsThreadId const&, std::int64_t) override { return {}; }
    Result<std::int64_t> version(store::Tx&, TeamsThreadId const&) override { return 0; }
    Status begin_write(TeamsThreadId const&, std::int64_t) override { return {}; }
    Status renew_write(TeamsThreadId const&, std::int64_t) override { return {}; }
    Status end_write(store::Tx&, TeamsThreadId const&) override { return {}; }
    Result<bool> unchanged(store::Tx&, TeamsThreadId const&, std::int64_t, std::int64_t) override { return true; }
};

// Rich items: a group chat is known when its id is long; a Teams user is connected when their id ends in an even digit.
class FuzzChats final : public store::Chats {
public:
    Result<std::optional<store::ChatInfo>> find(TeamsThreadId const& chat_id) override {
        if (chat_id.str().size() % 2 == 0) {
            return std::optional<store::ChatInfo>();
        }
        return std::optional<store::ChatInfo>(
            store::ChatInfo{chat_id, {TeamsUserId("00000000-0000-0000-0000-000000000002")}, "", 0});
    }
    Status put(store::ChatInfo const&) override { return {}; }
};

class FuzzAccounts final : public store::Accounts {
public:
    Result<std::optional<store::Account>> by_mm_user(MmUserId const&) override { return std::nullopt; }
    Result<std::optional<store::Account>> by_teams_user(TeamsUserId const&) override { return std::nullopt; }
    Status connect(store::Account const&, int) override { return {}; }
    Status disconnect(MmUserId const&) override { return {}; }
    Status update_token(MmUserId const&, std::string const&) override { return {}; }
    Result<int> count_connected() override { return 0; }
    Result<std::vector<MmUserId>> connected_users(std::size_t) override { return std::vector<MmUserId>(); }
    Result<std::vector<TeamsUserId>> connected_among(std::vector<TeamsUserId> const& ids) override {
        std::vector<TeamsUserId> out;
        for (auto const& id : ids) {
            if (!id.str().empty() && (id.str().back() - '0') % 2 == 0) {
                out.push_back(id);
            }
        }
        return out;
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    using namespace msteams;
    static auto const repos = [] {
        store::Repositories r;
        r.subscriptions = std::make_shared<FuzzSubscriptions>();
        r.inbox = std::make_shared<FuzzInbox>();
        r.chats = std::make_shared<FuzzChats>();
        r.portals = std::make_shared<FuzzPortals>();
        r.accounts = std::make_shared<FuzzAccounts>();
        return r;
    }();
    std::string_view const body(reinterpret_cast<char const*>(data), size);
    // A rich batch is trusted when its first validation token is "ok" (the real check is tested elsewhere; here the
    // items behind it are the subject).
    sync::Receiver receiver(
        repos, "fuzz-secret", std::make_shared<metrics::Counters>(), [] {}, [] {}, {},
        [](std::vector<std::string> const& tokens) {
            return !tokens.empty() && tokens.front() == "ok" ? graph::TokenRefusal::none
                                                             : graph::TokenRefusal::signature;
        });
    (void)receiver.changes(body);
    (void)receiver.lifecycle(body);
    (void)sync::parse_resource(body);
    return 0;
}
