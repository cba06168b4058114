#include "engine/index/distance.h"

#include <algorithm>
#include <limits>

#include "engine/types.h"

namespace vecmesh::engine {

// The loops are written for the auto-vectoriser: `omp simd reduction` lets it reorder the sum,
// and target_clones compiles one copy per ISA, dispatched once at load time.
// Under ThreadSanitizer the dispatcher (an ifunc resolver) would be instrumented and run by the
// dynamic loader before the sanitizer's runtime exists, crashing at start-up: sanitizer builds
// use the baseline kernels.
#if defined(__SANITIZE_THREAD__)
#define VECMESH_KERNEL
#else
#define VECMESH_KERNEL __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif

VECMESH_KERNEL float L2Sqr(const float* a, const float* b, size_t dim) {
  float sum = 0;
#pragma omp simd reduction(+ : sum)
  for (size_t i = 0; i < dim; ++i) {
    float d = a[i] - b[i];
    sum += d * d;
  }
  return sum;
}

VECMESH_KERNEL float InnerProduct(const float* a, const float* b, size_t dim) {
  float sum = 0;
#pragma omp simd reduction(+ : sum)
  for (size_t i = 0; i < dim; ++i) sum += a[i] * b[i];
  return sum;
}

float Distance(Metric metric, const float* a, const float* b, size_t dim) {
  return metric == Metric::kL2 ? L2Sqr(a, b, dim) : -InnerProduct(a, b, dim);
}

float TopK::Bound() const {
  return heap_.size() < k_ ? std::numeric_limits<float>::infinity() : heap_.front().distance;
}

void TopK::Push(float distance, uint32_t slot) {
  if (heap_.size() < k_) {
    heap_.push_back({distance, slot});
    std::push_heap(heap_.begin(), heap_.end());
  } else if (k_ > 0 && Neighbor{distance, slot} < heap_.front()) {
    std::pop_heap(heap_.begin(), heap_.end());
    heap_.back() = {distance, slot};
    std::push_heap(heap_.begin(), heap_.end());
  }
}

std::vector<Neighbor> TopK::Take() {
  std::sort_heap(heap_.begin(), heap_.end());
  return std::move(heap_);
}

}  // namespace vecmesh::engine
