#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "../store/pg_support.hpp"
#include "store/repositories.hpp"
#include "sync/receiver.hpp"

using msteams::sync::parse_resource;
using msteams::sync::Receiver;
using Stats = msteams::metrics::Counters;
using msteams::test::TempDatabase;
using nlohmann::json;

namespace {

constexpr char const* k_secret = "webhook-secret-0123456789";

json item(std::string const& subscription, std::string const& client_state, std::string const& resource,
          std::string const& change = "created") {
    return json{{"subscriptionId", subscription},
                {"clientState", client_state},
                {"changeType", change},
                {"resource", resource},
                {"tenantId", "t"},
                {"resourceData", json::object()}};
}

std::string batch(std::vector<json> const& items) { return json{{"value", items}}.dump(); }

}  // namespace

TEST_CASE("receiver: resource paths of chat and channel messages parse, others do not", "[sync]") {
    auto const chat = parse_resource("chats('19:a_b@unq.gbl.spaces')/messages('1677774058888')");
    REQUIRE(chat);
    CHECK(chat->kind == msteams::store::PortalKind::chat);
    CHECK(chat->thread_id.str() == "19:a_b@unq.gbl.spaces");
    CHECK(chat->message_id.str() == "1677774058888");
    auto const slashes = parse_resource("/chats/19:x@thread.v2/messages/42");
    REQUIRE(slashes);
    CHECK(slashes->thread_id.str() == "19:x@thread.v2");
    CHECK(slashes->message_id.str() == "42");
    auto const reply = parse_resource("teams('t1')/channels('19:c@thread.tacv2')/messages('1')/replies('2')");
    REQUIRE(reply);
    CHECK(reply->kind == msteams::store::PortalKind::channel);
    CHECK(reply->team_id == "t1");
    CHECK(reply->reply_id.str() == "2");
    // Ids of the wrong shape are refused where they enter: a chat id is "<digits>:…", a message id decimal digits.
    for (auto const* bad : {"", "chats('x')", "chats('x')/messages(", "users('u')/messages('m')",
                            "chats('')/messages('m')", "chats('x')/members('m')", "chats('chat-1')/messages('1')",
                            "chats('19:a@thread.v2')/messages('m1')", "chats('19:a b@thread.v2')/messages('1')",
                            "teams('t1')/channels('19:c@thread.tacv2')/messages('1')/replies('r')"}) {
        INFO(bad);
        CHECK_FALSE(parse_resource(bad));
    }
    CHECK_FALSE(parse_resource("chats('" + std::string(3000, 'x') + "')/messages('1')"));
}

TEST_CASE("receiver: valid notifications reach the inbox in one batch, forged and unknown ones are counted",
          "[sync][pg]") {
    TempDatabase temp;
    auto repos = msteams::store::postgres_repositories(temp.open_migrated());
    REQUIRE(
        repos.subscriptions->put({msteams::SubscriptionId("sub-1"), msteams::store::SubscriptionKind::chats,
                                  "chats/getAllMessages", "", 1, 1, msteams::store::SubscriptionState::active, ""}));
    auto stats = std::make_shared<Stats>();
    int woken = 0;
    Receiver receiver(repos, k_secret, stats, [&] { ++woken; }, {});

    auto const answer = receiver.changes(batch({
        item("sub-1", k_secret, "chats('19:chat-a@thread.v2')/messages('1')"),
        item("sub-1", k_secret, "chats('19:chat-a@thread.v2')/messages('2')", "updated"),
        item("sub-1", "wrong-secret", "chats('19:chat-a@thread.v2')/messages('3')"),
        item("sub-unknown", k_secret, "chats('19:chat-a@thread.v2')/messages('4')"),
        item("sub-1", k_secret, "not a resource"),
        item("sub-1", k_secret, "chats('19:chat-a@thread.v2')/messages('5')", "exploded"),
        json("not an object"),
    }));
    CHECK(answer.status == 202);
    CHECK(woken == 1);
    CHECK(stats->notifications_received == 7);
    CHECK(stats->notifications_accepted == 2);
    CHECK(stats->notifications_bad_client_state == 1);
    CHECK(stats->notifications_unknown_subscription == 1);
    CHECK(stats->notifications_malformed == 3);

    auto rows = repos.db->exec("SELECT thread_id, message_id, change_type FROM msteams_inbox ORDER BY id");
    REQUIRE(rows);
    REQUIRE(rows->size() == 2);
    CHECK(rows->text(0, "message_id") == "1");
    CHECK(rows->text(1, "change_type") == "updated");
    CHECK(rows->text(0, "thread_id") == "19:chat-a@thread.v2");

    // Whole-batch refusals: not JSON, not a collection, too many items.
    CHECK(receiver.changes("{").status == 400);
    CHECK(receiver.changes(R"({"value":{}})").status == 400);
    std::vector<json> many(msteams::sync::k_max_notifications_per_batch + 1,
                           item("sub-1", k_secret, "chats('c')/messages('m')"));
    CHECK(receiver.changes(batch(many)).status == 413);
    CHECK(stats->notification_batches_refused == 3);
}

