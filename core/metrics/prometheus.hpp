#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "metrics/counters.hpp"
#include "metrics/instruments.hpp"

// The Prometheus text exposition (format 0.0.4) of everything the bridge measures. Every metric's name, type and help
// is written here and only here; docs/operations.md lists them for admins.
namespace msteams::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

// What is read at scrape time rather than counted: the database's view (the same from every node) and this node's.
struct Gauges {
    // this node
    bool active = false;  // the plugin runs with a complete configuration
    bool leader = false;  // this node keeps the subscriptions and runs the periodic jobs
    // Seconds until the configured client secret expires, as the leader last read it (absent: not read here, or the
    // app may not read it)
    std::optional<double> secret_seconds_to_expiry;
    double start_time = 0;      // Unix seconds the core started
    std::int64_t restarts = 0;  // core processes the shim started after the first one, since the plugin started

    // the database (absent when it cannot be read: msteams_database_up is 0 then)
    struct Subscriptions {
        std::string kind;
        std::int64_t count = 0;
        std::int64_t seconds_to_expiry = 0;  // the soonest
        std::int64_t not_active = 0;         // waiting for reauthorization, removed or missed
    };
    struct Database {
        std::int64_t inbox_items = 0;
        double inbox_oldest_age = 0;  // seconds
        std::int64_t outbox_items = 0;
        double outbox_oldest_age = 0;
        std::int64_t dead_letters = 0;
        std::int64_t connected_users = 0;
        std::int64_t disconnected_users = 0;
        std::vector<Subscriptions> subscriptions;
    };
    std::optional<Database> database;
};

// Writes one family at a time: HELP and TYPE once, then its samples. Every sample carries the constant labels.
class Exposition {
public:
    explicit Exposition(Labels constant = {});

    void counter(std::string_view name, std::string_view help, double value, Labels const& labels = {});
    void gauge(std::string_view name, std::string_view help, double value, Labels const& labels = {});
    void histogram(std::string_view name, std::string_view help, Histogram::Snapshot const& h,
                   Labels const& labels = {});
    void counters(std::string_view name, std::string_view help, CounterFamily const& family);
    void histograms(std::string_view name, std::string_view help, HistogramFamily const& family);

    [[nodiscard]] std::string take() { return std::move(out_); }

private:
    void header(std::string_view name, std::string_view help, std::string_view type);
    void sample(std::string_view name, Labels const& labels, double value, std::string_view le = {});

    Labels constant_;
    std::string out_;
    std::string last_;
};

// A label value or help text as the text format wants it.
[[nodiscard]] std::string escape_label_value(std::string_view value);

// The whole exposition of a node: its counters, histograms and gauges, each sample labelled node=<node>.
[[nodiscard]] std::string render(Counters const& counters, Gauges const& gauges, std::string const& node);

// The content type of the text format.
inline constexpr char const* k_content_type = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace msteams::metrics
