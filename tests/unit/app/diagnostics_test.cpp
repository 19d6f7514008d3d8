#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "app/diagnostics.hpp"

using msteams::app::Diagnostics;

namespace {

Diagnostics sample() {
    Diagnostics d;
    d.node = "mm-1";
    d.version = "1.2.3";
    d.chat_sync = "mirror";
    d.active = true;
    d.configured = true;
    d.leader = true;
    d.now = 1'700'000'000'000;
    d.started_at = d.now - 3 * 3600 * 1000;
    d.restarts = 1;
    d.last_notification_at = d.now - 42'000;
    d.graph_requests = 120;
    d.graph_throttled = 3;
    d.graph_retries = 4;
    d.graph_waited_ms = 1500;
    d.credentials_problem = std::string();
    msteams::store::Overview o;
    o.inbox_items = 2;
    o.inbox_oldest_at = d.now - 90'000;
    o.outbox_items = 0;
    o.dead_letters = 1;
    o.connected_users = 5;
    o.disconnected_users = 1;
    d.overview = o;
    msteams::store::SubscriptionRow s;
    s.id = msteams::SubscriptionId("sub-1");
    s.kind = msteams::store::SubscriptionKind::chats;
    s.resource = "chats/getAllMessages?model=B";
    s.expires_at = d.now + 2 * 3600 * 1000;
    s.client_state_hash = "0123abcd-secret-hash";
    d.subscriptions.push_back(s);
    return d;
}

}  // namespace

TEST_CASE("app: admins read the node, queues, users, subscriptions, throttling and credentials in plain words",
          "[app]") {
    auto const text = msteams::app::to_markdown(sample());
    CHECK_THAT(text, Catch::Contains("Bridge status (node mm-1)") &&
                         Catch::Contains("this node keeps the subscriptions and runs the jobs") &&
                         Catch::Contains("up 3 h 0 min, restarted 1 time") && Catch::Contains("(42 s ago)") &&
                         Catch::Contains("120 requests, 3 throttled (429), 4 retried") &&
                         Catch::Contains("App credentials:** working") &&
                         Catch::Contains("2 Teams changes waiting (oldest 90 s)") &&
                         Catch::Contains("0 Mattermost changes waiting (oldest —)") &&
                         Catch::Contains("5 connected, 1 need to connect again") &&
                         Catch::Contains("| chats | chats/getAllMessages?model=B | active | 2023-11-15 ") &&
                         Catch::Contains("(in 2 h 0 min)"));
    CHECK(text.find("secret-hash") == std::string::npos);

    auto broken = sample();
    broken.credentials_problem = "Microsoft Entra ID refused the app's credentials (invalid_client)";
    broken.overview.reset();
    broken.database_problem = "connection refused";
    broken.subscriptions.clear();
    auto const down = msteams::app::to_markdown(broken);
    CHECK_THAT(down, Catch::Contains("App credentials:** not working: Microsoft Entra ID refused") &&
                         Catch::Contains("Database:** could not be read: connection refused"));

    auto none = sample();
    none.subscriptions.clear();
    CHECK_THAT(msteams::app::to_markdown(none),
               Catch::Contains("Subscriptions:** none: Teams messages are not received"));
}

TEST_CASE("app: the status JSON carries the same facts, and no secret", "[app]") {
    auto const j = nlohmann::json::parse(msteams::app::to_json(sample()));
    CHECK(j["node"]["name"] == "mm-1");
    CHECK(j["node"]["leader"] == true);
    CHECK(j["node"]["restarts"] == 1);
    CHECK(j["graph"]["throttled"] == 3);
    CHECK(j["credentials"]["working"] == true);
    CHECK(j["queues"]["inbox_items"] == 2);
    CHECK(j["queues"]["dead_letters"] == 1);
    CHECK(j["users"]["disconnected"] == 1);
    REQUIRE(j["subscriptions"].size() == 1);
    CHECK(j["subscriptions"][0]["kind"] == "chats");
    CHECK(j["subscriptions"][0]["state"] == "active");
    CHECK(j.dump().find("secret-hash") == std::string::npos);

    auto broken = sample();
    broken.overview.reset();
    broken.database_problem = "connection refused";
    auto const b = nlohmann::json::parse(msteams::app::to_json(broken));
    CHECK(b["database"]["readable"] == false);
    CHECK(b["database"]["problem"] == "connection refused");
    CHECK_FALSE(b.contains("queues"));
}
