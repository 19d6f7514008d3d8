#include <catch2/catch.hpp>

#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "metrics/counters.hpp"
#include "metrics/instruments.hpp"
#include "metrics/prometheus.hpp"

using msteams::metrics::CounterFamily;
using msteams::metrics::Exposition;
using msteams::metrics::Gauges;
using msteams::metrics::Histogram;

namespace {

std::vector<std::string> lines_of(std::string const& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        out.push_back(line);
    }
    return out;
}

// The samples of one metric name, as "labels value" strings.
std::vector<std::string> samples(std::string const& text, std::string const& name) {
    std::vector<std::string> out;
    for (auto const& l : lines_of(text)) {
        if (l.rfind(name + "{", 0) == 0 || l.rfind(name + " ", 0) == 0) {
            out.push_back(l.substr(name.size()));
        }
    }
    return out;
}

bool has(std::vector<std::string> const& list, std::string const& s) {
    return std::find(list.begin(), list.end(), s) != list.end();
}

}  // namespace

TEST_CASE("metrics: a histogram counts each observation in its bucket, cumulative, with count and sum", "[metrics]") {
    std::array<double, 3> const bounds{0.1, 1, 10};
    Histogram h(bounds);
    for (double v : {0.05, 0.1, 0.5, 2.0, 20.0, -1.0}) {
        h.observe(v);
    }
    auto const s = h.snapshot();
    CHECK(s.cumulative == std::vector<std::uint64_t>{3, 4, 5, 6});  // ≤0.1: 0.05, 0.1 and -1 (as 0)
    CHECK(s.count == 6);
    CHECK(s.sum == Approx(0.05 + 0.1 + 0.5 + 2.0 + 20.0));
}

TEST_CASE("metrics: a labelled family keeps at most its limit of label sets, then folds into other", "[metrics]") {
    CounterFamily f({"endpoint", "status"}, 2);
    f.add({"a", "200"});
    f.add({"b", "200"}, 2);
    f.add({"c", "500"}, 5);  // a third set: counted, under other
    f.add({"a", "200"});
    auto const snap = f.snapshot();
    REQUIRE(snap.size() == 3);
    std::map<std::vector<std::string>, std::uint64_t> by;
    for (auto const& s : snap) {
        by[s.values] = s.value;
    }
    CHECK(by[{"a", "200"}] == 2);
    CHECK(by[{"b", "200"}] == 2);
    CHECK(by[{"other", "other"}] == 5);
}

