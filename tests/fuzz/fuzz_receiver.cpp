// libFuzzer target: the /changes and /lifecycle notification bodies (core/sync/receiver.cpp) and Graph resource
// paths. The receiver is built alone: the store calls it makes are stubbed below (they accept everything), so the
// fuzzer reaches past the subscription check. The webhook secret is fixed; the seed corpus carries it.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "graph/entra.hpp"
#include "store/bridge.hpp"
#include "sync/receiver.hpp"

namespace msteams {

// Stand-ins for the symbols of store/bridge.cpp and graph/entra.cpp that receiver.cpp uses.
store::Bridge::Bridge(std::shared_ptr<Database> db) : db_(std::move(db)) {}
Result<bool> store::Bridge::subscription_known(std::string const& id) { return id.size() % 3 != 0; }
Status store::Bridge::enqueue(std::vector<InboxItem> const& items) {
    if (items.size() == 7) {
        return fail(ErrorCode::unavailable, "stub: the database is down");
    }
    return {};
}
Status store::Bridge::set_subscription_state(std::string const&, std::string const&) { return {}; }

}  // namespace msteams

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    using namespace msteams;
    static auto const bridge = std::make_shared<store::Bridge>(nullptr);
    std::string_view const body(reinterpret_cast<char const*>(data), size);
    sync::Receiver receiver(bridge, "fuzz-secret", std::make_shared<sync::Stats>(), [] {}, [] {});
    (void)receiver.changes(body);
    (void)receiver.lifecycle(body);
    (void)sync::parse_resource(body);
    return 0;
}
