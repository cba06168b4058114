// IVF-Flat on one CUDA device: the quantizer and the inverted lists (create, train, add,
// remove); the search is ivf_flat_search.cu's.
//
// Quantizer: nlist centroids (fp32) on the device with their squared norms. Assigning vectors to
// centroids and training them (k-means) are kmeans.cu's.
//
// Inverted lists: one pair of device buffers per list (vectors in the storage type, row-major,
// and their int64 ids), grown by doubling. Device tables (list -> vectors, ids, length) are
// rebuilt from the host's view lazily, before the next search or removal, so that Add can commit
// without a device call that could fail after the lists have changed.
#include <algorithm>
#include <numeric>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cublas_loader.h"
#include "cuda_util.cuh"
#include "ivf_flat_impl.cuh"
#include "kmeans.cuh"
#include "vecmesh_gpu/ivf_flat_index.h"

namespace vecmesh::gpu {
namespace {

constexpr size_t kMinListCapacity = 16;
// A list's positions live in a slot's low 32 bits and in int kernel arguments.
constexpr size_t kMaxListLength = INT32_MAX;

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

}  // namespace vecmesh::gpu
