// Private to engine/collection: scaling a vector to unit length, which both an upsert into a
// cosine collection (writes.cc) and a cosine query (search_planner.cc) do, so that stored and
// query vectors are normalised by the very same arithmetic.
#pragma once

#include <cmath>
#include <vector>

#include "engine/index/distance.h"

namespace vecmesh::engine {

// `v` must not be all zeros (the callers' validation refuses such vectors first).
inline void Normalize(std::vector<float>* v) {
  float norm = std::sqrt(InnerProduct(v->data(), v->data(), v->size()));
  for (float& x : *v) x /= norm;
}

}  // namespace vecmesh::engine
