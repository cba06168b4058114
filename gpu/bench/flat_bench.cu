// gpu/bench: FlatIndex on one device against the device's own measured limits, for --n vectors
// of --dim (default 1M x 128, random). Limits are measured here, not taken from a data sheet:
//   bandwidth  device-to-device cudaMemcpy of the stored vectors (bytes read plus written / time)
//   GEMM       cublasSgemm (and cublasGemmEx fp16 in, fp32 out) of the same shape as a search
// Printed: batch-1 latency beside the time to read every stored vector once at that bandwidth
// (the bound for a single query), and batch >= 1024 throughput beside the GEMM's own time (the
// bound for a batch), for fp32 and fp16 storage; and, with --cpu-qps Q (batched QPS of CPU FAISS
// flat on the same data, measured on the 2-core machine), the speed-up over it. Every figure has
// its recall@k beside it, over 32 queries against a double-precision brute force on the host.
//
// Usage: vecmesh_gpu_bench [--n N] [--dim D] [--batch B] [--k K] [--cpu-qps Q]
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "bench_data.h"
#include "vecmesh_gpu/flat_index.h"

using namespace vecmesh::gpu;
using Clock = std::chrono::steady_clock;

namespace {

double Seconds(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "gpu bench: %s failed\n", what);
    std::exit(2);
  }
}

// Bytes per second of a device-to-device copy of `bytes` (reads and writes both count).
double MeasureBandwidth(size_t bytes) {
  void *a = nullptr, *b = nullptr;
  Check(cudaMalloc(&a, bytes) == cudaSuccess && cudaMalloc(&b, bytes) == cudaSuccess, "cudaMalloc");
  Check(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice) == cudaSuccess, "warm-up copy");
  cudaDeviceSynchronize();
  const int reps = 20;
  const auto t = Clock::now();
  for (int i = 0; i < reps; ++i) cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
  cudaDeviceSynchronize();
  const double s = Seconds(t);
  cudaFree(a);
  cudaFree(b);
  return 2.0 * bytes * reps / s;
}

// The exact k nearest (squared l2, in double) of the first `count` queries, the reference for
// the recall printed beside every figure; on all host cores.
std::vector<std::vector<int64_t>> ExactNeighbors(const std::vector<float>& x, size_t dim,
                                                 const std::vector<float>& queries, size_t count,
                                                 size_t k) {
  const size_t n = x.size() / dim;
  std::vector<std::vector<int64_t>> out(count);
  std::vector<std::thread> threads;
  const size_t workers = std::max(1u, std::thread::hardware_concurrency());
  for (size_t w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      std::vector<std::pair<double, int64_t>> all(n);
      for (size_t q = w; q < count; q += workers) {
        for (size_t i = 0; i < n; ++i) {
          double d = 0;
          for (size_t j = 0; j < dim; ++j) {
            const double diff = double{x[i * dim + j]} - queries[q * dim + j];
            d += diff * diff;
          }
          all[i] = {d, static_cast<int64_t>(i)};
        }
        std::partial_sort(all.begin(), all.begin() + k, all.end());
        for (size_t j = 0; j < k; ++j) out[q].push_back(all[j].second);
      }
    });
  }
  for (auto& t : threads) t.join();
  return out;
}

// Mean recall@k of answers (k labels per query, `stride` apart) against the exact neighbours.
double Recall(const int64_t* labels, size_t stride, const std::vector<std::vector<int64_t>>& truth,
              size_t k) {
  double sum = 0;
  for (size_t q = 0; q < truth.size(); ++q) {
    size_t found = 0;
    for (size_t j = 0; j < k; ++j) {
      found += std::count(truth[q].begin(), truth[q].end(), labels[q * stride + j]);
    }
    sum += static_cast<double>(found) / k;
  }
  return sum / truth.size();
}

