// A histogram of durations over fixed bucket bounds, for metrics. Recording is lock-free and
// safe from any number of threads; Read gives a consistent-enough view for a scrape (each
// counter is exact, the counters are read one after another).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace vecmesh::engine {

class LatencyHistogram {
 public:
  // Upper bounds in seconds, Prometheus style (a last bucket, +Inf, follows them).
  static constexpr std::array<double, 14> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                     0.005,  0.01,    0.025,  0.05,  0.1,
                                                     0.25,   0.5,     1,      2.5};

  struct Counts {
    std::array<uint64_t, kBounds.size() + 1> buckets{};  // not cumulative; the last is +Inf
    uint64_t count = 0;
    double sum_seconds = 0;
  };

  void Record(double seconds) {
    size_t i = 0;
    while (i < kBounds.size() && seconds > kBounds[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<uint64_t>(seconds * 1e9), std::memory_order_relaxed);
  }

  Counts Read() const {
    Counts out;
    for (size_t i = 0; i < buckets_.size(); ++i) {
      out.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
      out.count += out.buckets[i];
    }
    out.sum_seconds = sum_ns_.load(std::memory_order_relaxed) / 1e9;
    return out;
  }

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<uint64_t> sum_ns_{0};
};

}  // namespace vecmesh::engine