TEST_CASE("metrics: observations from many threads are all counted", "[metrics]") {
    msteams::metrics::Counters c;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&c] {
            for (int i = 0; i < 1000; ++i) {
                c.graph_requests.add({"message_post", "201"});
                c.post_to_teams_seconds.observe(0.01);
                c.graph_request_seconds.observe({"message_post"}, 0.02);
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    CHECK(c.graph_requests.snapshot().at(0).value == 4000);
    CHECK(c.post_to_teams_seconds.snapshot().count == 4000);
    CHECK(c.graph_request_seconds.snapshot().at(0).histogram.count == 4000);
}

TEST_CASE("metrics: the exposition writes HELP and TYPE once per family and escapes label values", "[metrics]") {
    Exposition e(msteams::metrics::Labels{{"node", "mm\"1\\\n"}});
    e.counter("x_total", "Things.\nMore", 3, {{"kind", "a"}});
    e.counter("x_total", "Things.\nMore", 4, {{"kind", "b"}});
    e.gauge("y", "A gauge.", 0.5);
    auto const text = e.take();
    CHECK(text ==
          "# HELP x_total Things.\\nMore\n"
          "# TYPE x_total counter\n"
          "x_total{node=\"mm\\\"1\\\\\\n\",kind=\"a\"} 3\n"
          "x_total{node=\"mm\\\"1\\\\\\n\",kind=\"b\"} 4\n"
          "# HELP y A gauge.\n"
          "# TYPE y gauge\n"
          "y{node=\"mm\\\"1\\\\\\n\"} 0.5\n");
}

TEST_CASE("metrics: a histogram is exposed with le buckets, +Inf, sum and count", "[metrics]") {
    std::array<double, 2> const bounds{0.5, 1};
    Histogram h(bounds);
    h.observe(0.25);
    h.observe(3);
    Exposition e;
    e.histogram("lat_seconds", "Latency.", h.snapshot(), {{"endpoint", "chat"}});
    auto const text = e.take();
    CHECK(text ==
          "# HELP lat_seconds Latency.\n"
          "# TYPE lat_seconds histogram\n"
          "lat_seconds_bucket{endpoint=\"chat\",le=\"0.5\"} 1\n"
          "lat_seconds_bucket{endpoint=\"chat\",le=\"1\"} 1\n"
          "lat_seconds_bucket{endpoint=\"chat\",le=\"+Inf\"} 2\n"
          "lat_seconds_sum{endpoint=\"chat\"} 3.25\n"
          "lat_seconds_count{endpoint=\"chat\"} 2\n");
}

TEST_CASE("metrics: the whole exposition is valid text format, every sample labelled with its node", "[metrics]") {
    msteams::metrics::Counters c;
    c.notifications_received += 7;
    c.notifications_malformed += 2;
    c.sent_posts += 3;
    c.graph_requests.add({"message_post", "429"});
    c.graph_request_seconds.observe({"message_post"}, 0.2);
    c.notification_to_post_seconds.observe(0.3);
    Gauges g;
    g.active = true;
    g.start_time = 1700000000;
    g.restarts = 2;
    g.secret_seconds_to_expiry = 86400;
    Gauges::Database d;
    d.inbox_items = 4;
    d.inbox_oldest_age = 12.5;
    d.dead_letters = 1;
    d.connected_users = 9;
    d.subscriptions.push_back({"chats", 1, 3000, 0});
    g.database = d;
    auto const text = msteams::metrics::render(c, g, "node-a");

    std::regex const sample_re(
        R"(^[a-zA-Z_:][a-zA-Z0-9_:]*\{node="node-a"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*\} \S+$)");
    std::regex const meta_re(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$)");
    std::set<std::string> typed;
    for (auto const& l : lines_of(text)) {
        INFO(l);
        if (l.rfind("# TYPE ", 0) == 0) {
            auto const name = l.substr(7, l.find(' ', 7) - 7);
            CHECK(typed.insert(name).second);  // each family once
        }
        CHECK((std::regex_match(l, sample_re) || std::regex_match(l, meta_re)));
    }
    CHECK(has(samples(text, "msteams_notifications_received_total"), "{node=\"node-a\"} 7"));
    CHECK(has(samples(text, "msteams_notifications_refused_total"), "{node=\"node-a\",reason=\"malformed\"} 2"));
    CHECK(has(samples(text, "msteams_messages_bridged_total"),
              "{node=\"node-a\",direction=\"to_teams\",kind=\"post\"} 3"));
    CHECK(has(samples(text, "msteams_graph_requests_total"),
              "{node=\"node-a\",endpoint=\"message_post\",status=\"429\"} 1"));
    CHECK(has(samples(text, "msteams_graph_request_duration_seconds_count"),
              "{node=\"node-a\",endpoint=\"message_post\"} 1"));
    CHECK(has(samples(text, "msteams_notification_to_post_seconds_count"), "{node=\"node-a\"} 1"));
    CHECK(has(samples(text, "msteams_core_up"), "{node=\"node-a\"} 1"));
    CHECK(has(samples(text, "msteams_core_restarts_total"), "{node=\"node-a\"} 2"));
    CHECK(has(samples(text, "msteams_client_secret_seconds_to_expiry"), "{node=\"node-a\"} 86400"));
    CHECK(has(samples(text, "msteams_database_up"), "{node=\"node-a\"} 1"));
    CHECK(has(samples(text, "msteams_inbox_items"), "{node=\"node-a\"} 4"));
    CHECK(has(samples(text, "msteams_inbox_oldest_age_seconds"), "{node=\"node-a\"} 12.5"));
    CHECK(has(samples(text, "msteams_dead_letters"), "{node=\"node-a\"} 1"));
    CHECK(has(samples(text, "msteams_subscription_seconds_to_expiry"), "{node=\"node-a\",kind=\"chats\"} 3000"));
    // a closed set is shown before anything is counted, so that an alert on it has a series to watch
    CHECK(has(samples(text, "msteams_token_refreshes_total"), "{node=\"node-a\",result=\"revoked\"} 0"));
}

TEST_CASE("metrics: without the database the node's gauges remain and database_up says 0", "[metrics]") {
    msteams::metrics::Counters c;
    Gauges g;
    auto const text = msteams::metrics::render(c, g, "n");
    CHECK(has(samples(text, "msteams_database_up"), "{node=\"n\"} 0"));
    CHECK(has(samples(text, "msteams_plugin_active"), "{node=\"n\"} 0"));
    CHECK(samples(text, "msteams_inbox_items").empty());
    CHECK(samples(text, "msteams_client_secret_seconds_to_expiry").empty());  // not read on this node
}
