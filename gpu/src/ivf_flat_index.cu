// IVF-Flat on one CUDA device.
//
// Quantizer: nlist centroids (fp32) on the device with their squared norms. Assigning vectors to
// centroids and training them (k-means) are kmeans.cu's.
//
// Inverted lists: one pair of device buffers per list (vectors in the storage type, row-major,
// and their int64 ids), grown by doubling. Device tables (list -> vectors, ids, length) are
// rebuilt from the host's view lazily, before the next search or removal, so that Add can commit
// without a device call that could fail after the lists have changed.
//
// Search, per chunk of queries: a GEMM against the centroids and a radix select of the nprobe
// lists to probe per query; then, per pass over a group of those probes, (1) each query's
// candidate row is laid out (the probed lists' lengths, prefix-summed), (2) one block per
// (query, list) computes the exact distances into it, and (3) a radix select per query keeps the
// k best of (its best so far + the row). A bitonic sort per query orders the final k. Groups and
// chunks are sized so that the candidate rows stay within kMaxCandidateFloats. A candidate is
// named by its slot (list << 32 | position); the final sort maps slots to ids.
#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cublas_loader.h"
#include "cuda_util.cuh"
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
constexpr size_t kMinListCapacity = 16;
// A list's positions live in a slot's low 32 bits and in int kernel arguments.
constexpr size_t kMaxListLength = INT32_MAX;

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
// distinct, so the moves neither overlap nor read a moved row: they run in parallel.
template <typename T>
__global__ void MoveListRows(void* const* list_vectors, int64_t* const* list_ids, size_t dim,
                             const int* lists, const int* dst, const int* src, size_t n) {
  for (size_t i = blockIdx.x; i < n; i += gridDim.x) {
    T* v = static_cast<T*>(list_vectors[lists[i]]);
    const size_t to = static_cast<size_t>(dst[i]) * dim, from = static_cast<size_t>(src[i]) * dim;
    for (size_t d = threadIdx.x; d < dim; d += blockDim.x) v[to + d] = v[from + d];
    if (threadIdx.x == 0) list_ids[lists[i]][dst[i]] = list_ids[lists[i]][src[i]];
  }
}

}  // namespace

struct IvfFlatIndex::Impl {
  int device = 0;
  size_t dim = 0;
  Metric metric = Metric::kL2;
  Storage storage = Storage::kFloat32;
  size_t nlist = 0;
  cublasHandle_t cublas = nullptr;

  // The quantizer. Invariant: trained == (centroids hold nlist * dim floats).
  bool trained = false;
  std::vector<float> host_centroids;  // nlist * dim, as on the device
  DeviceArray<float> centroids;       // nlist * dim, row-major
  DeviceArray<float> centroid_norms;  // nlist: |c|^2

  struct List {
    DeviceArray<char> vectors;      // capacity rows of dim storage elements
    DeviceArray<int64_t> ids;       // capacity ids (capacity == ids.capacity())
    std::vector<int64_t> host_ids;  // the list's ids by position; its size is the list's length
  };
  struct Where {
    uint32_t list;
    uint32_t position;
  };
  std::vector<List> lists;                      // nlist
  std::unordered_map<int64_t, Where> where_is;  // every id in the index
  size_t size = 0;

  // Device view of `lists` (nlist entries each), stale after every change to the lists until
  // RefreshTables uploads it again.
  DeviceArray<void*> table_vectors;
  DeviceArray<int64_t*> table_ids;
  DeviceArray<int> table_lengths;
  bool tables_stale = true;

  // Search buffers, kept between searches (cudaFree synchronises): grown on demand.
  DeviceArray<float> search_queries, search_dots, search_candidates, search_best_d[2], search_out_d;
  DeviceArray<int> search_probes, search_best_count[2];
  DeviceArray<int64_t> search_offsets, search_best_slot[2], search_out_labels;

  ~Impl() {
    (void)cudaSetDevice(device);  // the arrays below are freed in this device's context
    if (cublas) blas::Destroy(cublas);
  }

  size_t element_bytes() const { return storage == Storage::kFloat16 ? 2 : 4; }
  size_t list_length(size_t l) const { return lists[l].host_ids.size(); }
  CentroidAssigner assigner() const { return {cublas, nlist, dim}; }

  size_t search_bytes() const {
    size_t bytes = search_queries.bytes() + search_dots.bytes() + search_candidates.bytes() +
                   search_out_d.bytes() + search_probes.bytes() + search_offsets.bytes() +
                   search_out_labels.bytes();
    for (int b = 0; b < 2; ++b) {
      bytes +=
          search_best_d[b].bytes() + search_best_slot[b].bytes() + search_best_count[b].bytes();
    }
    return bytes;
  }

