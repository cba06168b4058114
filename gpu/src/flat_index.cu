// Exact k-NN on one CUDA device. Distances come from inner products: cuBLAS GEMM over tiles of
// the stored vectors for batches, or a warp-per-vector kernel (bandwidth-bound) for a few queries,
// with the L2 norms trick (|x|^2 - 2 x.q + |q|^2). k-selection is a radix select per query and
// tile that keeps the k best seen so far, then one bitonic sort of those k per query.
#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>
#include <vector>

#include "cublas_loader.h"
#include "cuda_util.cuh"
#include "select.cuh"
#include "vecmesh_gpu/flat_index.h"

namespace vecmesh::gpu {
namespace {

constexpr int kSelectThreads = 256;
static_assert(kSortSize >= FlatIndex::kMaxK);
constexpr size_t kSmallBatch = 8;
constexpr size_t kMaxTileFloats = size_t{32} << 20;  // distance tile: 128 MiB
constexpr size_t kQueryChunk = 4096;
// A small batch's tile is split among several blocks per query (SelectTileParts), of at least
// kMinPartLength candidates and kPartLengthPerK * k each (each part passes k on to one merging
// block), until there are kBlocksPerSm blocks per multiprocessor.
constexpr size_t kMinPartLength = 4096;
constexpr size_t kPartLengthPerK = 16;
constexpr size_t kBlocksPerSm = 4;

template <typename T>
__global__ void SquaredNorms(const T* x, size_t n, size_t dim, float* norms) {
  const size_t warp = (size_t{blockIdx.x} * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp >= n) return;
  const T* v = x + warp * dim;
  float sum = 0;
  for (size_t d = lane; d < dim; d += 32) {
    const float f = ToFloat(v[d]);
    sum += f * f;
  }
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
  if (lane == 0) norms[warp] = sum;
}

// dots[q * count + i] = x[first + i] . queries[q], for nq <= kSmallBatch: one warp per vector,
// the queries in shared memory. Reads each stored vector once: bandwidth-bound.
template <typename T>
__global__ void SmallBatchDots(const T* x, size_t first, size_t count, size_t dim,
                               const float* queries, int nq, float* dots) {
  extern __shared__ float shared_queries[];
  for (size_t i = threadIdx.x; i < nq * dim; i += blockDim.x) shared_queries[i] = queries[i];
  __syncthreads();
  const size_t warp = (size_t{blockIdx.x} * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp >= count) return;
  const T* v = x + (first + warp) * dim;
  float sums[kSmallBatch] = {};
  for (size_t d = lane; d < dim; d += 32) {
    const float f = ToFloat(v[d]);
    for (int q = 0; q < nq; ++q) sums[q] += f * shared_queries[q * dim + d];
  }
  for (int q = 0; q < nq; ++q) {
    float s = sums[q];
    for (int offset = 16; offset > 0; offset /= 2) s += __shfl_down_sync(0xffffffffu, s, offset);
    if (lane == 0) dots[q * count + warp] = s;
  }
}

// Tile element i's distance without the query's own |q|^2 (added once, at the end): for l2
// |x|^2 - 2 x.q, otherwise -x.q. `row` is the query's row of dots.
__device__ __forceinline__ float TileDistance(const float* row, const float* norms, size_t first,
                                              size_t i, bool l2) {
  return l2 ? norms[first + i] - 2.0f * row[i] : -row[i];
}

// One block per query: the k smallest of (the query's best so far) and (this tile's distances),
// by radix select on the ordered keys, into out_*; counts[q] becomes min(k, both).
__global__ void SelectTile(const float* dots, size_t count, const float* norms, size_t first,
                           bool l2, const float* best_d, const int64_t* best_slot,
                           const int* best_count, size_t k, float* out_d, int64_t* out_slot,
                           int* out_count) {
  const size_t q = blockIdx.x;
  const float* row = dots + q * count;
  const int prev = best_count[q];
  const size_t total = prev + count;
  auto distance = [&](size_t e) -> float {
    if (e < static_cast<size_t>(prev)) return best_d[q * k + e];
    return TileDistance(row, norms, first, e - prev, l2);
  };
  auto slot = [&](size_t e) -> int64_t {
    return e < static_cast<size_t>(prev) ? best_slot[q * k + e]
                                         : static_cast<int64_t>(first + e - prev);
  };
  const size_t want = total < k ? total : k;
  BlockSelectSmallest(total, want, distance, [&](size_t at, float d, size_t e) {
    out_d[q * k + at] = d;
    out_slot[q * k + at] = slot(e);
  });
  if (threadIdx.x == 0) out_count[q] = static_cast<int>(want);
}

// A small batch leaves most of the device idle with one block per query, so its tile is split:
// block (p, q) keeps the k smallest of elements [p * chunk, (p + 1) * chunk) of query q's tile
// (chunk >= k, so every part but the last yields exactly k) at parts_*[(q * parts + p) * k...].
// MergeTileParts then selects among them.
__global__ void SelectTileParts(const float* dots, size_t count, const float* norms, size_t first,
                                bool l2, size_t chunk, size_t k, float* parts_d,
                                int64_t* parts_slot) {
  const size_t p = blockIdx.x, q = blockIdx.y, parts = gridDim.x;
  const float* row = dots + q * count;
  const size_t begin = p * chunk;
  const size_t length = count - begin < chunk ? count - begin : chunk;
  const size_t want = length < k ? length : k;
  float* out_d = parts_d + (q * parts + p) * k;
  int64_t* out_slot = parts_slot + (q * parts + p) * k;
  BlockSelectSmallest(
      length, want, [&](size_t e) { return TileDistance(row, norms, first, begin + e, l2); },
      [&](size_t at, float d, size_t e) {
        out_d[at] = d;
        out_slot[at] = static_cast<int64_t>(first + begin + e);
      });
}

// One block per query: the k smallest of its best so far and its parts' candidates (parts - 1
// full parts of k, then last_count), as SelectTile does for a whole tile.
__global__ void MergeTileParts(const float* parts_d, const int64_t* parts_slot, size_t parts,
                               size_t last_count, const float* best_d, const int64_t* best_slot,
                               const int* best_count, size_t k, float* out_d, int64_t* out_slot,
                               int* out_count) {
  const size_t q = blockIdx.x;
  const int prev = best_count[q];
  const size_t total = prev + (parts - 1) * k + last_count;
  const float* candidates_d = parts_d + q * parts * k;
  const int64_t* candidates_slot = parts_slot + q * parts * k;
  auto distance = [&](size_t e) -> float {
    return e < static_cast<size_t>(prev) ? best_d[q * k + e] : candidates_d[e - prev];
  };
  const size_t want = total < k ? total : k;
  BlockSelectSmallest(total, want, distance, [&](size_t at, float d, size_t e) {
    out_d[q * k + at] = d;
    out_slot[q * k + at] =
        e < static_cast<size_t>(prev) ? best_slot[q * k + e] : candidates_slot[e - prev];
  });
  if (threadIdx.x == 0) out_count[q] = static_cast<int>(want);
}

// One block per query: sorts its best (count <= kSortSize) ascending and writes k results,
// adding |q|^2 for l2 and mapping slots to ids (-1 past the count). Sorting on (ordered key,
// slot) puts the padding (largest key, largest slot) last whatever the distances are.
__global__ void SortAndWrite(const float* best_d, const int64_t* best_slot, const int* counts,
                             size_t k, const float* query_norms, bool l2, const int64_t* ids,
                             float* distances, int64_t* labels) {
  const size_t q = blockIdx.x;
  BlockSortAndWrite(
      best_d + q * k, best_slot + q * k, counts[q], k,
      [&](float d) { return l2 ? d + query_norms[q] : d; }, [&](int64_t slot) { return ids[slot]; },
      distances + q * k, labels + q * k);
}

// Moves row src[i] to dst[i] for i < n (vectors, norms, ids). Every src is past the index's new
// size and every dst before it, so the moves do not overlap and run in parallel. Grid-stride over
// the rows: n may exceed the grid's limit.
template <typename T>
__global__ void MoveRows(T* vectors, float* norms, int64_t* ids, size_t dim, const size_t* dst,
                         const size_t* src, size_t n) {
  for (size_t i = blockIdx.x; i < n; i += gridDim.x) {
    for (size_t d = threadIdx.x; d < dim; d += blockDim.x) {
      vectors[dst[i] * dim + d] = vectors[src[i] * dim + d];
    }
    if (threadIdx.x == 0) {
      norms[dst[i]] = norms[src[i]];
      ids[dst[i]] = ids[src[i]];
    }
  }
}

}  // namespace

struct FlatIndex::Impl {
  int device = 0;
  size_t dim = 0;
  Metric metric = Metric::kL2;
  Storage storage = Storage::kFloat32;
  cublasHandle_t cublas = nullptr;

