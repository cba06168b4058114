// Prometheus metrics: request counts and latency histograms per transport, operation and status
// code, and, read at scrape time, collections, points, index state, log latency and the import
// queue. Render() writes the text exposition format (checked by `promtool check metrics`).
//
// Thread safety: Record and Render are safe from any thread.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

#include "api/service/service.h"
#include "engine/latency_histogram.h"

namespace vecmesh::api {

class Metrics {
 public:
  // One finished request. `operation`: an Operation's name, or the route for health, metrics
  // and openapi; `code`: the status code name ("OK", "INVALID_ARGUMENT", ...).
  void Record(std::string_view transport, std::string_view operation, std::string_view code,
              double seconds);
  std::string Render(const Service& service) const;

 private:
  mutable std::mutex mu_;  // guards both maps (not the histograms' counters, which are atomic)
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> requests_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<engine::LatencyHistogram>>
      latency_;
};

}  // namespace vecmesh::api
