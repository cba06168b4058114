// IVF-Flat on one CUDA device: the search (the lists it scans are ivf_flat_index.cu's).
//
// Search, per chunk of queries: a GEMM against the centroids and a radix select of the nprobe
// lists to probe per query; then, per pass over a group of those probes, (1) each query's
// candidate row is laid out (the probed lists' lengths, prefix-summed), (2) one block per
// (query, list) computes the exact distances into it, and (3) a radix select per query keeps the
// k best of (its best so far + the row). A bitonic sort per query orders the final k. Groups and
// chunks are sized so that the candidate rows stay within kMaxCandidateFloats. A candidate is
// named by its slot (list << 32 | position); the final sort maps slots to ids.
#include <algorithm>
#include <functional>
#include <vector>

#include "cublas_loader.h"
#include "cuda_util.cuh"
#include "ivf_flat_impl.cuh"
#include "kmeans.cuh"
#include "select.cuh"
#include "vecmesh_gpu/ivf_flat_index.h"

namespace vecmesh::gpu {
namespace {

constexpr int kThreads = 256;      // every kernel but the sort
constexpr int kSortThreads = 512;  // the final bitonic sort
static_assert(kSortSize >= IvfFlatIndex::kMaxK);
constexpr size_t kMaxCandidateFloats = size_t{32} << 20;  // candidate rows per pass: 128 MiB
constexpr size_t kQueryChunk = 4096;

// One block per query: the nprobe lists it scans, into probes[q * nprobe ...] (unordered), from
// its row of centroid dots (dots[q * nlist + c] = q.c): the nprobe smallest |c|^2 - 2 q.c (l2,
// cosine) or -q.c (inner product).
__global__ void __launch_bounds__(kThreads)
    SelectProbes(const float* dots, int nlist, const float* norms, bool by_l2, int nprobe,
                 int* probes) {
  const size_t q = blockIdx.x;
  const float* row = dots + q * nlist;
  BlockSelectSmallest(
      static_cast<size_t>(nlist), static_cast<size_t>(nprobe),
      [&](size_t c) { return by_l2 ? norms[c] - 2.0f * row[c] : -row[c]; },
      [&](size_t at, float, size_t c) { probes[q * nprobe + at] = static_cast<int>(c); });
}

// For the pass over probes [first, first + group) of each of nq queries: offsets[q * (group + 1)
// + j] is where probe first + j's distances start in the query's candidate row, and
// offsets[q * (group + 1) + group] is the row's length. One thread per query.
__global__ void __launch_bounds__(kThreads)
    ProbeOffsets(const int* probes, size_t nq, int nprobe, int first, int group, const int* lengths,
                 int64_t* offsets) {
  const size_t q = size_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (q >= nq) return;
  const int* mine = probes + q * nprobe + first;
  int64_t* out = offsets + q * (group + 1);
  int64_t at = 0;
  for (int j = 0; j < group; ++j) {
    out[j] = at;
    at += lengths[mine[j]];
  }
  out[group] = at;
}

// One block per (query q, probe j) of the pass (blockIdx.x = q * group + j): the distance from
// the query to every vector of the probed list (squared L2, or the negated inner product), into
// the query's candidate row at the list's offset. One warp per stored vector, lanes striding over
// the dimensions, fp32 accumulation. The query is staged in shared memory (dim floats) when
// `shared_query`; otherwise it is read from global memory (through L1).
template <typename T>
__global__ void __launch_bounds__(kThreads)
    ScanLists(const void* const* list_vectors, const int* lengths, const int* probes, int nprobe,
              int first, int group, const float* queries, size_t dim, bool shared_query,
              const int64_t* offsets, size_t row_stride, bool l2, float* candidates) {
  extern __shared__ float shared[];
  const size_t q = blockIdx.x / group;
  const int j = static_cast<int>(blockIdx.x % group);
  const int list = probes[q * nprobe + first + j];
  const size_t length = static_cast<size_t>(lengths[list]);
  // Uniform across the block, so no thread skips a barrier the others wait at.
  if (length == 0) return;
  const float* query = queries + q * dim;
  if (shared_query) {
    for (size_t d = threadIdx.x; d < dim; d += blockDim.x) shared[d] = query[d];
    __syncthreads();
    query = shared;
  }
  const T* vectors = static_cast<const T*>(list_vectors[list]);
  float* out = candidates + q * row_stride + offsets[q * (group + 1) + j];
  const int lane = threadIdx.x % 32;
  const size_t warps = blockDim.x / 32;
  // i is the same for all lanes of a warp: every lane runs the shuffles.
  for (size_t i = threadIdx.x / 32; i < length; i += warps) {
    const T* v = vectors + i * dim;
    float sum = 0;
    for (size_t d = lane; d < dim; d += 32) {
      const float x = ToFloat(v[d]);
      if (l2) {
        const float diff = x - query[d];
        sum += diff * diff;
      } else {
        sum += x * query[d];
      }
    }
    for (int offset = 16; offset > 0; offset /= 2) {
      sum += __shfl_down_sync(0xffffffffu, sum, offset);
    }
    if (lane == 0) out[i] = l2 ? sum : -sum;
  }
}

// One block per query: the k smallest of (its best so far: best_count[q] entries of best_*) and
// (this pass's candidate row), into out_*; out_count[q] becomes min(k, both). A candidate's slot
// is (list << 32) | position, found from its index in the row by a binary search of the offsets.
__global__ void __launch_bounds__(kThreads)
    SelectCandidates(const float* candidates, size_t row_stride, const int64_t* offsets,
                     const int* probes, int nprobe, int first, int group, const float* best_d,
                     const int64_t* best_slot, const int* best_count, size_t k, float* out_d,
                     int64_t* out_slot, int* out_count) {
  const size_t q = blockIdx.x;
  const int64_t* starts = offsets + q * (group + 1);
  const float* row = candidates + q * row_stride;
  const size_t prev = static_cast<size_t>(best_count[q]);
  const size_t total = prev + static_cast<size_t>(starts[group]);
  auto distance = [&](size_t e) -> float { return e < prev ? best_d[q * k + e] : row[e - prev]; };
  auto slot = [&](size_t e) -> int64_t {
    if (e < prev) return best_slot[q * k + e];
    const int64_t c = static_cast<int64_t>(e - prev);
    // The last probe whose start is <= c: the list holding candidate c (an empty list shares
    // its start with the next one). starts[0] = 0 <= c < starts[group].
    int lo = 0, hi = group - 1;
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (starts[mid] <= c) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    const int64_t list = probes[q * nprobe + first + lo];
    return (list << 32) | (c - starts[lo]);
  };
  const size_t want = total < k ? total : k;
  BlockSelectSmallest(total, want, distance, [&](size_t at, float d, size_t e) {
    out_d[q * k + at] = d;
    out_slot[q * k + at] = slot(e);
  });
  if (threadIdx.x == 0) out_count[q] = static_cast<int>(want);
}

// One block per query: sorts its best and writes k results, slots mapped to ids.
__global__ void __launch_bounds__(kSortThreads)
    SortAndWrite(const float* best_d, const int64_t* best_slot, const int* counts, size_t k,
                 const int64_t* const* list_ids, float* distances, int64_t* labels) {
  const size_t q = blockIdx.x;
  BlockSortAndWrite(
      best_d + q * k, best_slot + q * k, counts[q], k, [](float d) { return d; },
      [&](int64_t slot) { return list_ids[slot >> 32][slot & 0xffffffffll]; }, distances + q * k,
      labels + q * k);
}

// For each i < n: row src[i] of list lists[i] moves to row dst[i] (vector and id). Within a list
// every src is at or past the list's new length and every dst before it, and the srcs are

}  // namespace

Status IvfFlatIndex::Search(size_t nq, const float* queries, size_t k, size_t nprobe,
                            float* distances, int64_t* labels) {
  Impl& m = *impl_;
  const size_t dim = m.dim, nlist = m.nlist;
  if (k == 0 || k > kMaxK) {
    return {Code::kInvalidArgument,
            "k must be in [1, " + std::to_string(kMaxK) + "], got " + std::to_string(k)};
  }
  if (!m.trained)
    return {Code::kInvalidArgument, "the index is not trained (Train or SetCentroids)"};
  nprobe = std::clamp<size_t>(nprobe, 1, nlist);
  if (nq == 0) return Status::Ok();
  VECMESH_RETURN_IF_ERROR(FromCuda(cudaSetDevice(m.device), "cudaSetDevice"));
  VECMESH_RETURN_IF_ERROR(m.RefreshTables());

  // Plan. A query's candidate row in one pass holds at most the `group` longest lists: group is
  // nprobe unless that exceeds kMaxCandidateFloats (then as many probes as fit, at least one),
  // and a chunk of queries shares kMaxCandidateFloats (and kMaxTileFloats of centroid dots).
  std::vector<size_t> longest(nlist);
  for (size_t l = 0; l < nlist; ++l) longest[l] = m.list_length(l);
  std::sort(longest.begin(), longest.end(), std::greater<>());
  size_t group = 0, row_stride = 0;
  while (group < nprobe && (group == 0 || row_stride + longest[group] <= kMaxCandidateFloats)) {
    row_stride += longest[group++];
  }
  row_stride = std::max<size_t>(row_stride, 1);
  size_t chunk = std::clamp<size_t>(kMaxCandidateFloats / row_stride, 1, kQueryChunk);
  chunk = std::min({chunk, std::max<size_t>(1, kMaxTileFloats / nlist), nq});

  VECMESH_RETURN_IF_ERROR(m.search_queries.Reserve(chunk * dim));
  VECMESH_RETURN_IF_ERROR(m.search_dots.Reserve(chunk * nlist));
  VECMESH_RETURN_IF_ERROR(m.search_probes.Reserve(chunk * nprobe));
  VECMESH_RETURN_IF_ERROR(m.search_offsets.Reserve(chunk * (group + 1)));
  VECMESH_RETURN_IF_ERROR(m.search_candidates.Reserve(chunk * row_stride));
  VECMESH_RETURN_IF_ERROR(m.search_out_d.Reserve(chunk * k));
  VECMESH_RETURN_IF_ERROR(m.search_out_labels.Reserve(chunk * k));
  for (int b = 0; b < 2; ++b) {
    VECMESH_RETURN_IF_ERROR(m.search_best_d[b].Reserve(chunk * k));
    VECMESH_RETURN_IF_ERROR(m.search_best_slot[b].Reserve(chunk * k));
    VECMESH_RETURN_IF_ERROR(m.search_best_count[b].Reserve(chunk));
  }
  const bool l2 = m.metric == Metric::kL2;
  const bool probe_by_l2 = m.metric != Metric::kInnerProduct;
  const bool shared_query = dim * sizeof(float) <= 48 * 1024;
  const size_t shared_bytes = shared_query ? dim * sizeof(float) : 0;
  const int inprobe = static_cast<int>(nprobe);

  for (size_t q0 = 0; q0 < nq; q0 += chunk) {
    const size_t cq = std::min(chunk, nq - q0);
    std::vector<float> prepared(queries + q0 * dim, queries + (q0 + cq) * dim);
    if (m.metric == Metric::kCosine) NormaliseRows(prepared.data(), cq, dim);
    VECMESH_RETURN_IF_ERROR(FromCuda(cudaMemcpy(m.search_queries.get(), prepared.data(),
                                                prepared.size() * 4, cudaMemcpyHostToDevice),
                                     "cudaMemcpy"));
    // Coarse: dots (nlist x cq, column-major: one row of nlist per query) = C (as stored) . Q.
    const float one = 1, zero = 0;
    VECMESH_RETURN_IF_ERROR(
        FromCublas(blas::Sgemm(m.cublas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(nlist),
                               static_cast<int>(cq), static_cast<int>(dim), &one, m.centroids.get(),
                               static_cast<int>(dim), m.search_queries.get(), static_cast<int>(dim),
                               &zero, m.search_dots.get(), static_cast<int>(nlist)),
                   "cublasSgemm"));
    SelectProbes<<<static_cast<unsigned>(cq), kThreads>>>(
        m.search_dots.get(), static_cast<int>(nlist), m.centroid_norms.get(), probe_by_l2, inprobe,
        m.search_probes.get());
    VECMESH_RETURN_IF_ERROR(FromCuda(cudaGetLastError(), "SelectProbes launch"));
    VECMESH_RETURN_IF_ERROR(
        FromCuda(cudaMemset(m.search_best_count[0].get(), 0, cq * sizeof(int)), "cudaMemset"));

    int current = 0;
    for (size_t first = 0; first < nprobe; first += group) {
      const int g = static_cast<int>(std::min(group, nprobe - first));
      const int ifirst = static_cast<int>(first);
      ProbeOffsets<<<Blocks(cq, kThreads), kThreads>>>(m.search_probes.get(), cq, inprobe, ifirst,
                                                       g, m.table_lengths.get(),
                                                       m.search_offsets.get());
      VECMESH_RETURN_IF_ERROR(FromCuda(cudaGetLastError(), "ProbeOffsets launch"));
      const unsigned pairs = static_cast<unsigned>(cq * static_cast<size_t>(g));
      if (m.storage == Storage::kFloat16) {
        ScanLists<__half><<<pairs, kThreads, shared_bytes>>>(
            m.table_vectors.get(), m.table_lengths.get(), m.search_probes.get(), inprobe, ifirst, g,
            m.search_queries.get(), dim, shared_query, m.search_offsets.get(), row_stride, l2,
            m.search_candidates.get());
      } else {
        ScanLists<float><<<pairs, kThreads, shared_bytes>>>(
            m.table_vectors.get(), m.table_lengths.get(), m.search_probes.get(), inprobe, ifirst, g,
            m.search_queries.get(), dim, shared_query, m.search_offsets.get(), row_stride, l2,
            m.search_candidates.get());
      }
      VECMESH_RETURN_IF_ERROR(FromCuda(cudaGetLastError(), "ScanLists launch"));
      SelectCandidates<<<static_cast<unsigned>(cq), kThreads>>>(
          m.search_candidates.get(), row_stride, m.search_offsets.get(), m.search_probes.get(),
          inprobe, ifirst, g, m.search_best_d[current].get(), m.search_best_slot[current].get(),
          m.search_best_count[current].get(), k, m.search_best_d[1 - current].get(),
          m.search_best_slot[1 - current].get(), m.search_best_count[1 - current].get());
      VECMESH_RETURN_IF_ERROR(FromCuda(cudaGetLastError(), "SelectCandidates launch"));
      current = 1 - current;
    }
    SortAndWrite<<<static_cast<unsigned>(cq), kSortThreads>>>(
        m.search_best_d[current].get(), m.search_best_slot[current].get(),
        m.search_best_count[current].get(), k, m.table_ids.get(), m.search_out_d.get(),
        m.search_out_labels.get());
    VECMESH_RETURN_IF_ERROR(FromCuda(cudaGetLastError(), "SortAndWrite launch"));
    VECMESH_RETURN_IF_ERROR(FromCuda(
        cudaMemcpy(distances + q0 * k, m.search_out_d.get(), cq * k * 4, cudaMemcpyDeviceToHost),
        "search"));
    VECMESH_RETURN_IF_ERROR(FromCuda(cudaMemcpy(labels + q0 * k, m.search_out_labels.get(),
                                                cq * k * sizeof(int64_t), cudaMemcpyDeviceToHost),
                                     "search"));
  }
  return Status::Ok();
}

}  // namespace vecmesh::gpu