  void FreeSearchBuffers() {
    search_queries.Free();
    search_dots.Free();
    search_candidates.Free();
    search_out_d.Free();
    search_probes.Free();
    search_offsets.Free();
    search_out_labels.Free();
    for (int b = 0; b < 2; ++b) {
      search_best_d[b].Free();
      search_best_slot[b].Free();
      search_best_count[b].Free();
    }
  }

  // Uploads centroids (nlist * dim) and their norms into new device arrays and, only if both
  // succeed, makes them the quantizer.
  Status CommitCentroids(std::vector<float> cents) {
    const std::vector<float> norms = SquaredNorms(cents, dim);
    DeviceArray<float> d_cents, d_norms;
    VECMESH_RETURN_IF_ERROR(d_cents.Reserve(cents.size()));
    VECMESH_RETURN_IF_ERROR(d_norms.Reserve(norms.size()));
    VECMESH_RETURN_IF_ERROR(
        FromCuda(cudaMemcpy(d_cents.get(), cents.data(), cents.size() * 4, cudaMemcpyHostToDevice),
                 "cudaMemcpy"));
    VECMESH_RETURN_IF_ERROR(
        FromCuda(cudaMemcpy(d_norms.get(), norms.data(), norms.size() * 4, cudaMemcpyHostToDevice),
                 "cudaMemcpy"));
    centroids.Swap(d_cents);
    centroid_norms.Swap(d_norms);
    host_centroids = std::move(cents);
    trained = true;
    return Status::Ok();
  }

  Status RefreshTables() {
    if (!tables_stale) return Status::Ok();
    std::vector<void*> vectors(nlist);
    std::vector<int64_t*> ids(nlist);
    std::vector<int> lengths(nlist);
    for (size_t l = 0; l < nlist; ++l) {
      vectors[l] = lists[l].vectors.get();
      ids[l] = lists[l].ids.get();
      lengths[l] = static_cast<int>(list_length(l));
    }
    VECMESH_RETURN_IF_ERROR(FromCuda(cudaMemcpy(table_vectors.get(), vectors.data(),
                                                nlist * sizeof(void*), cudaMemcpyHostToDevice),
                                     "cudaMemcpy"));
    VECMESH_RETURN_IF_ERROR(FromCuda(
        cudaMemcpy(table_ids.get(), ids.data(), nlist * sizeof(int64_t*), cudaMemcpyHostToDevice),
        "cudaMemcpy"));
    VECMESH_RETURN_IF_ERROR(FromCuda(cudaMemcpy(table_lengths.get(), lengths.data(),
                                                nlist * sizeof(int), cudaMemcpyHostToDevice),
                                     "cudaMemcpy"));
    tables_stale = false;
    return Status::Ok();
  }
};

IvfFlatIndex::IvfFlatIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
IvfFlatIndex::~IvfFlatIndex() = default;

Status IvfFlatIndex::Create(int device, size_t dim, Metric metric, Storage storage, size_t nlist,
                            std::unique_ptr<IvfFlatIndex>* out) {
  if (nlist == 0 || nlist > kMaxNlist) {
    return {Code::kInvalidArgument, "nlist must be in [1, " + std::to_string(kMaxNlist) +
                                        "], got " + std::to_string(nlist)};
  }
  VECMESH_RETURN_IF_ERROR(CheckDimAndUseDevice(device, dim));
  auto impl = std::make_unique<Impl>();
  impl->device = device;
  impl->dim = dim;
  impl->metric = metric;
  impl->storage = storage;
  impl->nlist = nlist;
  impl->lists = std::vector<Impl::List>(nlist);
  VECMESH_RETURN_IF_ERROR(blas::CreateHandle(&impl->cublas));
  VECMESH_RETURN_IF_ERROR(impl->table_vectors.Reserve(nlist));
  VECMESH_RETURN_IF_ERROR(impl->table_ids.Reserve(nlist));
  VECMESH_RETURN_IF_ERROR(impl->table_lengths.Reserve(nlist));
  out->reset(new IvfFlatIndex(std::move(impl)));
  return Status::Ok();
}

size_t IvfFlatIndex::size() const { return impl_->size; }
size_t IvfFlatIndex::dim() const { return impl_->dim; }
size_t IvfFlatIndex::nlist() const { return impl_->nlist; }
bool IvfFlatIndex::is_trained() const { return impl_->trained; }

