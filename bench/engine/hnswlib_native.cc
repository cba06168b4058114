// Compiled with -march=native (bench/engine/CMakeLists.txt). hnswlib's namespace and its global
// functions are renamed here: its headers define functions that are not inline, and the
// copy compiled with the default flags (engine_bench.cc) must stay a different one.
#define hnswlib hnswlib_native
#define cpuid hnswlib_native_cpuid
#define xgetbv hnswlib_native_xgetbv
#define AVXCapable hnswlib_native_AVXCapable
#define AVX512Capable hnswlib_native_AVX512Capable
#include <hnswlib/hnswlib.h>
#undef AVX512Capable
#undef AVXCapable
#undef xgetbv
#undef cpuid
#undef hnswlib

#include <thread>

#include "bench/engine/hnswlib_native.h"

namespace vecmesh::bench {

struct NativeHnswlib::Graph {
  Graph(size_t dim, size_t n, int m, int ef_construction)
      : space(dim), index(&space, n, m, ef_construction) {}
  hnswlib_native::L2Space space;
  hnswlib_native::HierarchicalNSW<float> index;
};

NativeHnswlib::NativeHnswlib(size_t dim, size_t n, const float* x, int m, int ef_construction,
                             int threads)
    : graph_(std::make_unique<Graph>(dim, n, m, ef_construction)) {
  std::vector<std::thread> workers;
  for (int w = 0; w < threads; ++w) {
    workers.emplace_back([&, w] {
      for (size_t i = w; i < n; i += threads) graph_->index.addPoint(x + i * dim, i);
    });
  }
  for (auto& w : workers) w.join();
}

NativeHnswlib::~NativeHnswlib() = default;

std::vector<uint64_t> NativeHnswlib::Search(const float* query, size_t k, size_t ef) {
  graph_->index.setEf(ef);
  auto top = graph_->index.searchKnn(query, k);
  std::vector<uint64_t> ids(top.size());
  for (size_t i = top.size(); i-- > 0; top.pop()) ids[i] = top.top().second;
  return ids;
}

}  // namespace vecmesh::bench
