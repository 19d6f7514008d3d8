// libFuzzer target: the /changes and /lifecycle notification bodies (core/sync/receiver.cpp) and Graph resource
// paths. The receiver is built alone, over the fake store below (it knows most subscription ids), so the
// fuzzer reaches past the subscription check. The webhook secret is fixed; the seed corpus carries it.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "graph/entra.hpp"
#include "store/repositories.hpp"
#include "sync/receiver.hpp"

namespace {

using namespace msteams;

// Known subscriptions and an inbox that is sometimes down; nothing else of the store is reached from the receiver.
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    using namespace msteams;
    static auto const repos = [] {
        store::Repositories r;
        r.subscriptions = std::make_shared<FuzzSubscriptions>();
        r.inbox = std::make_shared<FuzzInbox>();
        return r;
    }();
    std::string_view const body(reinterpret_cast<char const*>(data), size);
    sync::Receiver receiver(repos, "fuzz-secret", std::make_shared<metrics::Counters>(), [] {}, [] {});
    (void)receiver.changes(body);
    (void)receiver.lifecycle(body);
    (void)sync::parse_resource(body);
    return 0;
}