size_t IvfFlatIndex::device_bytes() const {
  const Impl& m = *impl_;
  size_t bytes = m.centroids.bytes() + m.centroid_norms.bytes() + m.table_vectors.bytes() +
                 m.table_ids.bytes() + m.table_lengths.bytes() + m.search_bytes();
  for (const Impl::List& list : m.lists) bytes += list.vectors.bytes() + list.ids.bytes();
  return bytes;
}

Status IvfFlatIndex::Train(size_t n, const float* x) {
  Impl& m = *impl_;
  const size_t dim = m.dim, nlist = m.nlist;
  if (m.size > 0) {
    return {Code::kInvalidArgument, "only an empty index can be trained (Reset it first)"};
  }
  if (n < nlist) {
    return {Code::kInvalidArgument, "training needs at least nlist (" + std::to_string(nlist) +
                                        ") vectors, got " + std::to_string(n)};
  }
  VECMESH_RETURN_IF_ERROR(
      CheckFinite(x, n, dim, LargestStored(Storage::kFloat32), "training vector"));
  std::vector<float> cents;
  VECMESH_RETURN_IF_ERROR(TrainKMeans(m.assigner(), m.device, m.metric, n, x, &cents));
  return m.CommitCentroids(std::move(cents));
}

Status IvfFlatIndex::SetCentroids(const float* centroids) {
  Impl& m = *impl_;
  if (m.size > 0) {
    return {Code::kInvalidArgument, "only an empty index takes new centroids (Reset it first)"};
  }
  VECMESH_RETURN_IF_ERROR(
      CheckFinite(centroids, m.nlist, m.dim, LargestStored(Storage::kFloat32), "centroid"));
  VECMESH_RETURN_IF_ERROR(FromCuda(cudaSetDevice(m.device), "cudaSetDevice"));
  return m.CommitCentroids(std::vector<float>(centroids, centroids + m.nlist * m.dim));
}

Status IvfFlatIndex::GetCentroids(float* centroids) const {
  const Impl& m = *impl_;
  if (!m.trained) return {Code::kInvalidArgument, "the index is not trained"};
  std::copy(m.host_centroids.begin(), m.host_centroids.end(), centroids);
  return Status::Ok();
}