TEST_CASE("receiver: a linked channel's roots and replies reach the inbox, an unlinked channel's stop there",
          "[sync][pg]") {
    TempDatabase temp;
    auto repos = msteams::store::postgres_repositories(temp.open_migrated());
    REQUIRE(repos.subscriptions->put({msteams::SubscriptionId("sub-c"), msteams::store::SubscriptionKind::channel,
                                      "teams/t1/channels/19:linked@thread.tacv2/messages", "", 1, 1,
                                      msteams::store::SubscriptionState::active, ""}));
    REQUIRE(repos.portals->add({msteams::TeamsThreadId("19:linked@thread.tacv2"),
                                msteams::store::PortalKind::channel,
                                "t1",
                                msteams::MmChannelId("mmchannel00000000000000001"),
                                {},
                                1,
                                1}));
    auto stats = std::make_shared<Stats>();
    Receiver receiver(repos, k_secret, stats, [] {}, {});
    auto const answer = receiver.changes(batch({
        item("sub-c", k_secret, "teams('t1')/channels('19:linked@thread.tacv2')/messages('100')"),
        item("sub-c", k_secret, "teams('t1')/channels('19:linked@thread.tacv2')/messages('100')/replies('101')"),
        item("sub-c", k_secret, "teams('t1')/channels('19:other@thread.tacv2')/messages('7')"),
    }));
    CHECK(answer.status == 202);
    CHECK(stats->notifications_accepted == 2);
    CHECK(stats->notifications_unlinked == 1);
    auto rows = repos.db->exec("SELECT thread_id, message_id FROM msteams_inbox ORDER BY id");
    REQUIRE(rows);
    REQUIRE(rows->size() == 2);
    CHECK(rows->text(0, "message_id") == "100");
    CHECK(rows->text(1, "message_id") == "100/101");  // a reply is known by its root and its own id
    CHECK(rows->text(1, "thread_id") == "19:linked@thread.tacv2");

    // Unlinked: what Graph still sends stops at the webhook.
    REQUIRE(repos.portals->remove(msteams::TeamsThreadId("19:linked@thread.tacv2")));
    CHECK(
        receiver
            .changes(batch({item("sub-c", k_secret, "teams('t1')/channels('19:linked@thread.tacv2')/messages('102')")}))
            .status == 202);
    CHECK(stats->notifications_unlinked == 2);
    CHECK(stats->notifications_accepted == 2);
}

