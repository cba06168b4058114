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

std::string Listed(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

// The answer when every store failed (see SearchAll).
Status EveryStoreFailed(const std::string& collection, const std::vector<StoreOutcome>& stores) {
  if (stores.size() == 1) return stores.front().status;
  const bool all_invalid = std::all_of(stores.begin(), stores.end(), [](const StoreOutcome& s) {
    return s.status.code() == engine::StatusCode::kInvalidArgument;
  });
  if (all_invalid) return stores.front().status;
  std::string why;
  for (const auto& s : stores)
    why += (why.empty() ? "" : "; ") + s.store + ": " + s.status.ToString();
  return Status::Unavailable("every store of collection '" + collection +
                             "' failed this search: " + why);
}

}  // namespace

StoreRouter::StoreRouter(std::map<std::string, std::shared_ptr<engine::VectorStore>> stores,
                         std::string catalog)
    : stores_(std::move(stores)), catalog_(stores_.at(catalog)) {}

std::shared_ptr<engine::VectorStore> StoreRouter::Store(std::string_view store) const {
  auto it = stores_.find(std::string(store));
  return it == stores_.end() ? nullptr : it->second;
}

StatusOr<std::vector<std::string>> StoreRouter::BackendsOf(const CallOptions& options,
                                                           const std::string& collection) const {
  auto info = catalog_->GetCollection(options, collection);
  if (!info.ok()) return info.status();
  if (info->config.backends.empty()) {
    return Status::Internal("collection '" + collection + "' lists no backend in the catalog");
  }
  return std::move(info->config.backends);
}

StatusOr<std::shared_ptr<engine::VectorStore>> StoreRouter::ReadStore(
    const CallOptions& options, const std::string& collection,
    const std::optional<std::string>& store, std::string_view field) const {
  auto backends = BackendsOf(options, collection);
  if (!backends.ok()) return backends.status();
  const std::string& chosen = store ? *store : backends->front();
  if (std::find(backends->begin(), backends->end(), chosen) == backends->end()) {
    return Status::InvalidArgument(std::string(field) + " is '" + chosen + "'; collection '" +
                                   collection + "' is held by " + Listed(*backends) +
                                   " (or use all)");
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
  auto answers = FanOut(options, collection, {request},
                        [&](const engine::VectorStore& store) -> StatusOr<Results> {
                          auto results = store.Search(options, collection, request);
                          if (!results.ok()) return results.status();
                          return Results{std::move(*results)};
                        });
  if (!answers.ok()) return answers.status();
  return std::move(answers->front());
}

StatusOr<std::vector<FannedOutSearch>> StoreRouter::SearchBatchAll(
    const CallOptions& options, const std::string& collection,
    const std::vector<engine::SearchRequest>& requests) const {
  return FanOut(options, collection, requests, [&](const engine::VectorStore& store) {
    return store.SearchBatch(options, collection, requests);
  });
}

StatusOr<std::vector<FannedOutSearch>> StoreRouter::FanOut(
    const CallOptions& options, const std::string& collection,
    const std::vector<engine::SearchRequest>& requests,
    const std::function<StatusOr<Results>(const engine::VectorStore&)>& ask) const {
  auto info = catalog_->GetCollection(options, collection);
  if (!info.ok()) return info.status();
  const engine::Metric metric = info->config.metric;
  const std::vector<std::string>& backends = info->config.backends;
  if (backends.empty()) {
    return Status::Internal("collection '" + collection + "' lists no backend in the catalog");
  }

  using Answer = std::pair<StatusOr<Results>, double>;
  auto ask_store = [&](const std::string& name) -> Answer {
    const auto start = std::chrono::steady_clock::now();
    auto it = stores_.find(name);
    if (it == stores_.end()) {
      return {Status::FailedPrecondition("backend '" + name + "' is not configured on this server"),
              0.0};
    }
    auto results = ask(*it->second);
    return {std::move(results), MillisecondsSince(start)};
  };
  // Every store at once: the first on this thread, each other one (at most two: API.md names
  // three stores) on its own.
  std::vector<std::future<Answer>> others;
  for (size_t i = 1; i < backends.size(); ++i) {
    others.push_back(std::async(std::launch::async, ask_store, backends[i]));
  }
  std::vector<Answer> answers;
  answers.push_back(ask_store(backends.front()));
  for (auto& other : others) answers.push_back(other.get());

  std::vector<StoreOutcome> stores;
  for (size_t i = 0; i < backends.size(); ++i) {
    stores.push_back({backends[i], answers[i].first.status(), answers[i].second});
  }
  if (std::none_of(stores.begin(), stores.end(), [](const auto& s) { return s.status.ok(); })) {
    return EveryStoreFailed(collection, stores);
  }
  std::vector<FannedOutSearch> out(requests.size());
  for (size_t r = 0; r < requests.size(); ++r) {
    std::map<engine::PointId, engine::ScoredPoint> best;  // each id once, with its best score
    for (auto& [results, took_ms] : answers) {
      if (!results.ok()) continue;
      for (auto& point : (*results)[r]) {
        auto [at, inserted] = best.try_emplace(point.id, point);
        if (!inserted && Better(metric, point.score, at->second.score)) at->second = point;
      }
    }
    auto& merged = out[r].results;
    for (auto& [id, point] : best) merged.push_back(std::move(point));
    std::stable_sort(merged.begin(), merged.end(), [&](const auto& a, const auto& b) {
      return Better(metric, a.score, b.score);
    });
    if (merged.size() > static_cast<size_t>(requests[r].k)) merged.resize(requests[r].k);
    out[r].stores = stores;
  }
  return out;
}

}  // namespace vecmesh::api
