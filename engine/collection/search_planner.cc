// Collection: the search planner. Search validates a batch, then routes each query to an exact
// scan or to the approximate index (PreferExact) and completes what the index leaves short
// (SearchIndexed).
#include <algorithm>
#include <cmath>
#include <map>
#include <shared_mutex>
#include <tuple>

#include "engine/collection/collection.h"
#include "engine/collection/normalize.h"
#include "engine/index/exact_search.h"
#include "engine/index/gpu_index.h"

namespace vecmesh::engine {
namespace {

// Filters that keep at most this many points are always answered exactly.
constexpr size_t kExactAlwaysPoints = 2'048;
// ivf_pq and ivf_sq8 fetch this many times k candidates and re-rank them with exact vectors.
constexpr size_t kRefineFactor = 4;

std::string Field(std::string_view list, size_t i, std::string_view field) {
  if (list.empty()) return std::string(field);
  return std::string(list) + "[" + std::to_string(i) + "]." + std::string(field);
}

float ScoreOf(Metric metric, float distance) {
  return metric == Metric::kL2 ? std::sqrt(std::max(distance, 0.0f)) : -distance;
}

}  // namespace

bool Collection::PreferExact(size_t matched, size_t live, size_t k,
                             const AnnSearchParams& params) const {
  if (matched <= kExactAlwaysPoints) return true;
  const double selectivity = static_cast<double>(matched) / std::max<size_t>(live, 1);
  if (IsGpuIndex(config_.index.type)) {
    if (k > kGpuMaxK) return true;
    if (matched == live) return false;  // unfiltered: the device answers
    // The device returns at most kGpuMaxK nearest points and the filter is applied to them:
    // expect selectivity * kGpuMaxK of them to pass.
    if (selectivity * kGpuMaxK < 2.0 * k) return true;
    if (config_.index.type == IndexType::kGpuFlat) return false;
  }
  if (config_.index.type == IndexType::kHnsw) {
    // A filtered graph search visits about ef * 2M / selectivity nodes; the scan visits matched.
    const double graph_visits = 2.0 * config_.index.hnsw_m * params.ef_search / selectivity;
    return static_cast<double>(matched) <= graph_visits;
  }
  // IVF scans nprobe / nlist of all points whatever the filter, and the fewer points a filter
  // keeps, the farther from the query the nearest of them lie, outside the probed lists. The
  // scan costs at most twice the probing below this selectivity, and is exact.
  return selectivity <= 2.0 * params.nprobe / config_.index.nlist;
}

void Collection::SearchIndexed(const std::vector<std::vector<float>>& queries,
                               const std::vector<SearchRequest>& requests,
                               const std::vector<std::optional<Bitset>>& filters,
                               const std::vector<size_t>& matched,
                               const std::vector<AnnSearchParams>& params, const Bitset* all_live,
                               const std::vector<size_t>& indexed_of,
                               std::vector<std::vector<Neighbor>>* neighbors) const {
  if (indexed_of.empty()) return;
  const PointTable& table = *table_;
  const size_t dim = config_.dimension;
  const bool refine = !index_->exact_vectors();
  auto fetch_k = [&](size_t i) {
    return static_cast<size_t>(requests[i].k) * (refine ? kRefineFactor : 1);
  };

  // 1. Candidates from the index. Unfiltered queries with the same k and parameters go in one
  //    batch (FAISS then runs one coarse search for all of them); filtered ones one by one.
  std::map<std::tuple<size_t, int, int>, std::vector<size_t>> batches;
  std::vector<size_t> filtered;
  for (size_t i : indexed_of) {
    if (filters[i]) {
      filtered.push_back(i);
    } else {
      batches[{fetch_k(i), params[i].ef_search, params[i].nprobe}].push_back(i);
    }
  }
  for (const auto& [key, members] : batches) {
    std::vector<float> x(members.size() * dim);
    for (size_t j = 0; j < members.size(); ++j) {
      std::copy(queries[members[j]].begin(), queries[members[j]].end(), x.begin() + j * dim);
    }
    auto found = index_->SearchBatch(x.data(), members.size(), std::get<0>(key), all_live,
                                     params[members[0]], search_threads_);
    for (size_t j = 0; j < members.size(); ++j) (*neighbors)[members[j]] = std::move(found[j]);
  }
  const auto num_filtered = static_cast<int64_t>(filtered.size());
#pragma omp parallel for schedule(dynamic) \
    num_threads(search_threads_) if (search_threads_ > 1 && num_filtered > 1)
  for (int64_t j = 0; j < num_filtered; ++j) {
    const size_t i = filtered[j];
    (*neighbors)[i] = index_->Search(queries[i].data(), fetch_k(i), &*filters[i], params[i]);
  }

  // 2. Exact scores for compressed indexes, the points not yet in the index, and an exact
  //    answer when the index came up short (a graph region cut off by the filter, empty IVF
  //    lists, a GPU fetch the filter emptied or a device failure): the caller is owed
  //    min(k, matching) results.
  const auto num_indexed = static_cast<int64_t>(indexed_of.size());
#pragma omp parallel for schedule(dynamic) \
    num_threads(search_threads_) if (search_threads_ > 1 && num_indexed > 1)
  for (int64_t j = 0; j < num_indexed; ++j) {
    const size_t i = indexed_of[j];
    const float* query = queries[i].data();
    const size_t k = requests[i].k;
    const Bitset* allowed = filters[i] ? &*filters[i] : all_live;
    std::vector<Neighbor>& found = (*neighbors)[i];
    if (refine) {
      for (Neighbor& n : found)
        n.distance = Distance(config_.metric, query, table.Vector(n.slot), dim);
      std::sort(found.begin(), found.end());
      if (found.size() > k) found.resize(k);
    }
    // The index owes min(k, the matching points it holds); the points after it cannot make up
    // for what it missed.
    const size_t indexed_matching = allowed ? allowed->CountBelow(indexed_slots_) : indexed_slots_;
    const bool index_short = found.size() < std::min(k, indexed_matching);
    if (!index_short && indexed_slots_ < table.num_slots()) {
      auto tail = ExactSearch(table, config_.metric, {{query, k, allowed}}, indexed_slots_,
                              table.num_slots(), 1);
      found.insert(found.end(), tail[0].begin(), tail[0].end());
      std::sort(found.begin(), found.end());
      if (found.size() > k) found.resize(k);
    }
    if (index_short || found.size() < std::min(k, matched[i])) {
      found = ExactSearch(table, config_.metric, {{query, k, allowed}}, 0, table.num_slots(), 1)[0];
    }
  }
}

StatusOr<std::vector<std::vector<ScoredPoint>>> Collection::Search(
    const std::vector<SearchRequest>& requests, std::string_view list) const {
  if (!list.empty() && requests.size() > limits_.max_searches_per_batch) {
    return Status::InvalidArgument(std::string(list) + " has " + std::to_string(requests.size()) +
                                   " entries; the limit is " +
                                   std::to_string(limits_.max_searches_per_batch));
  }
  // Validate everything before searching anything.
  std::vector<std::vector<float>> queries(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const SearchRequest& r = requests[i];
    if (r.vector.size() != config_.dimension) {
      return Status::InvalidArgument(Field(list, i, "vector") + " has " +
                                     std::to_string(r.vector.size()) + " values; collection '" +
                                     config_.name + "' has dimension " +
                                     std::to_string(config_.dimension));
    }
    for (size_t j = 0; j < r.vector.size(); ++j) {
      if (!std::isfinite(r.vector[j])) {
        return Status::InvalidArgument(Field(list, i, "vector[" + std::to_string(j) + "]") +
                                       " is " + (std::isnan(r.vector[j]) ? "NaN" : "infinite") +
                                       "; vectors must be finite");
      }
    }
    if (r.k < 1 || r.k > limits_.max_k) {
      return Status::InvalidArgument(Field(list, i, "k") + " must be in [1, " +
                                     std::to_string(limits_.max_k) + "], got " +
                                     std::to_string(r.k));
    }
    if (r.params.ef_search && (*r.params.ef_search < 1 || *r.params.ef_search > 32768)) {
      return Status::InvalidArgument(Field(list, i, "params.ef_search") +
                                     " must be in [1, 32768], got " +
                                     std::to_string(*r.params.ef_search));
    }
    if (r.params.nprobe && (*r.params.nprobe < 1 || *r.params.nprobe > 65536)) {
      return Status::InvalidArgument(Field(list, i, "params.nprobe") +
                                     " must be in [1, 65536], got " +
                                     std::to_string(*r.params.nprobe));
    }
    if (r.score_threshold && !std::isfinite(*r.score_threshold)) {
      return Status::InvalidArgument(Field(list, i, "score_threshold") + " must be finite");
    }
    queries[i] = r.vector;
    if (config_.metric == Metric::kCosine) {
      if (InnerProduct(queries[i].data(), queries[i].data(), config_.dimension) == 0) {
        return Status::InvalidArgument(Field(list, i, "vector") +
                                       " is all zeros; cosine similarity is undefined for it");
      }
      Normalize(&queries[i]);
    }
  }

  std::shared_lock lock(mu_);
  const PointTable& table = *table_;
  const size_t live = table.num_live();
  const Bitset* all_live = live == table.num_slots() ? nullptr : &table.live();

  // Resolve filters, then route each query: exact scan (batched) or the approximate index.
  std::vector<std::optional<Bitset>> filters(requests.size());
  std::vector<size_t> matched(requests.size(), live);
  std::vector<AnnSearchParams> params(requests.size());
  std::vector<ExactQuery> exact_queries;
  std::vector<size_t> exact_of, indexed_of;
  for (size_t i = 0; i < requests.size(); ++i) {
    const SearchRequest& r = requests[i];
    if (r.filter) {
      filters[i] = table.Matching(*r.filter);
      matched[i] = filters[i]->Count();
    }
    params[i].ef_search = r.params.ef_search.value_or(config_.index.ef_search);
    params[i].nprobe = r.params.nprobe.value_or(config_.index.nprobe);
    const Bitset* allowed = filters[i] ? &*filters[i] : all_live;
    const size_t k = static_cast<size_t>(r.k);
    if (!index_ || r.params.exact || PreferExact(matched[i], live, k, params[i])) {
      exact_queries.push_back({queries[i].data(), k, allowed});
      exact_of.push_back(i);
    } else {
      indexed_of.push_back(i);
    }
  }

  std::vector<std::vector<Neighbor>> neighbors(requests.size());
  if (!exact_queries.empty()) {
    auto results =
        ExactSearch(table, config_.metric, exact_queries, 0, table.num_slots(), search_threads_);
    for (size_t j = 0; j < exact_of.size(); ++j) neighbors[exact_of[j]] = std::move(results[j]);
  }
  try {
    SearchIndexed(queries, requests, filters, matched, params, all_live, indexed_of, &neighbors);
  } catch (const std::exception& e) {  // FAISS reports failures by throwing
    return Status::Internal("search of collection '" + config_.name + "' failed: " + e.what());
  }

  std::vector<std::vector<ScoredPoint>> out(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const SearchRequest& r = requests[i];
    for (const Neighbor& n : neighbors[i]) {
      float score = ScoreOf(config_.metric, n.distance);
      if (r.score_threshold) {
        bool keep = config_.metric == Metric::kL2 ? score <= *r.score_threshold
                                                  : score >= *r.score_threshold;
        if (!keep) break;  // results are best first: the rest are worse
      }
      Record rec = MakeRecord(n.slot, r.with_payload, r.with_vector);
      out[i].push_back({std::move(rec.id), score, std::move(rec.payload), std::move(rec.vector)});
    }
  }
  return out;
}

}  // namespace vecmesh::engine
