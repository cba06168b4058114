#include "tests/support/synthetic.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>
#include <thread>

namespace vecmesh::testing {

Dataset MakeClustered(size_t num_base, size_t num_queries, size_t dim, size_t num_clusters,
                      uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<size_t> pick(0, num_clusters - 1);
  std::vector<float> centers(num_clusters * dim);
  for (float& c : centers) c = normal(rng) * 1.0f;
  Dataset d;
  d.dim = dim;
  auto fill = [&](std::vector<float>& out, size_t n) {
    out.resize(n * dim);
    for (size_t i = 0; i < n; ++i) {
      const float* c = centers.data() + pick(rng) * dim;
      for (size_t j = 0; j < dim; ++j) out[i * dim + j] = c[j] + normal(rng);
    }
  };
  fill(d.base, num_base);
  fill(d.queries, num_queries);
  return d;
}

engine::Payload SyntheticPayload(size_t i) {
  return {{"tag", "t" + std::to_string(i % 1000)},
          {"bucket", i % 1000},
          {"half", i % 2 == 0},
          {"group", {{"id", i % 10}}}};
}

const std::vector<Selectivity>& Selectivities() {
  static const std::vector<Selectivity> s = {
      {"50%", R"({"must": [{"key": "half", "match": {"value": true}}]})",
       [](size_t i) { return i % 2 == 0; }},
      {"5%", R"({"must": [{"key": "bucket", "range": {"lt": 50}}]})",
       [](size_t i) { return i % 1000 < 50; }},
      {"0.1%", R"({"must": [{"key": "tag", "match": {"value": "t7"}}]})",
       [](size_t i) { return i % 1000 == 7; }},
  };
  return s;
}

std::vector<engine::Point> MakePoints(const Dataset& data, size_t begin, size_t end) {
  std::vector<engine::Point> points;
  points.reserve(end - begin);
  for (size_t i = begin; i < end; ++i) {
    points.push_back({uint64_t{i}, std::vector<float>(data.Base(i), data.Base(i) + data.dim),
                      SyntheticPayload(i)});
  }
  return points;
}

std::vector<std::pair<double, uint64_t>> ExactNeighbors(const Dataset& data, engine::Metric metric,
                                                        const float* query, size_t k,
                                                        const std::vector<bool>* allowed) {
  const size_t dim = data.dim;
  double qnorm = 0;
  for (size_t j = 0; j < dim; ++j) qnorm += double(query[j]) * query[j];
  std::vector<std::pair<double, uint64_t>> scored;  // lower is better
  for (size_t i = 0; i < data.num_base(); ++i) {
    if (allowed && !(*allowed)[i]) continue;
    const float* b = data.Base(i);
    double l2 = 0, ip = 0, bnorm = 0;
    for (size_t j = 0; j < dim; ++j) {
      double diff = double(query[j]) - b[j];
      l2 += diff * diff;
      ip += double(query[j]) * b[j];
      bnorm += double(b[j]) * b[j];
    }
    double key = metric == engine::Metric::kL2   ? l2
                 : metric == engine::Metric::kIp ? -ip
                                                 : -ip / std::sqrt(qnorm * bnorm);
    scored.emplace_back(key, i);
  }
  size_t n = std::min(k, scored.size());
  std::partial_sort(scored.begin(), scored.begin() + n, scored.end());
  scored.resize(n);
  return scored;
}

std::vector<uint64_t> ExactTopK(const Dataset& data, engine::Metric metric, const float* query,
                                size_t k, const std::vector<bool>* allowed) {
  std::vector<uint64_t> ids;
  for (const auto& [key, id] : ExactNeighbors(data, metric, query, k, allowed)) ids.push_back(id);
  return ids;
}

double Recall(const std::vector<uint64_t>& truth, const std::vector<uint64_t>& found, size_t k) {
  size_t n = std::min(k, truth.size());
  if (n == 0) return 1.0;
  std::vector<uint64_t> t(truth.begin(), truth.begin() + n);
  std::sort(t.begin(), t.end());
  size_t hits = 0;
  for (size_t i = 0; i < std::min(k, found.size()); ++i) {
    hits += std::binary_search(t.begin(), t.end(), found[i]);
  }
  return double(hits) / n;
}

std::vector<uint64_t> IdsOf(const std::vector<engine::ScoredPoint>& results) {
  std::vector<uint64_t> ids;
  for (const auto& r : results) ids.push_back(std::get<uint64_t>(r.id));
  return ids;
}

bool WaitUntilIndexed(const engine::LocalStore& store, const std::string& collection,
                      double timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    auto info = store.GetCollection({}, collection);
    if (!info.ok()) return false;
    if (info->status == "ready") return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace vecmesh::testing