  size_t size = 0;
  DeviceArray<float> vectors32;   // storage kFloat32: size * dim
  DeviceArray<__half> vectors16;  // storage kFloat16
  DeviceArray<float> norms;       // |x|^2 of each stored vector
  DeviceArray<int64_t> ids;       // the id of each position
  std::vector<int64_t> host_ids;
  std::unordered_map<int64_t, size_t> position_of;

  // Search buffers, kept between searches (cudaFree synchronises): grown on demand.
  DeviceArray<float> search_queries, search_qnorms, search_dots, search_best_d[2], search_out_d;
  DeviceArray<float> search_parts_d;
  DeviceArray<__half> search_queries16;
  DeviceArray<int64_t> search_best_slot[2], search_out_labels, search_parts_slot;
  DeviceArray<int> search_best_count[2];
  int multiprocessors = 1;

  ~Impl() {
    (void)cudaSetDevice(device);  // the arrays below are freed in this device's context
    if (cublas) blas::Destroy(cublas);
  }
  size_t element_bytes() const { return storage == Storage::kFloat16 ? 2 : 4; }
  size_t search_bytes() const {
    size_t bytes = search_queries.bytes() + search_qnorms.bytes() + search_dots.bytes() +
                   search_out_d.bytes() + search_queries16.bytes() + search_out_labels.bytes() +
                   search_parts_d.bytes() + search_parts_slot.bytes();
    for (int b = 0; b < 2; ++b) {
      bytes +=
          search_best_d[b].bytes() + search_best_slot[b].bytes() + search_best_count[b].bytes();
    }
    return bytes;
  }
  char* vector_bytes() const {
    return storage == Storage::kFloat16 ? reinterpret_cast<char*>(vectors16.get())
                                        : reinterpret_cast<char*>(vectors32.get());
  }
  Status Reserve(size_t n) {
    if (storage == Storage::kFloat16) {
      VECMESH_RETURN_IF_ERROR(vectors16.Reserve(n * dim, size * dim));
    } else {
      VECMESH_RETURN_IF_ERROR(vectors32.Reserve(n * dim, size * dim));
    }
    VECMESH_RETURN_IF_ERROR(norms.Reserve(n, size));
    return ids.Reserve(n, size);
  }
  Status Dots(const float* queries, size_t nq, size_t first, size_t count, float* dots,
              const __half* queries16);
};

FlatIndex::FlatIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FlatIndex::~FlatIndex() = default;

Status FlatIndex::Create(int device, size_t dim, Metric metric, Storage storage,
                         std::unique_ptr<FlatIndex>* out) {
  VECMESH_RETURN_IF_ERROR(CheckDimAndUseDevice(device, dim));
  auto impl = std::make_unique<Impl>();
  impl->device = device;
  impl->dim = dim;
  impl->metric = metric;
  impl->storage = storage;
  VECMESH_RETURN_IF_ERROR(FromCuda(
      cudaDeviceGetAttribute(&impl->multiprocessors, cudaDevAttrMultiProcessorCount, device),
      "cudaDeviceGetAttribute"));
  VECMESH_RETURN_IF_ERROR(blas::CreateHandle(&impl->cublas));
  out->reset(new FlatIndex(std::move(impl)));
  return Status::Ok();
}

size_t FlatIndex::size() const { return impl_->size; }
size_t FlatIndex::dim() const { return impl_->dim; }
size_t FlatIndex::device_bytes() const {
  return impl_->vectors32.bytes() + impl_->vectors16.bytes() + impl_->norms.bytes() +
         impl_->ids.bytes() + impl_->search_bytes();
}

Status FlatIndex::Add(size_t n, const float* x, const int64_t* ids) {
  Impl& m = *impl_;
  if (n == 0) return Status::Ok();
  VECMESH_RETURN_IF_ERROR(CheckNewIds(n, ids, m.position_of));
  VECMESH_RETURN_IF_ERROR(CheckFinite(x, n, m.dim, LargestStored(m.storage), "vector"));
  VECMESH_RETURN_IF_ERROR(FromCuda(cudaSetDevice(m.device), "cudaSetDevice"));
  // Grow geometrically, or to just what is needed when doubling does not fit (the old copy is
  // held while the new one fills). The index is unchanged if both fail. Any other error is
  // returned too: going on would write past the buffers' capacity.
  Status reserved = m.Reserve(std::max(m.size + n, m.size * 2));
  if (reserved.code == Code::kOutOfMemory) reserved = m.Reserve(m.size + n);
  VECMESH_RETURN_IF_ERROR(reserved);

  std::vector<float> prepared(x, x + n * m.dim);
  if (m.metric == Metric::kCosine) NormaliseRows(prepared.data(), n, m.dim);
  char* dest = m.vector_bytes() + m.size * m.dim * m.element_bytes();
  if (m.storage == Storage::kFloat16) {
    std::vector<__half> halves(prepared.size());
    for (size_t i = 0; i < prepared.size(); ++i) halves[i] = __float2half(prepared[i]);
    VECMESH_RETURN_IF_ERROR(FromCuda(
        cudaMemcpy(dest, halves.data(), halves.size() * 2, cudaMemcpyHostToDevice), "cudaMemcpy"));
  } else {
    VECMESH_RETURN_IF_ERROR(
        FromCuda(cudaMemcpy(dest, prepared.data(), prepared.size() * 4, cudaMemcpyHostToDevice),
                 "cudaMemcpy"));
  }
  VECMESH_RETURN_IF_ERROR(
      FromCuda(cudaMemcpy(m.ids.get() + m.size, ids, n * sizeof(int64_t), cudaMemcpyHostToDevice),
               "cudaMemcpy"));
  const int threads = 256;
  const unsigned blocks = static_cast<unsigned>((n * 32 + threads - 1) / threads);
  if (m.storage == Storage::kFloat16) {
    SquaredNorms<<<blocks, threads>>>(m.vectors16.get() + m.size * m.dim, n, m.dim,
                                      m.norms.get() + m.size);
  } else {
    SquaredNorms<<<blocks, threads>>>(m.vectors32.get() + m.size * m.dim, n, m.dim,
                                      m.norms.get() + m.size);
  }
  VECMESH_RETURN_IF_ERROR(FromCuda(cudaGetLastError(), "SquaredNorms launch"));
  VECMESH_RETURN_IF_ERROR(FromCuda(cudaDeviceSynchronize(), "SquaredNorms"));
  for (size_t i = 0; i < n; ++i) {
    m.position_of[ids[i]] = m.size + i;
    m.host_ids.push_back(ids[i]);
  }
  m.size += n;
  return Status::Ok();
}

Status FlatIndex::Remove(size_t n, const int64_t* ids, size_t* removed) {
  Impl& m = *impl_;
  *removed = 0;
  // On the host first: each removal moves the current last vector into its hole. Where every
  // position ends up is worked out here, then applied on the device in one kernel.
  std::vector<size_t> content(m.size);  // content[p]: the original position now at p
  for (size_t p = 0; p < m.size; ++p) content[p] = p;
  std::unordered_map<int64_t, size_t> position_of = m.position_of;
  std::vector<int64_t> host_ids = m.host_ids;
  size_t size = m.size;
  for (size_t i = 0; i < n; ++i) {
    auto it = position_of.find(ids[i]);
    if (it == position_of.end()) continue;
    const size_t hole = it->second, last = size - 1;
    content[hole] = content[last];
    host_ids[hole] = host_ids[last];
    position_of[host_ids[hole]] = hole;
    position_of.erase(ids[i]);
    host_ids.pop_back();
    --size;
    ++*removed;
  }
  std::vector<size_t> dst, src;
  for (size_t p = 0; p < size; ++p) {
    if (content[p] != p) {
      dst.push_back(p);
      src.push_back(content[p]);
    }
  }
  if (!dst.empty()) {
    VECMESH_RETURN_IF_ERROR(FromCuda(cudaSetDevice(m.device), "cudaSetDevice"));
    DeviceArray<size_t> d_dst, d_src;
    VECMESH_RETURN_IF_ERROR(d_dst.Reserve(dst.size()));
    VECMESH_RETURN_IF_ERROR(d_src.Reserve(src.size()));
    VECMESH_RETURN_IF_ERROR(FromCuda(
        cudaMemcpy(d_dst.get(), dst.data(), dst.size() * sizeof(size_t), cudaMemcpyHostToDevice),
        "cudaMemcpy"));
    VECMESH_RETURN_IF_ERROR(FromCuda(
        cudaMemcpy(d_src.get(), src.data(), src.size() * sizeof(size_t), cudaMemcpyHostToDevice),
        "cudaMemcpy"));
    const unsigned blocks = static_cast<unsigned>(std::min<size_t>(dst.size(), 65535));
    if (m.storage == Storage::kFloat16) {
      MoveRows<<<blocks, 128>>>(m.vectors16.get(), m.norms.get(), m.ids.get(), m.dim, d_dst.get(),
                                d_src.get(), dst.size());
    } else {
      MoveRows<<<blocks, 128>>>(m.vectors32.get(), m.norms.get(), m.ids.get(), m.dim, d_dst.get(),
                                d_src.get(), dst.size());
    }
    // A failure here leaves the removed ids' rows undefined (kept rows are never written):
    // the caller should Reset and add again.
    VECMESH_RETURN_IF_ERROR(FromCuda(cudaGetLastError(), "MoveRows launch"));
    VECMESH_RETURN_IF_ERROR(FromCuda(cudaDeviceSynchronize(), "MoveRows"));
  }
  m.position_of = std::move(position_of);
  m.host_ids = std::move(host_ids);
  m.size = size;
  return Status::Ok();
}

void FlatIndex::Reset() {
  Impl& m = *impl_;
  (void)cudaSetDevice(m.device);
  m.vectors32.Free();
  m.vectors16.Free();
  m.norms.Free();
  m.ids.Free();
  m.search_queries.Free();
  m.search_qnorms.Free();
  m.search_dots.Free();
  m.search_out_d.Free();
  m.search_queries16.Free();
  m.search_out_labels.Free();
  m.search_parts_d.Free();
  m.search_parts_slot.Free();
  for (int b = 0; b < 2; ++b) {
    m.search_best_d[b].Free();
    m.search_best_slot[b].Free();
    m.search_best_count[b].Free();
  }
  m.host_ids.clear();
  m.position_of.clear();
  m.size = 0;
}

Status FlatIndex::Impl::Dots(const float* queries, size_t nq, size_t first, size_t count,
                             float* dots, const __half* queries16) {
  if (nq <= kSmallBatch && nq * dim * sizeof(float) <= 48 * 1024) {
    const int threads = 256;
    const unsigned blocks = static_cast<unsigned>((count * 32 + threads - 1) / threads);
    const size_t shared = nq * dim * sizeof(float);
    if (storage == Storage::kFloat16) {
      SmallBatchDots<<<blocks, threads, shared>>>(vectors16.get(), first, count, dim, queries,
                                                  static_cast<int>(nq), dots);
    } else {
      SmallBatchDots<<<blocks, threads, shared>>>(vectors32.get(), first, count, dim, queries,
                                                  static_cast<int>(nq), dots);
    }
    return FromCuda(cudaGetLastError(), "SmallBatchDots launch");
  }
  // dots (count x nq, column-major: query-major rows of `count`) = X[first..]^T-as-stored * Q.
  const float one = 1, zero = 0;
  const int m = static_cast<int>(count), n = static_cast<int>(nq), k = static_cast<int>(dim);
  if (storage == Storage::kFloat16) {
    return FromCublas(
        blas::GemmEx(cublas, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, vectors16.get() + first * dim,
                     CUDA_R_16F, k, queries16, CUDA_R_16F, k, &zero, dots, CUDA_R_32F, m,
                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        "cublasGemmEx");
  }
  return FromCublas(blas::Sgemm(cublas, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one,
                                vectors32.get() + first * dim, k, queries, k, &zero, dots, m),
                    "cublasSgemm");
}

Status FlatIndex::Search(size_t nq, const float* queries, size_t k, float* distances,
                         int64_t* labels) {
  Impl& m = *impl_;
  if (k == 0 || k > kMaxK) {
    return {Code::kInvalidArgument,
            "k must be in [1, " + std::to_string(kMaxK) + "], got " + std::to_string(k)};
  }
  if (m.size > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return {Code::kInvalidArgument, "the index holds more vectors than one GEMM can address"};
  }
  VECMESH_RETURN_IF_ERROR(FromCuda(cudaSetDevice(m.device), "cudaSetDevice"));
  const bool l2 = m.metric == Metric::kL2;
  for (size_t q0 = 0; q0 < nq; q0 += kQueryChunk) {
    const size_t cq = std::min(kQueryChunk, nq - q0);
    std::vector<float> prepared(queries + q0 * m.dim, queries + (q0 + cq) * m.dim);
    std::vector<float> query_norms(cq, 0.0f);
    for (size_t q = 0; q < cq; ++q) {
      float* v = prepared.data() + q * m.dim;
      double sum = 0;
      for (size_t d = 0; d < m.dim; ++d) sum += double{v[d]} * v[d];
      if (m.metric == Metric::kCosine && sum > 0) {
        const float scale = static_cast<float>(1 / std::sqrt(sum));
        for (size_t d = 0; d < m.dim; ++d) v[d] *= scale;
      }
      query_norms[q] = static_cast<float>(sum);
    }
    const size_t tile = std::max<size_t>(1, std::min(m.size, kMaxTileFloats / cq));
    auto& d_queries = m.search_queries;
    auto& d_qnorms = m.search_qnorms;
    auto& dots = m.search_dots;
    auto& out_d = m.search_out_d;
    auto& out_labels = m.search_out_labels;
    auto& d_queries16 = m.search_queries16;
    auto& best_d = m.search_best_d;
    auto& best_slot = m.search_best_slot;
    auto& best_count = m.search_best_count;
    VECMESH_RETURN_IF_ERROR(d_queries.Reserve(cq * m.dim));
    VECMESH_RETURN_IF_ERROR(d_qnorms.Reserve(cq));
    VECMESH_RETURN_IF_ERROR(dots.Reserve(tile * cq));
    VECMESH_RETURN_IF_ERROR(out_d.Reserve(cq * k));
    VECMESH_RETURN_IF_ERROR(out_labels.Reserve(cq * k));
    for (int b = 0; b < 2; ++b) {
      VECMESH_RETURN_IF_ERROR(best_d[b].Reserve(cq * k));
      VECMESH_RETURN_IF_ERROR(best_slot[b].Reserve(cq * k));
      VECMESH_RETURN_IF_ERROR(best_count[b].Reserve(cq));
    }
    VECMESH_RETURN_IF_ERROR(FromCuda(
        cudaMemcpy(d_queries.get(), prepared.data(), prepared.size() * 4, cudaMemcpyHostToDevice),
        "cudaMemcpy"));
    VECMESH_RETURN_IF_ERROR(
        FromCuda(cudaMemcpy(d_qnorms.get(), query_norms.data(), cq * 4, cudaMemcpyHostToDevice),
                 "cudaMemcpy"));
    if (m.storage == Storage::kFloat16) {
      std::vector<__half> halves(prepared.size());
      for (size_t i = 0; i < prepared.size(); ++i) halves[i] = __float2half(prepared[i]);
      VECMESH_RETURN_IF_ERROR(d_queries16.Reserve(halves.size()));
      VECMESH_RETURN_IF_ERROR(FromCuda(
          cudaMemcpy(d_queries16.get(), halves.data(), halves.size() * 2, cudaMemcpyHostToDevice),
          "cudaMemcpy"));
    }
    VECMESH_RETURN_IF_ERROR(
        FromCuda(cudaMemset(best_count[0].get(), 0, cq * sizeof(int)), "cudaMemset"));
    int current = 0;
    for (size_t first = 0; first < m.size; first += tile) {
      const size_t count = std::min(tile, m.size - first);
      VECMESH_RETURN_IF_ERROR(
          m.Dots(d_queries.get(), cq, first, count, dots.get(), d_queries16.get()));
      // Parts per query: enough blocks to fill the device, each part long enough.
      const size_t blocks_wanted = kBlocksPerSm * static_cast<size_t>(m.multiprocessors);
      const size_t most_parts = count / std::max(kPartLengthPerK * k, kMinPartLength);
      size_t parts = std::min((blocks_wanted + cq - 1) / cq, most_parts);
      if (parts > 1) {
        const size_t chunk = (count + parts - 1) / parts;  // >= the part length above, >= k
        parts = (count + chunk - 1) / chunk;               // so the last part is not empty
        const size_t last_count = std::min(k, count - (parts - 1) * chunk);
        VECMESH_RETURN_IF_ERROR(m.search_parts_d.Reserve(cq * parts * k));
        VECMESH_RETURN_IF_ERROR(m.search_parts_slot.Reserve(cq * parts * k));
        SelectTileParts<<<dim3(static_cast<unsigned>(parts), static_cast<unsigned>(cq)),
                          kSelectThreads>>>(dots.get(), count, m.norms.get(), first, l2, chunk, k,
                                            m.search_parts_d.get(), m.search_parts_slot.get());
        VECMESH_RETURN_IF_ERROR(FromCuda(cudaGetLastError(), "SelectTileParts launch"));
        MergeTileParts<<<static_cast<unsigned>(cq), kSelectThreads>>>(
            m.search_parts_d.get(), m.search_parts_slot.get(), parts, last_count,
            best_d[current].get(), best_slot[current].get(), best_count[current].get(), k,
            best_d[1 - current].get(), best_slot[1 - current].get(),
            best_count[1 - current].get());
        VECMESH_RETURN_IF_ERROR(FromCuda(cudaGetLastError(), "MergeTileParts launch"));
      } else {
        SelectTile<<<static_cast<unsigned>(cq), kSelectThreads>>>(
            dots.get(), count, m.norms.get(), first, l2, best_d[current].get(),
            best_slot[current].get(), best_count[current].get(), k, best_d[1 - current].get(),
            best_slot[1 - current].get(), best_count[1 - current].get());
        VECMESH_RETURN_IF_ERROR(FromCuda(cudaGetLastError(), "SelectTile launch"));
      }
      current = 1 - current;
    }
    SortAndWrite<<<static_cast<unsigned>(cq), 512>>>(
        best_d[current].get(), best_slot[current].get(), best_count[current].get(), k,
        d_qnorms.get(), l2, m.ids.get(), out_d.get(), out_labels.get());
    VECMESH_RETURN_IF_ERROR(FromCuda(cudaGetLastError(), "SortAndWrite launch"));
    VECMESH_RETURN_IF_ERROR(FromCuda(
        cudaMemcpy(distances + q0 * k, out_d.get(), cq * k * 4, cudaMemcpyDeviceToHost), "search"));
    VECMESH_RETURN_IF_ERROR(FromCuda(cudaMemcpy(labels + q0 * k, out_labels.get(),
                                                cq * k * sizeof(int64_t), cudaMemcpyDeviceToHost),
                                     "search"));
  }
  return Status::Ok();
}

}  // namespace vecmesh::gpu
