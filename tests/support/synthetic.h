// Synthetic data for tests, the benchmark and the demo: clustered vectors (the shape real
// embeddings have, and the hard case for IVF and HNSW), payloads with known selectivities, and
// a double-precision brute-force reference.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/store/local_store.h"

namespace vecmesh::testing {

struct Dataset {
  size_t dim = 0;
  std::vector<float> base;     // num_base * dim, row-major
  std::vector<float> queries;  // num_queries * dim
  size_t num_base() const { return base.size() / dim; }
  size_t num_queries() const { return queries.size() / dim; }
  const float* Base(size_t i) const { return base.data() + i * dim; }
  const float* Query(size_t i) const { return queries.data() + i * dim; }
};

// `num_clusters` Gaussian clusters; queries are drawn from the same distribution.
Dataset MakeClustered(size_t num_base, size_t num_queries, size_t dim, size_t num_clusters,
                      uint64_t seed);

// Payload of point i: {"tag": "t<i % 1000>", "bucket": i % 1000, "half": i % 2 == 0,
// "group": {"id": i % 10}}. So "half" keeps 50%, bucket < 50 keeps 5%, tag "t7" keeps 0.1%.
engine::Payload SyntheticPayload(size_t i);

// Filters over SyntheticPayload with known selectivities (50%, 5% and 0.1%), and the same
// predicate over the point index, for references.
struct Selectivity {
  const char* name;
  const char* filter;  // FILTER JSON
  bool (*keeps)(size_t i);
};
const std::vector<Selectivity>& Selectivities();

// Points 0..n-1 of `data` with integer ids = index and SyntheticPayload.
std::vector<engine::Point> MakePoints(const Dataset& data, size_t begin, size_t end);

// Exact k nearest (key, id) pairs, best first, keys lower-is-better in double precision:
// squared L2, negative inner product, negative cosine similarity.
std::vector<std::pair<double, uint64_t>> ExactNeighbors(const Dataset& data, engine::Metric metric,
                                                        const float* query, size_t k,
                                                        const std::vector<bool>* allowed = nullptr);

// Exact top-k ids (best first) of query q among base points i with allowed(i), computed in
// double precision with API.md's score convention for `metric`.
std::vector<uint64_t> ExactTopK(const Dataset& data, engine::Metric metric, const float* query,
                                size_t k, const std::vector<bool>* allowed = nullptr);

// |found ∩ truth[:k]| / min(k, |truth|).
double Recall(const std::vector<uint64_t>& truth, const std::vector<uint64_t>& found, size_t k);

std::vector<uint64_t> IdsOf(const std::vector<engine::ScoredPoint>& results);

// Polls until the collection reports "ready" (its index caught up); false after timeout_s.
bool WaitUntilIndexed(const engine::LocalStore& store, const std::string& collection,
                      double timeout_s = 300);

}  // namespace vecmesh::testing