Status IvfFlatIndex::Add(size_t n, const float* x, const int64_t* ids) {
  Impl& m = *impl_;
  const size_t dim = m.dim, nlist = m.nlist, element = m.element_bytes();
  if (!m.trained)
    return {Code::kInvalidArgument, "the index is not trained (Train or SetCentroids)"};
  if (n == 0) return Status::Ok();
  VECMESH_RETURN_IF_ERROR(CheckNewIds(n, ids, m.where_is));
  VECMESH_RETURN_IF_ERROR(CheckFinite(x, n, dim, LargestStored(m.storage), "vector"));
  VECMESH_RETURN_IF_ERROR(FromCuda(cudaSetDevice(m.device), "cudaSetDevice"));

  std::vector<float> prepared(x, x + n * dim);
  if (m.metric == Metric::kCosine) NormaliseRows(prepared.data(), n, dim);
  std::vector<int> assign;
  VECMESH_RETURN_IF_ERROR(
      m.assigner().AssignOnDevice(m.centroids.get(), m.centroid_norms.get(), n, prepared.data(),
                                  &assign));

  // The new rows grouped by list: list l's are order[start[l] .. start[l + 1]).
  std::vector<size_t> start(nlist + 1, 0);
  for (size_t i = 0; i < n; ++i) ++start[static_cast<size_t>(assign[i]) + 1];
  for (size_t l = 0; l < nlist; ++l) {
    const size_t added = start[l + 1];
    if (added > 0 && m.list_length(l) + added > kMaxListLength) {
      return {Code::kInvalidArgument, "list " + std::to_string(l) + " would exceed " +
                                          std::to_string(kMaxListLength) + " vectors"};
    }
    start[l + 1] += start[l];
  }
  std::vector<size_t> order(n);
  {
    std::vector<size_t> next(start.begin(), start.end() - 1);
    for (size_t i = 0; i < n; ++i) order[next[static_cast<size_t>(assign[i])]++] = i;
  }

  // New buffers, on the side, for the lists that outgrow their capacity: geometric growth, or
  // just what is needed when that does not fit. Nothing of the index changes if both fail.
  struct Grown {
    size_t list;
    DeviceArray<char> vectors;
    DeviceArray<int64_t> ids;
  };
  std::vector<std::unique_ptr<Grown>> grown;
  auto grow = [&](bool doubling) -> Status {
    grown.clear();
    for (size_t l = 0; l < nlist; ++l) {
      const size_t need = m.list_length(l) + (start[l + 1] - start[l]);
      const size_t capacity = m.lists[l].ids.capacity();
      if (need <= capacity) continue;
      const size_t rows = doubling ? std::max({need, 2 * capacity, kMinListCapacity}) : need;
      auto g = std::make_unique<Grown>();
      g->list = l;
      VECMESH_RETURN_IF_ERROR(g->vectors.Reserve(rows * dim * element));
      VECMESH_RETURN_IF_ERROR(g->ids.Reserve(rows));
      grown.push_back(std::move(g));
    }
    return Status::Ok();
  };
  Status s = grow(true);
  if (s.code == Code::kOutOfMemory) s = grow(false);
  if (!s.ok()) {
    grown.clear();
    return s;
  }

  // The new rows in list order, in the storage type, with their ids.
  std::vector<float> rows32;
  std::vector<__half> rows16;
  std::vector<int64_t> row_ids(n);
  if (m.storage == Storage::kFloat16) {
    rows16.resize(n * dim);
  } else {
    rows32.resize(n * dim);
  }
  for (size_t r = 0; r < n; ++r) {
    const float* v = prepared.data() + order[r] * dim;
    if (m.storage == Storage::kFloat16) {
      for (size_t d = 0; d < dim; ++d) rows16[r * dim + d] = __float2half(v[d]);
    } else {
      std::copy_n(v, dim, rows32.data() + r * dim);
    }
    row_ids[r] = ids[order[r]];
  }
  const char* row_bytes = m.storage == Storage::kFloat16
                              ? reinterpret_cast<const char*>(rows16.data())
                              : reinterpret_cast<const char*>(rows32.data());

  // Fill: a grown list gets its old rows copied over, then every touched list gets its new rows
  // past its length. Existing buffers are written only past their lengths, which nothing reads,
  // so a failure here still leaves the index as it was.
  std::vector<char*> vectors_at(nlist);
  std::vector<int64_t*> ids_at(nlist);
  for (size_t l = 0; l < nlist; ++l) {
    vectors_at[l] = m.lists[l].vectors.get();
    ids_at[l] = m.lists[l].ids.get();
  }
  for (const auto& g : grown) {
    const size_t length = m.list_length(g->list);
    vectors_at[g->list] = g->vectors.get();
    ids_at[g->list] = g->ids.get();
    if (length == 0) continue;
    VECMESH_RETURN_IF_ERROR(FromCuda(cudaMemcpy(g->vectors.get(), m.lists[g->list].vectors.get(),
                                                length * dim * element, cudaMemcpyDeviceToDevice),
                                     "cudaMemcpy"));
    VECMESH_RETURN_IF_ERROR(FromCuda(cudaMemcpy(g->ids.get(), m.lists[g->list].ids.get(),
                                                length * sizeof(int64_t), cudaMemcpyDeviceToDevice),
                                     "cudaMemcpy"));
  }
  for (size_t l = 0; l < nlist; ++l) {
    const size_t count = start[l + 1] - start[l];
    if (count == 0) continue;
    const size_t length = m.list_length(l);
    VECMESH_RETURN_IF_ERROR(FromCuda(
        cudaMemcpy(vectors_at[l] + length * dim * element, row_bytes + start[l] * dim * element,
                   count * dim * element, cudaMemcpyHostToDevice),
        "cudaMemcpy"));
    VECMESH_RETURN_IF_ERROR(FromCuda(cudaMemcpy(ids_at[l] + length, row_ids.data() + start[l],
                                                count * sizeof(int64_t), cudaMemcpyHostToDevice),
                                     "cudaMemcpy"));
  }
  VECMESH_RETURN_IF_ERROR(FromCuda(cudaDeviceSynchronize(), "add"));

  // Commit: host bookkeeping only (the old buffers of grown lists are freed with `grown`).
  for (const auto& g : grown) {
    m.lists[g->list].vectors.Swap(g->vectors);
    m.lists[g->list].ids.Swap(g->ids);
  }
  for (size_t l = 0; l < nlist; ++l) {
    for (size_t r = start[l]; r < start[l + 1]; ++r) {
      std::vector<int64_t>& list_ids = m.lists[l].host_ids;
      m.where_is[row_ids[r]] = {static_cast<uint32_t>(l), static_cast<uint32_t>(list_ids.size())};
      list_ids.push_back(row_ids[r]);
    }
  }
  m.size += n;
  m.tables_stale = true;
  return Status::Ok();
}

