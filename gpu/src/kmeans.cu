// IvfFlatIndex's coarse quantizer: nearest-centroid assignment and k-means (kmeans.cuh).
#include "kmeans.cuh"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <utility>

#include "cublas_loader.h"
#include "cuda_util.cuh"

namespace vecmesh::gpu {
namespace {

constexpr int kThreads = 256;                         // NearestCentroid's block
constexpr size_t kMaxAssignRows = 65536;              // vectors assigned per GEMM (Train, Add)
constexpr size_t kMaxAssignFloats = size_t{8} << 20;  // and their staging buffer: 32 MiB
constexpr uint64_t kTrainingSeed = 0x1f2e3d4c5b6a7988ull;
// An empty cluster takes half of the largest one: both centroids move by this relative amount in
// opposite directions, so the next assignment splits that cluster's points between them.
constexpr float kSplitEpsilon = 1.0f / 1024;

// assign[r] = the c minimising |c|^2 - 2 x_r.c (the L2-nearest centroid; ties: the lowest c),
// from dots (rows rows of nlist dots: dots[r * nlist + c] = x_r.c). One warp per row.
__global__ void __launch_bounds__(kThreads)
    NearestCentroid(const float* dots, size_t rows, int nlist, const float* norms, int* assign) {
  const size_t warp = (size_t{blockIdx.x} * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp >= rows) return;  // the same for all 32 lanes: the shuffles below see a full warp
  const float* row = dots + warp * nlist;
  float best = INFINITY;
  int best_c = nlist;  // none yet (only if every distance is NaN or +inf)
  for (int c = lane; c < nlist; c += 32) {
    const float d = norms[c] - 2.0f * row[c];
    if (d < best) {
      best = d;
      best_c = c;
    }
  }
  for (int offset = 16; offset > 0; offset /= 2) {
    const float other = __shfl_xor_sync(0xffffffffu, best, offset);
    const int other_c = __shfl_xor_sync(0xffffffffu, best_c, offset);
    if (other < best || (other == best && other_c < best_c)) {
      best = other;
      best_c = other_c;
    }
  }
  if (lane == 0) assign[warp] = best_c < nlist ? best_c : 0;
}

}  // namespace

std::vector<float> SquaredNorms(const std::vector<float>& x, size_t dim) {
  std::vector<float> norms(x.size() / dim);
  for (size_t i = 0; i < norms.size(); ++i) {
    double sum = 0;
    for (size_t d = 0; d < dim; ++d) sum += double{x[i * dim + d]} * x[i * dim + d];
    norms[i] = static_cast<float>(sum);
  }
  return norms;
}

size_t CentroidAssigner::assign_rows() const {
  return std::clamp<size_t>(std::min(kMaxTileFloats / nlist, kMaxAssignFloats / dim), 1,
                            kMaxAssignRows);
}

Status CentroidAssigner::NearestCentroids(const float* cents, const float* norms, const float* x,
                                          size_t rows, float* dots, int* assign) const {
  const float one = 1, zero = 0;
  // dots (nlist x rows, column-major: one row of nlist per vector) = C (as stored) . X.
  VECMESH_RETURN_IF_ERROR(
      FromCublas(blas::Sgemm(cublas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(nlist),
                             static_cast<int>(rows), static_cast<int>(dim), &one, cents,
                             static_cast<int>(dim), x, static_cast<int>(dim), &zero, dots,
                             static_cast<int>(nlist)),
                 "cublasSgemm"));
  NearestCentroid<<<Blocks(rows * 32, kThreads), kThreads>>>(dots, rows, static_cast<int>(nlist),
                                                             norms, assign);
  return FromCuda(cudaGetLastError(), "NearestCentroid launch");
}

Status CentroidAssigner::AssignOnDevice(const float* cents, const float* norms, size_t n,
                                        const float* x, std::vector<int>* assign) const {
  const size_t tile = std::min(n, assign_rows());
  DeviceArray<float> d_x, d_dots;
  DeviceArray<int> d_assign;
  VECMESH_RETURN_IF_ERROR(d_x.Reserve(tile * dim));
  VECMESH_RETURN_IF_ERROR(d_dots.Reserve(tile * nlist));
  VECMESH_RETURN_IF_ERROR(d_assign.Reserve(tile));
  assign->resize(n);
  for (size_t r0 = 0; r0 < n; r0 += tile) {
    const size_t rows = std::min(tile, n - r0);
    VECMESH_RETURN_IF_ERROR(
        FromCuda(cudaMemcpy(d_x.get(), x + r0 * dim, rows * dim * 4, cudaMemcpyHostToDevice),
                 "cudaMemcpy"));
    VECMESH_RETURN_IF_ERROR(
        NearestCentroids(cents, norms, d_x.get(), rows, d_dots.get(), d_assign.get()));
    VECMESH_RETURN_IF_ERROR(FromCuda(cudaMemcpy(assign->data() + r0, d_assign.get(),
                                                rows * sizeof(int), cudaMemcpyDeviceToHost),
                                     "assignment"));
  }
  return Status::Ok();
}

Status TrainKMeans(const CentroidAssigner& assigner, int device, Metric metric, size_t n,
                   const float* x, std::vector<float>* centroids) {
  const size_t dim = assigner.dim, nlist = assigner.nlist;
  // At most kMaxTrainingPointsPerCentroid points per centroid, chosen uniformly with a fixed
  // seed (selection sampling: one pass, keeps the input order).
  std::mt19937_64 random(kTrainingSeed);
  const size_t cap = IvfFlatIndex::kMaxTrainingPointsPerCentroid * nlist;
  std::vector<float> points;
  if (n > cap) {
    points.reserve(cap * dim);
    size_t needed = cap;
    for (size_t i = 0; i < n && needed > 0; ++i) {
      if (random() % (n - i) < needed) {
        points.insert(points.end(), x + i * dim, x + (i + 1) * dim);
        --needed;
      }
    }
  } else {
    points.assign(x, x + n * dim);
  }
  const size_t np = points.size() / dim;
  if (metric == Metric::kCosine) NormaliseRows(points.data(), np, dim);

  // Initial centroids: nlist distinct sample points (a partial Fisher-Yates shuffle).
  std::vector<float> cents(nlist * dim);
  {
    std::vector<size_t> order(np);
    std::iota(order.begin(), order.end(), size_t{0});
    for (size_t c = 0; c < nlist; ++c) {
      std::swap(order[c], order[c + random() % (np - c)]);
      std::copy_n(points.data() + order[c] * dim, dim, cents.data() + c * dim);
    }
  }

  VECMESH_RETURN_IF_ERROR(FromCuda(cudaSetDevice(device), "cudaSetDevice"));
  const size_t tile = std::min(np, assigner.assign_rows());
  DeviceArray<float> d_points, d_cents, d_norms, d_dots;
  DeviceArray<int> d_assign;
  VECMESH_RETURN_IF_ERROR(d_points.Reserve(np * dim));
  VECMESH_RETURN_IF_ERROR(d_cents.Reserve(nlist * dim));
  VECMESH_RETURN_IF_ERROR(d_norms.Reserve(nlist));
  VECMESH_RETURN_IF_ERROR(d_dots.Reserve(tile * nlist));
  VECMESH_RETURN_IF_ERROR(d_assign.Reserve(np));
  VECMESH_RETURN_IF_ERROR(
      FromCuda(cudaMemcpy(d_points.get(), points.data(), np * dim * 4, cudaMemcpyHostToDevice),
               "cudaMemcpy"));

  std::vector<int> assign(np);
  std::vector<double> sums(nlist * dim);
  std::vector<size_t> counts(nlist);
  for (int iteration = 0; iteration < IvfFlatIndex::kTrainingIterations; ++iteration) {
    // Assignment on the device.
    const std::vector<float> norms = SquaredNorms(cents, dim);
    VECMESH_RETURN_IF_ERROR(
        FromCuda(cudaMemcpy(d_cents.get(), cents.data(), cents.size() * 4, cudaMemcpyHostToDevice),
                 "cudaMemcpy"));
    VECMESH_RETURN_IF_ERROR(FromCuda(
        cudaMemcpy(d_norms.get(), norms.data(), nlist * 4, cudaMemcpyHostToDevice), "cudaMemcpy"));
    for (size_t r0 = 0; r0 < np; r0 += tile) {
      const size_t rows = std::min(tile, np - r0);
      VECMESH_RETURN_IF_ERROR(assigner.NearestCentroids(d_cents.get(), d_norms.get(),
                                                        d_points.get() + r0 * dim, rows,
                                                        d_dots.get(), d_assign.get() + r0));
    }
    VECMESH_RETURN_IF_ERROR(FromCuda(
        cudaMemcpy(assign.data(), d_assign.get(), np * sizeof(int), cudaMemcpyDeviceToHost),
        "k-means assignment"));
    // Update on the host: each centroid becomes the mean of its points.
    std::fill(sums.begin(), sums.end(), 0.0);
    std::fill(counts.begin(), counts.end(), size_t{0});
    for (size_t i = 0; i < np; ++i) {
      const size_t c = static_cast<size_t>(assign[i]);
      ++counts[c];
      const float* p = points.data() + i * dim;
      double* s = sums.data() + c * dim;
      for (size_t d = 0; d < dim; ++d) s[d] += p[d];
    }
    for (size_t c = 0; c < nlist; ++c) {
      if (counts[c] == 0) continue;
      for (size_t d = 0; d < dim; ++d) {
        cents[c * dim + d] = static_cast<float>(sums[c * dim + d] / static_cast<double>(counts[c]));
      }
    }
    // An empty cluster splits the largest one: the two centroids are pushed apart slightly,
    // and the next assignment shares that cluster's points between them.
    for (size_t c = 0; c < nlist; ++c) {
      if (counts[c] != 0) continue;
      const size_t largest =
          static_cast<size_t>(std::max_element(counts.begin(), counts.end()) - counts.begin());
      for (size_t d = 0; d < dim; ++d) {
        const float v = cents[largest * dim + d];
        const float up = v * (1 + kSplitEpsilon), down = v * (1 - kSplitEpsilon);
        cents[c * dim + d] = d % 2 == 0 ? up : down;
        cents[largest * dim + d] = d % 2 == 0 ? down : up;
      }
      counts[c] = counts[largest] / 2;
      counts[largest] -= counts[c];
    }
  }
  *centroids = std::move(cents);
  return Status::Ok();
}

}  // namespace vecmesh::gpu
