// Distance kernels and exact k-NN search.
//
// Internally every metric is a distance where lower is better: l2 is the squared Euclidean
// distance, ip and cosine are the negated inner product (cosine vectors are stored normalised).
// The kernels are compiled for AVX-512, AVX2+FMA and baseline x86-64 and picked at run time.
// All functions are pure: safe to call from any number of threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vecmesh::engine {

enum class Metric;

float L2Sqr(const float* a, const float* b, size_t dim);
float InnerProduct(const float* a, const float* b, size_t dim);
// Lower is better: L2Sqr for l2, -InnerProduct for ip and cosine.
float Distance(Metric metric, const float* a, const float* b, size_t dim);

struct Neighbor {
  float distance;
  uint32_t slot;
  bool operator<(const Neighbor& o) const {
    return distance < o.distance || (distance == o.distance && slot < o.slot);
  }
};

// Keeps the k smallest neighbours pushed into it.
class TopK {
 public:
  explicit TopK(size_t k) : k_(k) { heap_.reserve(k); }
  // The distance a candidate must beat to enter (infinity until k are held).
  float Bound() const;
  void Push(float distance, uint32_t slot);
  // Nearest first; empties the TopK.
  std::vector<Neighbor> Take();

 private:
  size_t k_;
  std::vector<Neighbor> heap_;  // max-heap on distance
};

}  // namespace vecmesh::engine