Status IvfFlatIndex::Remove(size_t n, const int64_t* ids, size_t* removed) {
  Impl& m = *impl_;
  *removed = 0;
  // Planned on the host first, per list as in FlatIndex: each removal moves the list's current
  // last row into its hole. The changes are kept on the side (working copies of the touched
  // lists' ids, moved positions) and committed after the device has applied them.
  struct Work {
    std::vector<int64_t> ids;       // the list's ids by position, as the removals go
    std::vector<uint32_t> content;  // content[p]: the original position now at p
  };
  std::unordered_map<uint32_t, Work> work;
  std::unordered_map<int64_t, Impl::Where> moved;  // where ids moved by this call now are
  std::unordered_set<int64_t> gone;
  for (size_t i = 0; i < n; ++i) {
    if (gone.count(ids[i])) continue;
    Impl::Where at;
    if (auto it = moved.find(ids[i]); it != moved.end()) {
      at = it->second;
    } else if (auto it2 = m.where_is.find(ids[i]); it2 != m.where_is.end()) {
      at = it2->second;
    } else {
      continue;
    }
    auto [w, inserted] = work.try_emplace(at.list);
    if (inserted) {
      w->second.ids = m.lists[at.list].host_ids;
      w->second.content.resize(w->second.ids.size());
      std::iota(w->second.content.begin(), w->second.content.end(), 0u);
    }
    Work& list = w->second;
    const size_t last = list.ids.size() - 1;
    if (at.position != last) {
      list.ids[at.position] = list.ids[last];
      list.content[at.position] = list.content[last];
      moved[list.ids[at.position]] = at;
    }
    list.ids.pop_back();
    list.content.pop_back();
    moved.erase(ids[i]);
    gone.insert(ids[i]);
    ++*removed;
  }
  if (*removed == 0) return Status::Ok();

  std::vector<int> move_list, move_dst, move_src;
  for (const auto& [l, list] : work) {
    for (size_t p = 0; p < list.content.size(); ++p) {
      if (list.content[p] != p) {
        move_list.push_back(static_cast<int>(l));
        move_dst.push_back(static_cast<int>(p));
        move_src.push_back(static_cast<int>(list.content[p]));
      }
    }
  }
  if (!move_list.empty()) {
    VECMESH_RETURN_IF_ERROR(FromCuda(cudaSetDevice(m.device), "cudaSetDevice"));
    VECMESH_RETURN_IF_ERROR(m.RefreshTables());
    const size_t moves = move_list.size();
    DeviceArray<int> d_list, d_dst, d_src;
    VECMESH_RETURN_IF_ERROR(d_list.Reserve(moves));
    VECMESH_RETURN_IF_ERROR(d_dst.Reserve(moves));
    VECMESH_RETURN_IF_ERROR(d_src.Reserve(moves));
    auto upload = [&](DeviceArray<int>& to, const std::vector<int>& from) {
      return FromCuda(
          cudaMemcpy(to.get(), from.data(), moves * sizeof(int), cudaMemcpyHostToDevice),
          "cudaMemcpy");
    };
    VECMESH_RETURN_IF_ERROR(upload(d_list, move_list));
    VECMESH_RETURN_IF_ERROR(upload(d_dst, move_dst));
    VECMESH_RETURN_IF_ERROR(upload(d_src, move_src));
    const unsigned blocks = static_cast<unsigned>(std::min<size_t>(moves, 65535));
    if (m.storage == Storage::kFloat16) {
      MoveListRows<__half><<<blocks, 128>>>(m.table_vectors.get(), m.table_ids.get(), m.dim,
                                            d_list.get(), d_dst.get(), d_src.get(), moves);
    } else {
      MoveListRows<float><<<blocks, 128>>>(m.table_vectors.get(), m.table_ids.get(), m.dim,
                                           d_list.get(), d_dst.get(), d_src.get(), moves);
    }
    // A failure here leaves the removed ids' rows undefined (kept rows are never written):
    // the caller should Reset and add again.
    VECMESH_RETURN_IF_ERROR(FromCuda(cudaGetLastError(), "MoveListRows launch"));
    VECMESH_RETURN_IF_ERROR(FromCuda(cudaDeviceSynchronize(), "MoveListRows"));
  }
  for (auto& [l, list] : work) m.lists[l].host_ids = std::move(list.ids);
  for (int64_t id : gone) m.where_is.erase(id);
  for (const auto& [id, at] : moved) m.where_is[id] = at;
  m.size -= *removed;
  m.tables_stale = true;
  return Status::Ok();
}

void IvfFlatIndex::Reset() {
  Impl& m = *impl_;
  (void)cudaSetDevice(m.device);
  for (Impl::List& list : m.lists) {
    list.vectors.Free();
    list.ids.Free();
    list.host_ids.clear();
    list.host_ids.shrink_to_fit();
  }
  m.FreeSearchBuffers();
  m.where_is.clear();
  m.size = 0;
  m.tables_stale = true;
}

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
