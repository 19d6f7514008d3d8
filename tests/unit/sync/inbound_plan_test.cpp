// What a batch of inbox items asks Inbound to read: decided without I/O.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "sync/inbound_plan.hpp"

using msteams::store::InboxItem;
using msteams::sync::plan_reads;
using msteams::sync::read_forward_from;

namespace {
InboxItem change(std::string const& type, std::string const& message) {
    return {0, 1, "sub", *msteams::store::parse<msteams::store::Change>(type), "19:c", message, 0};
}
}  // namespace

TEST_CASE("inbound plan: notifications coalesce into one read per message, in the order first notified", "[sync]") {
    auto const plan = plan_reads({change("created", "m2"), change("created", "m1"), change("updated", "m2"),
                                  change("created", "m2"), change("deleted", "m3")});
    CHECK(plan.wanted == std::vector<std::string>{"m2", "m1", "m3"});
    CHECK(plan.changed == std::set<std::string>{"m2", "m3"});  // read even if already known
    CHECK_FALSE(plan.catch_up);
    CHECK_FALSE(read_forward_from(std::nullopt, plan, 5'000).has_value());  // no portal: each message on its own
}

TEST_CASE("inbound plan: a catch-up reads forward from the cursor, or from when a new chat was discovered", "[sync]") {
    auto const plan =
        plan_reads({change("catchup", ""), change("catchup", "since:1000000"), change("catchup", "since:2000000"),
                    change("catchup", "since:garbage"), change("created", "m1")});
    CHECK(plan.catch_up);
    CHECK(plan.discover_since == 2'000'000);  // the latest; a malformed one is ignored
    CHECK(plan.wanted == std::vector<std::string>{"m1"});
    CHECK(read_forward_from(std::nullopt, plan, 5'000) == 1'995'000);
    msteams::store::Portal portal;
    portal.cursor_ms = 3'000'000;
    CHECK(read_forward_from(portal, plan, 5'000) == 2'995'000);  // the cursor wins
    portal.cursor_ms = 0;                                        // never read yet
    CHECK(read_forward_from(portal, plan_reads({change("created", "m1")}), 5'000) == std::nullopt);
}
