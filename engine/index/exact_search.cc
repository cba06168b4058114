#include "engine/index/exact_search.h"

#include <cblas-openblas.h>

#include <algorithm>

#include "engine/types.h"

namespace vecmesh::engine {
namespace {

// Below this many queries, or when a query's filter keeps under this fraction of the slots,
// the per-vector kernel beats computing a full distance tile.
constexpr size_t kGemmMinQueries = 8;
constexpr size_t kGemmQueryBlock = 256;
constexpr double kGemmMinDensity = 0.25;

void ScanOne(const PointTable& table, Metric metric, const ExactQuery& q, uint32_t begin,
             uint32_t end, TopK* top) {
  const size_t dim = table.vectors().dim();
  auto visit = [&](size_t slot) {
    top->Push(Distance(metric, q.vector, table.Vector(slot), dim), static_cast<uint32_t>(slot));
  };
  if (q.allowed) {
    q.allowed->ForEach(begin, end, visit);
  } else {
    for (uint32_t slot = begin; slot < end; ++slot) visit(slot);
  }
}

// Queries [first, last) against every arena chunk overlapping [begin, end), one sgemm per chunk.
void ScanBlock(const PointTable& table, Metric metric, const std::vector<ExactQuery>& queries,
               const std::vector<size_t>& block, uint32_t begin, uint32_t end,
               std::vector<TopK>* tops) {
  const size_t dim = table.vectors().dim();
  const size_t nq = block.size();
  std::vector<float> q(nq * dim);
  for (size_t i = 0; i < nq; ++i) {
    std::copy_n(queries[block[i]].vector, dim, q.begin() + i * dim);
  }
  constexpr size_t kChunk = VectorArena::kChunkVectors;
  std::vector<float> ip(nq * kChunk);
  for (size_t chunk = begin / kChunk; chunk * kChunk < end; ++chunk) {
    const size_t first = std::max<size_t>(begin, chunk * kChunk);
    const size_t last = std::min<size_t>(end, (chunk + 1) * kChunk);
    const size_t n = last - first;
    const float* y = table.vectors().Chunk(chunk) + (first - chunk * kChunk) * dim;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nq, n, dim, 1.0f, q.data(), dim, y, dim,
                0.0f, ip.data(), n);
    const float* norms = table.SquaredNorms() + first;
    for (size_t i = 0; i < nq; ++i) {
      const Bitset* allowed = queries[block[i]].allowed;
      TopK& top = (*tops)[block[i]];
      const float* row = ip.data() + i * n;
      float bound = top.Bound();
      for (size_t j = 0; j < n; ++j) {
        // ||y||^2 - 2<x,y> orders like ||x - y||^2; exact distances are recomputed at the end.
        const float d = metric == Metric::kL2 ? norms[j] - 2 * row[j] : -row[j];
        if (d >= bound) continue;
        const auto slot = static_cast<uint32_t>(first + j);
        if (allowed && !allowed->Test(slot)) continue;
        top.Push(d, slot);
        bound = top.Bound();
      }
    }
  }
}

}  // namespace

std::vector<std::vector<Neighbor>> ExactSearch(const PointTable& table, Metric metric,
                                               const std::vector<ExactQuery>& queries,
                                               uint32_t begin, uint32_t end, int threads) {
  const size_t dim = table.vectors().dim();
  std::vector<TopK> tops;
  tops.reserve(queries.size());
  for (const ExactQuery& q : queries) tops.emplace_back(q.k);

  // Dense queries of a large enough batch share sgemm tiles; the rest run one by one.
  std::vector<size_t> dense, single;
  const size_t range = end > begin ? end - begin : 0;
  for (size_t i = 0; i < queries.size(); ++i) {
    const Bitset* allowed = queries[i].allowed;
    bool is_dense = !allowed || allowed->Count() >= kGemmMinDensity * range;
    (is_dense ? dense : single).push_back(i);
  }
  if (dense.size() < kGemmMinQueries) {
    single.insert(single.end(), dense.begin(), dense.end());
    dense.clear();
  }
  std::vector<std::vector<size_t>> blocks;
  for (size_t i = 0; i < dense.size(); i += kGemmQueryBlock) {
    blocks.emplace_back(dense.begin() + i,
                        dense.begin() + std::min(dense.size(), i + kGemmQueryBlock));
  }
  const auto num_blocks = static_cast<int64_t>(blocks.size());
  const auto num_single = static_cast<int64_t>(single.size());
#pragma omp parallel num_threads(threads) if (threads > 1 && num_blocks + num_single > 1)
  {
#pragma omp for schedule(dynamic) nowait
    for (int64_t b = 0; b < num_blocks; ++b) {
      ScanBlock(table, metric, queries, blocks[b], begin, end, &tops);
    }
#pragma omp for schedule(dynamic)
    for (int64_t i = 0; i < num_single; ++i) {
      ScanOne(table, metric, queries[single[i]], begin, end, &tops[single[i]]);
    }
  }

  std::vector<std::vector<Neighbor>> out(queries.size());
  for (size_t i = 0; i < queries.size(); ++i) {
    out[i] = tops[i].Take();
    for (Neighbor& n : out[i])
      n.distance = Distance(metric, queries[i].vector, table.Vector(n.slot), dim);
    std::sort(out[i].begin(), out[i].end());
  }
  return out;
}

}  // namespace vecmesh::engine
