// hnswlib 0.6.2 (Debian's header-only library) compiled with -march=native, so that its distance
// functions use the widest SIMD the machine has, as the engine's runtime-dispatched kernels do.
// The rest of the bench compiles hnswlib with the project's default flags (SSE only): that is
// "Debian's hnswlib" as a user building it gets it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace vecmesh::bench {

class NativeHnswlib {
 public:
  // An l2 graph of n vectors (x: n * dim), ids 0..n-1, inserted by `threads` threads.
  NativeHnswlib(size_t dim, size_t n, const float* x, int m, int ef_construction, int threads);
  ~NativeHnswlib();
  // The k nearest ids, nearest first, with a beam of `ef`.
  std::vector<uint64_t> Search(const float* query, size_t k, size_t ef);

 private:
  struct Graph;
  std::unique_ptr<Graph> graph_;
};

}  // namespace vecmesh::bench