// Seconds per GEMM of m vectors x nq queries x dim, fp32 or fp16 inputs (fp32 accumulate).
double MeasureGemm(size_t m, size_t nq, size_t dim, bool fp16) {
  cublasHandle_t h;
  Check(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS, "cublasCreate");
  const size_t element = fp16 ? 2 : 4;
  void *x = nullptr, *q = nullptr;
  float* c = nullptr;
  Check(cudaMalloc(&x, m * dim * element) == cudaSuccess && cudaMalloc(&q, nq * dim * element) == cudaSuccess &&
            cudaMalloc(&c, m * nq * 4) == cudaSuccess,
        "cudaMalloc (GEMM)");
  cudaMemset(x, 0, m * dim * element);
  cudaMemset(q, 0, nq * dim * element);
  const float one = 1, zero = 0;
  auto run = [&] {
    if (fp16) {
      cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, int(m), int(nq), int(dim), &one, x, CUDA_R_16F,
                   int(dim), q, CUDA_R_16F, int(dim), &zero, c, CUDA_R_32F, int(m),
                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    } else {
      cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, int(m), int(nq), int(dim), &one,
                  static_cast<float*>(x), int(dim), static_cast<float*>(q), int(dim), &zero, c,
                  int(m));
    }
  };
  run();
  cudaDeviceSynchronize();
  const int reps = 10;
  const auto t = Clock::now();
  for (int i = 0; i < reps; ++i) run();
  cudaDeviceSynchronize();
  const double s = Seconds(t) / reps;
  cudaFree(x);
  cudaFree(q);
  cudaFree(c);
  cublasDestroy(h);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  size_t n = 1'000'000, dim = 128, batch = 1024, k = 10;
  double cpu_qps = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--n")) n = std::stoul(argv[i + 1]);
    if (!std::strcmp(argv[i], "--dim")) dim = std::stoul(argv[i + 1]);
    if (!std::strcmp(argv[i], "--batch")) batch = std::stoul(argv[i + 1]);
    if (!std::strcmp(argv[i], "--k")) k = std::stoul(argv[i + 1]);
    if (!std::strcmp(argv[i], "--cpu-qps")) cpu_qps = std::stod(argv[i + 1]);
  }
  if (DeviceCount() == 0) {
    std::printf("gpu bench: SKIPPED, no CUDA device\n");
    return 77;
  }
  const vecmesh::bench::RandomData data = vecmesh::bench::MakeRandomData(n, dim, batch);
  const std::vector<float>& x = data.vectors;
  const std::vector<float>& queries = data.queries;
  std::vector<int64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = static_cast<int64_t>(i);

  std::printf("gpu bench: %zu x %zu vectors, k %zu, batch %zu\n", n, dim, k, batch);
  const double bandwidth = MeasureBandwidth(n * dim * 4);
  std::printf("measured device bandwidth: %.0f GB/s\n", bandwidth / 1e9);
  const size_t checked = std::min<size_t>(batch, 32);  // queries whose recall is measured
  const auto truth = ExactNeighbors(x, dim, queries, checked, k);
  std::printf("\n%-8s %-22s %12s %12s %10s %10s\n", "storage", "measure", "vecmesh", "bound",
              "fraction", "recall@k");
  for (Storage storage : {Storage::kFloat32, Storage::kFloat16}) {
    const bool fp16 = storage == Storage::kFloat16;
    const char* name = fp16 ? "fp16" : "fp32";
    std::unique_ptr<FlatIndex> index;
    Status s = FlatIndex::Create(0, dim, Metric::kL2, storage, &index);
    Check(s.ok(), "create");
    Check(index->Add(n, x.data(), ids.data()).ok(), "add");
    std::vector<float> d(batch * k);
    std::vector<int64_t> l(batch * k);

    // Batch 1: the bound is reading every stored vector once.
    Check(index->Search(1, queries.data(), k, d.data(), l.data()).ok(), "warm-up");
    const int reps = 200;
    auto t = Clock::now();
    for (int r = 0; r < reps; ++r) index->Search(1, queries.data() + (r % batch) * dim, k, d.data(), l.data());
    const double latency = Seconds(t) / reps;
    const double read_bound = n * dim * (fp16 ? 2.0 : 4.0) / bandwidth;
    std::vector<int64_t> single(checked * k);
    for (size_t q = 0; q < checked; ++q) {
      Check(index->Search(1, queries.data() + q * dim, k, d.data(), single.data() + q * k).ok(),
            "batch-1 recall");
    }
    std::printf("%-8s %-22s %10.3f ms %10.3f ms %9.0f%% %10.4f\n", name, "batch 1 latency",
                latency * 1e3, read_bound * 1e3, 100 * read_bound / latency,
                Recall(single.data(), k, truth, k));

    // A large batch: the bound is the GEMM alone.
    Check(index->Search(batch, queries.data(), k, d.data(), l.data()).ok(), "warm-up batch");
    t = Clock::now();
    const int batch_reps = 5;
    for (int r = 0; r < batch_reps; ++r) index->Search(batch, queries.data(), k, d.data(), l.data());
    const double per_batch = Seconds(t) / batch_reps;
    const double gemm = MeasureGemm(n, batch, dim, fp16);
    std::printf("%-8s %-22s %8.0f QPS %8.0f QPS %9.0f%% %10.4f\n", name, "batch throughput",
                batch / per_batch, batch / gemm, 100 * gemm / per_batch,
                Recall(l.data(), k, truth, k));
    if (cpu_qps > 0) {
      std::printf("%-8s %-22s %10.1fx\n", name, "speed-up over CPU FAISS", batch / per_batch / cpu_qps);
    }
  }
  return 0;
}
