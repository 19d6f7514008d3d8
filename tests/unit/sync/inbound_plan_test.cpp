// What a batch of inbox items asks Inbound to read: decided without I/O.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "sync/inbound_plan.hpp"

using msteams::store::InboxItem;
using msteams::sync::plan_reads;
using msteams::sync::read_forward_from;

namespace {
using msteams::TeamsMessageId;

InboxItem change(std::string const& type, std::string const& message, std::int64_t since_ms = 0) {
    return {0,
            1,
            msteams::SubscriptionId("sub"),
            *msteams::store::parse<msteams::store::Change>(type),
            msteams::TeamsThreadId("19:c"),
            TeamsMessageId(message),
            0,
            since_ms};
}
std::vector<TeamsMessageId> ids(std::vector<std::string> const& texts) {
    std::vector<TeamsMessageId> out;
    for (auto const& t : texts) {
        out.emplace_back(t);
    }
    return out;
}
}  // namespace

TEST_CASE("inbound plan: notifications coalesce into one read per message, in the order first notified", "[sync]") {
    auto const plan = plan_reads({change("created", "m2"), change("created", "m1"), change("updated", "m2"),
                                  change("created", "m2"), change("deleted", "m3")});
    CHECK(plan.wanted == ids({"m2", "m1", "m3"}));
    CHECK(plan.changed == std::set<TeamsMessageId>{TeamsMessageId("m2"), TeamsMessageId("m3")});  // read even if known
    CHECK_FALSE(plan.catch_up);
    CHECK_FALSE(read_forward_from(std::nullopt, plan, 5'000).has_value());  // no portal: each message on its own
}

TEST_CASE("inbound plan: a catch-up reads forward from the cursor, or from when a new chat was discovered", "[sync]") {
    auto const plan = plan_reads({change("catchup", ""), change("catchup", "", 1'000'000),
                                  change("catchup", "", 2'000'000), change("created", "m1")});
    CHECK(plan.catch_up);
    CHECK(plan.discover_since == 2'000'000);  // the latest
    CHECK(plan.wanted == ids({"m1"}));
    CHECK(read_forward_from(std::nullopt, plan, 5'000) == 1'995'000);
    msteams::store::Portal portal;
    portal.cursor_ms = 3'000'000;
    CHECK(read_forward_from(portal, plan, 5'000) == 2'995'000);  // the cursor wins
    portal.cursor_ms = 0;                                        // never read yet
    CHECK(read_forward_from(portal, plan_reads({change("created", "m1")}), 5'000) == std::nullopt);
}
