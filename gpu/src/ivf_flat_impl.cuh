// Internal to the GPU library: the state of an IvfFlatIndex, shared by ivf_flat_index.cu (the
// quantizer and the inverted lists: create, train, add, remove) and ivf_flat_search.cu (search).
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "cublas_loader.h"
#include "cuda_util.cuh"
#include "kmeans.cuh"
#include "vecmesh_gpu/ivf_flat_index.h"

namespace vecmesh::gpu {

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

}  // namespace vecmesh::gpu