TEST_CASE("receiver: lifecycle events mark the subscription for the monitor", "[sync][pg]") {
    TempDatabase temp;
    auto repos = msteams::store::postgres_repositories(temp.open_migrated());
    REQUIRE(
        repos.subscriptions->put({msteams::SubscriptionId("sub-1"), msteams::store::SubscriptionKind::chats,
                                  "chats/getAllMessages", "", 1, 1, msteams::store::SubscriptionState::active, ""}));
    auto stats = std::make_shared<Stats>();
    int woken = 0;
    Receiver receiver(repos, k_secret, stats, {}, [&] { ++woken; });
    auto lifecycle = [&](std::string const& event, std::string const& secret) {
        return receiver.lifecycle(
            batch({json{{"subscriptionId", "sub-1"}, {"clientState", secret}, {"lifecycleEvent", event}}}));
    };
    CHECK(lifecycle("reauthorizationRequired", "forged").status == 202);
    CHECK(woken == 0);
    CHECK(lifecycle("reauthorizationRequired", k_secret).status == 202);
    CHECK(woken == 1);
    auto subs = repos.subscriptions->list();
    REQUIRE(subs);
    CHECK(subs->at(0).state == msteams::store::SubscriptionState::reauthorize);
    CHECK(lifecycle("missed", k_secret).status == 202);
    CHECK(repos.subscriptions->list()->at(0).state == msteams::store::SubscriptionState::missed);
    CHECK(lifecycle("somethingElse", k_secret).status == 202);
    CHECK(stats->lifecycle_ignored == 2);
}

TEST_CASE("receiver: notifications and lifecycle events for another tenant are refused and counted", "[sync][pg]") {
    TempDatabase temp;
    auto repos = msteams::store::postgres_repositories(temp.open_migrated());
    REQUIRE(
        repos.subscriptions->put({msteams::SubscriptionId("sub-1"), msteams::store::SubscriptionKind::chats,
                                  "chats/getAllMessages", "", 1, 1, msteams::store::SubscriptionState::active, ""}));
    auto stats = std::make_shared<Stats>();
    int enqueued = 0;
    int lifecycle_woken = 0;
    std::string const ours = "0b9e6a3c-5d2f-4e8a-9c1b-7f3e2d1a0c4b";
    std::string const theirs = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
    Receiver receiver(repos, k_secret, stats, [&] { ++enqueued; }, [&] { ++lifecycle_woken; }, ours);
    auto with_tenant = [](json j, std::optional<std::string> const& tenant) {
        j.erase("tenantId");
        if (tenant) {
            j["tenantId"] = *tenant;
        }
        return j;
    };
    std::string const chat = "chats('19:chat-a@thread.v2')/messages('";
    auto const answer = receiver.changes(batch({
        with_tenant(item("sub-1", k_secret, chat + "1')"), ours),
        with_tenant(item("sub-1", k_secret, chat + "2')"), "0B9E6A3C-5D2F-4E8A-9C1B-7F3E2D1A0C4B"),
        with_tenant(item("sub-1", k_secret, chat + "3')", "deleted"), theirs),
        with_tenant(item("sub-1", k_secret, chat + "4')"), std::nullopt),
        with_tenant(item("sub-1", k_secret, chat + "5')"), ""),
    }));
    CHECK(answer.status == 202);
    CHECK(stats->notifications_accepted == 2);
    CHECK(stats->notifications_wrong_tenant == 3);
    auto rows = repos.db->exec("SELECT message_id FROM msteams_inbox ORDER BY id");
    REQUIRE(rows);
    REQUIRE(rows->size() == 2);
    CHECK(rows->text(0, "message_id") == "1");
    CHECK(rows->text(1, "message_id") == "2");

    auto lifecycle = [&](std::optional<std::string> const& tenant) {
        json event{{"subscriptionId", "sub-1"}, {"clientState", k_secret}, {"lifecycleEvent", "subscriptionRemoved"}};
        return receiver.lifecycle(batch({with_tenant(event, tenant)}));
    };
    CHECK(lifecycle(theirs).status == 202);
    CHECK(lifecycle(std::nullopt).status == 202);
    CHECK(lifecycle_woken == 0);
    CHECK(stats->lifecycle_wrong_tenant == 2);
    CHECK(repos.subscriptions->list()->at(0).state == msteams::store::SubscriptionState::active);
    CHECK(lifecycle(ours).status == 202);
    CHECK(lifecycle_woken == 1);
    CHECK(repos.subscriptions->list()->at(0).state == msteams::store::SubscriptionState::removed);
}
