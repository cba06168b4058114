#include "api/service/store_router.h"

#include <algorithm>
#include <chrono>
#include <future>

namespace vecmesh::api {
namespace {

double MillisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// Whether score `a` ranks before score `b` under `metric` (l2: a distance, lower is better).
bool Better(engine::Metric metric, float a, float b) {
  switch (metric) {
    case engine::Metric::kL2:
      return a < b;
    case engine::Metric::kIp:
    case engine::Metric::kCosine:
      return a > b;
  }
  return a > b;
}

}  // namespace

StoreRouter::StoreRouter(std::map<std::string, std::shared_ptr<engine::VectorStore>> stores,
                         std::string catalog)
    : stores_(std::move(stores)), catalog_(stores_.at(catalog)) {}

std::vector<std::string> StoreRouter::StoreNames() const {
  std::vector<std::string> names;
  for (const auto& [name, store] : stores_) names.push_back(name);
  return names;
}

StatusOr<engine::CollectionConfig> StoreRouter::ConfigOf(const CallOptions& options,
                                                         const std::string& collection) const {
  auto info = catalog_->GetCollection(options, collection);
  if (!info.ok()) return info.status();
  return std::move(info->config);
}

StatusOr<std::shared_ptr<engine::VectorStore>> StoreRouter::ReadStore(
    const CallOptions& options, const std::string& collection, const std::string& store,
    std::string_view field) const {
  auto config = ConfigOf(options, collection);
  if (!config.ok()) return config.status();
  const auto& backends = config->backends;
  const std::string& chosen = store.empty() ? backends.front() : store;
  if (std::find(backends.begin(), backends.end(), chosen) == backends.end()) {
    std::string listed;
    for (const auto& b : backends) listed += (listed.empty() ? "" : ", ") + b;
    return Status::InvalidArgument(std::string(field) + " is '" + chosen + "'; collection '" +
                                   collection + "' is held by " + listed + " (or use all)");
  }
  auto it = stores_.find(chosen);
  if (it == stores_.end()) {
    return Status::FailedPrecondition(std::string(field) + ": backend '" + chosen +
                                      "' is not configured on this server");
  }
  return it->second;
}

StatusOr<FannedOutSearch> StoreRouter::SearchAll(const CallOptions& options,
                                                 const std::string& collection,
                                                 const engine::SearchRequest& request) const {
  auto config = ConfigOf(options, collection);
  if (!config.ok()) return config.status();
  const auto& backends = config->backends;

  using Answer = std::pair<StatusOr<std::vector<engine::ScoredPoint>>, double>;
  auto ask = [&](const std::string& name) -> Answer {
    const auto start = std::chrono::steady_clock::now();
    auto it = stores_.find(name);
    if (it == stores_.end()) {
      return {Status::FailedPrecondition("backend '" + name + "' is not configured on this server"),
              0.0};
    }
    auto results = it->second->Search(options, collection, request);
    return {std::move(results), MillisecondsSince(start)};
  };
  // Every store at once: the first on this thread, the others on their own.
  std::vector<std::future<Answer>> others;
  for (size_t i = 1; i < backends.size(); ++i) {
    others.push_back(std::async(std::launch::async, ask, backends[i]));
  }
  std::vector<Answer> answers;
  answers.push_back(ask(backends.front()));
  for (auto& other : others) answers.push_back(other.get());

  FannedOutSearch out;
  std::map<engine::PointId, engine::ScoredPoint> best;  // by id: each id once, its best score
  bool any_ok = false, all_invalid = true;
  for (size_t i = 0; i < backends.size(); ++i) {
    auto& [results, took_ms] = answers[i];
    out.stores.push_back({backends[i], results.status(), took_ms});
    if (!results.ok()) {
      all_invalid =
          all_invalid && results.status().code() == engine::StatusCode::kInvalidArgument;
      continue;
    }
    any_ok = true;
    for (auto& point : *results) {
      auto [at, inserted] = best.try_emplace(point.id, point);
      if (!inserted && Better(config->metric, point.score, at->second.score)) at->second = point;
    }
  }
  if (!any_ok) {
    if (all_invalid) return out.stores.front().status;
    std::string why;
    for (const auto& s : out.stores) {
      why += (why.empty() ? "" : "; ") + s.store + ": " + s.status.ToString();
    }
    return Status::Unavailable("every store of collection '" + collection +
                               "' failed this search: " + why);
  }
  for (auto& [id, point] : best) out.results.push_back(std::move(point));
  std::stable_sort(out.results.begin(), out.results.end(),
                   [&](const auto& a, const auto& b) {
                     return Better(config->metric, a.score, b.score);
                   });
  if (out.results.size() > static_cast<size_t>(request.k)) out.results.resize(request.k);
  return out;
}

}  // namespace vecmesh::api
