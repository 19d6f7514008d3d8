#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "sync/receiver.hpp"

using msteams::sync::Receiver;
using Stats = msteams::metrics::Counters;

TEST_CASE("receiver: a deeply nested body is refused, not parsed recursively", "[sync]") {
    // 200,000 nested brackets overflowed nlohmann's recursive parser (a segfault) before any check: the URL is
    // public, so anyone could stop the core. The store is never reached for such a body.
    auto stats = std::make_shared<Stats>();
    Receiver receiver(msteams::store::Repositories{}, "secret", stats, {}, {});
    std::string const deep = R"({"value":)" + std::string(200'000, '[') + std::string(200'000, ']') + "}";
    CHECK(receiver.changes(deep).status == 400);
    CHECK(receiver.lifecycle(deep).status == 400);
    CHECK(stats->notification_batches_refused == 2);
    CHECK(receiver.changes(R"({"value":[[[[]]]]})").status == 202);  // shallow nesting is fine
}
