#include "app/observers.hpp"

#include <algorithm>
#include <chrono>
#include <string>

namespace msteams::app {

namespace {

double seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

std::string status_label(int status) { return status == 0 ? std::string("error") : std::to_string(status); }

class CountingObserver final : public graph::Observer {
public:
    explicit CountingObserver(std::shared_ptr<metrics::Counters> c) : c_(std::move(c)) {}

    void graph_request(std::string_view endpoint, int status, std::chrono::nanoseconds took) override {
        std::string const e(endpoint);
        c_->graph_requests.add({e, status_label(status)});
        c_->graph_request_seconds.observe({e}, seconds(took));
    }
    void graph_retry() override { ++c_->graph_retries; }
    void graph_waited(std::chrono::milliseconds waited) override {
        c_->graph_limiter_wait_ms += static_cast<std::uint64_t>(std::max<std::int64_t>(waited.count(), 0));
    }
    void entra_request(std::string_view grant, int status, std::chrono::nanoseconds took) override {
        std::string const g(grant);
        c_->entra_requests.add({g, status_label(status)});
        c_->entra_request_seconds.observe({g}, seconds(took));
        if (grant == "refresh_token") {
            // Entra answers a refused grant (revoked, expired, consent withdrawn) with 400 invalid_grant.
            c_->token_refreshes.add({status == 200 ? "ok" : status == 400 ? "revoked" : "failed"});
        }
    }

private:
    std::shared_ptr<metrics::Counters> c_;
};

}  // namespace

std::shared_ptr<graph::Observer> graph_observer(std::shared_ptr<metrics::Counters> counters) {
    return std::make_shared<CountingObserver>(std::move(counters));
}

store::QueryObserver query_observer(std::shared_ptr<metrics::Counters> counters) {
    return [c = std::move(counters)](std::chrono::nanoseconds took, bool ok) {
        c->db_query_seconds.observe(seconds(took));
        if (!ok) {
            ++c->db_errors;
        }
    };
}

metrics::Gauges::Database database_gauges(store::Overview const& o, std::int64_t now_ms) {
    auto age = [now_ms](std::int64_t since) {
        return since > 0 ? static_cast<double>(std::max<std::int64_t>(now_ms - since, 0)) / 1000.0 : 0.0;
    };
    metrics::Gauges::Database d;
    d.inbox_items = o.inbox_items;
    d.inbox_oldest_age = age(o.inbox_oldest_at);
    d.outbox_items = o.outbox_items;
    d.outbox_oldest_age = age(o.outbox_oldest_at);
    d.dead_letters = o.dead_letters;
    d.connected_users = o.connected_users;
    d.disconnected_users = o.disconnected_users;
    for (auto const& s : o.subscriptions) {
        d.subscriptions.push_back(metrics::Gauges::Subscriptions{
            s.kind, s.count, s.soonest_expiry > 0 ? std::max<std::int64_t>((s.soonest_expiry - now_ms) / 1000, 0) : 0,
            s.not_active});
    }
    return d;
}

}  // namespace msteams::app
