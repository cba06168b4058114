// Brute-force k-NN over a PointTable: the flat index, the exact fallback of every other index,
// and the scan of points not yet in an approximate index. Pure function of its inputs.
#pragma once

#include <cstddef>
#include <vector>

#include "engine/index/distance.h"
#include "engine/segment/point_table.h"

namespace vecmesh::engine {

struct ExactQuery {
  const float* vector;  // dim floats (normalised for cosine)
  size_t k;
  const Bitset* allowed;  // the slots to consider; null: every slot in the range
};

// For each query, its k nearest slots in [begin, end), nearest first, with exact distances.
// Batches of dense queries go through BLAS (sgemm tiles over the arena's chunks); single
// queries and sparse filters use the SIMD kernels. Runs on up to `threads` OpenMP threads.
std::vector<std::vector<Neighbor>> ExactSearch(const PointTable& table, Metric metric,
                                               const std::vector<ExactQuery>& queries,
                                               uint32_t begin, uint32_t end, int threads);

}  // namespace vecmesh::engine
