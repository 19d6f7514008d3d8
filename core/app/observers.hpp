#pragma once

#include <cstdint>
#include <memory>

#include "graph/observer.hpp"
#include "metrics/counters.hpp"
#include "metrics/prometheus.hpp"
#include "store/database.hpp"
#include "store/overview.hpp"

// The bridge's metrics fed by what the Graph client, Entra and the database report.
namespace msteams::app {

// Counts requests, statuses, latencies, retries and rate-limiter waits; token refreshes by result.
[[nodiscard]] std::shared_ptr<graph::Observer> graph_observer(std::shared_ptr<metrics::Counters> counters);

// Times every database statement and counts the failed ones.
[[nodiscard]] store::QueryObserver query_observer(std::shared_ptr<metrics::Counters> counters);

// The database part of the gauges, ages taken at `now_ms`.
[[nodiscard]] metrics::Gauges::Database database_gauges(store::Overview const& overview, std::int64_t now_ms);

}  // namespace msteams::app
