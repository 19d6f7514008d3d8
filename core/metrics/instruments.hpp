#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

// Histograms and labelled counters: what Prometheus reads besides the plain counters. Thread-safe; an observation
// takes no lock (histograms) or one short lock (labelled families, whose label sets are small and closed).
namespace msteams::metrics {

// Upper bounds in seconds for request, query and delivery latencies: 1 ms to 2 minutes.
inline constexpr std::array<double, 16> k_latency_buckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                             0.5,   1,      2.5,   5,    10,    30,   60,  120};

class Histogram {
public:
    explicit Histogram(std::span<double const> bounds = k_latency_buckets);

    // Negative values count as 0.
    void observe(double value) noexcept;

    struct Snapshot {
        std::vector<double> bounds;
        std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf (= count)
        std::uint64_t count = 0;
        double sum = 0;
    };
    [[nodiscard]] Snapshot snapshot() const;

private:
    std::vector<double> bounds_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1 (the last is +Inf)
    std::atomic<double> sum_{0};
};

// Counters (or histograms) keyed by the values of a fixed list of labels. A family holds at most `max_series` label
// sets; observations of further sets go to one whose every value is "other", so a bug can never grow it unbounded.
class CounterFamily {
public:
    // `initial`: label sets shown (at 0) before anything is counted, so that queries for a closed set find them.
    explicit CounterFamily(std::vector<std::string> label_names, std::size_t max_series = 256,
                           std::vector<std::vector<std::string>> const& initial = {});

    void add(std::vector<std::string> const& values, std::uint64_t n = 1);

    struct Series {
        std::vector<std::string> values;
        std::uint64_t value = 0;
    };
    [[nodiscard]] std::vector<Series> snapshot() const;
    [[nodiscard]] std::vector<std::string> const& label_names() const noexcept { return names_; }

private:
    std::vector<std::string> names_;
    std::size_t max_series_;
    mutable std::mutex mutex_;
    std::map<std::vector<std::string>, std::uint64_t> series_;
};

class HistogramFamily {
public:
    explicit HistogramFamily(std::vector<std::string> label_names, std::size_t max_series = 64,
                             std::span<double const> bounds = k_latency_buckets);

    void observe(std::vector<std::string> const& values, double value);

    struct Series {
        std::vector<std::string> values;
        Histogram::Snapshot histogram;
    };
    [[nodiscard]] std::vector<Series> snapshot() const;
    [[nodiscard]] std::vector<std::string> const& label_names() const noexcept { return names_; }

private:
    std::vector<std::string> names_;
    std::size_t max_series_;
    std::vector<double> bounds_;
    mutable std::mutex mutex_;
    std::map<std::vector<std::string>, std::unique_ptr<Histogram>> series_;
};

}  // namespace msteams::metrics
