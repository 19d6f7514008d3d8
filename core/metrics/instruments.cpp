#include "metrics/instruments.hpp"

#include <algorithm>
#include <cmath>

namespace msteams::metrics {

Histogram::Histogram(std::span<double const> bounds)
    : bounds_(bounds.begin(), bounds.end()),
      buckets_(new std::atomic<std::uint64_t>[bounds.size() + 1]) {
    std::sort(bounds_.begin(), bounds_.end());
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
        buckets_[i].store(0);
    }
}

void Histogram::observe(double value) noexcept {
    if (!(value > 0)) {  // negative, zero and NaN
        value = 0;
    }
    auto const at = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
    buckets_[static_cast<std::size_t>(at)].fetch_add(1, std::memory_order_relaxed);
    if (std::isfinite(value)) {
        sum_.fetch_add(value, std::memory_order_relaxed);
    }
}

Histogram::Snapshot Histogram::snapshot() const {
    Snapshot s;
    s.bounds = bounds_;
    s.cumulative.reserve(bounds_.size() + 1);
    std::uint64_t running = 0;
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
        running += buckets_[i].load(std::memory_order_relaxed);
        s.cumulative.push_back(running);
    }
    s.count = running;  // the +Inf bucket and the count agree, whatever observations ran meanwhile
    s.sum = sum_.load(std::memory_order_relaxed);
    return s;
}

namespace {

// The label set an observation is kept under: its own, or "other" everywhere once the family is full.
template <class Map>
std::vector<std::string> key_for(Map const& series, std::vector<std::string> const& names,
                                 std::vector<std::string> const& values, std::size_t max_series) {
    std::vector<std::string> key = values;
    key.resize(names.size());
    if (series.size() >= max_series && !series.contains(key)) {
        std::fill(key.begin(), key.end(), "other");
    }
    return key;
}

}  // namespace

CounterFamily::CounterFamily(std::vector<std::string> label_names, std::size_t max_series,
                             std::vector<std::vector<std::string>> const& initial)
    : names_(std::move(label_names)),
      max_series_(std::max<std::size_t>(max_series, 1)) {
    for (auto const& values : initial) {
        add(values, 0);
    }
}

void CounterFamily::add(std::vector<std::string> const& values, std::uint64_t n) {
    std::lock_guard lock(mutex_);
    series_[key_for(series_, names_, values, max_series_)] += n;
}

std::vector<CounterFamily::Series> CounterFamily::snapshot() const {
    std::lock_guard lock(mutex_);
    std::vector<Series> out;
    out.reserve(series_.size());
    for (auto const& [values, value] : series_) {
        out.push_back(Series{values, value});
    }
    return out;
}

HistogramFamily::HistogramFamily(std::vector<std::string> label_names, std::size_t max_series,
                                 std::span<double const> bounds)
    : names_(std::move(label_names)),
      max_series_(std::max<std::size_t>(max_series, 1)),
      bounds_(bounds.begin(), bounds.end()) {}

void HistogramFamily::observe(std::vector<std::string> const& values, double value) {
    Histogram* h = nullptr;
    {
        std::lock_guard lock(mutex_);
        auto& slot = series_[key_for(series_, names_, values, max_series_)];
        if (!slot) {
            slot = std::make_unique<Histogram>(bounds_);
        }
        h = slot.get();  // never freed while the family lives
    }
    h->observe(value);
}

std::vector<HistogramFamily::Series> HistogramFamily::snapshot() const {
    std::lock_guard lock(mutex_);
    std::vector<Series> out;
    out.reserve(series_.size());
    for (auto const& [values, h] : series_) {
        out.push_back(Series{values, h->snapshot()});
    }
    return out;
}

}  // namespace msteams::metrics
