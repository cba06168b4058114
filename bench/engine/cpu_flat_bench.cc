// The CPU baseline of gpu/bench: FAISS IndexFlat (l2) on the same data as vecmesh_gpu_bench
// (gpu/bench/bench_data.h), batched, on every core of this machine. Its QPS is what
// `vecmesh_gpu_bench --cpu-qps` takes.
//
// Usage: vecmesh_cpu_flat_bench [--n N] [--dim D] [--batch B] [--k K]
#include <faiss/IndexFlat.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "gpu/bench/bench_data.h"

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  size_t n = 1'000'000, dim = 128, batch = 1024, k = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--n")) {
      n = std::stoul(argv[i + 1]);
    } else if (!std::strcmp(argv[i], "--dim")) {
      dim = std::stoul(argv[i + 1]);
    } else if (!std::strcmp(argv[i], "--batch")) {
      batch = std::stoul(argv[i + 1]);
    } else if (!std::strcmp(argv[i], "--k")) {
      k = std::stoul(argv[i + 1]);
    } else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  const vecmesh::bench::RandomData data = vecmesh::bench::MakeRandomData(n, dim, batch);
  const std::vector<float>& x = data.vectors;
  const std::vector<float>& queries = data.queries;

  faiss::IndexFlatL2 index(dim);
  index.add(n, x.data());
  std::vector<float> distances(batch * k);
  std::vector<faiss::Index::idx_t> labels(batch * k);
  std::printf("cpu flat bench: FAISS IndexFlatL2, %zu x %zu vectors, k %zu, batch %zu, %d threads\n",
              n, dim, k, batch, omp_get_max_threads());
  index.search(batch, queries.data(), k, distances.data(), labels.data());  // warm-up
  double best = 1e30;
  for (int run = 0; run < 3; ++run) {
    const auto start = std::chrono::steady_clock::now();
    index.search(batch, queries.data(), k, distances.data(), labels.data());
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  // Exact search: recall@k is 1 by construction; the GPU bench checks its own answers.
  std::printf("batched QPS %.1f (best of 3 batches of %zu; recall@%zu 1.0, exact)\n", batch / best,
              batch, k);
  std::printf("pass it on: vecmesh_gpu_bench --cpu-qps %.1f\n", batch / best);
  return 0;
}
