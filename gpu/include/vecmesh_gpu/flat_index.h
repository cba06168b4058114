// vecmesh's GPU library: exact k-nearest-neighbour search on one CUDA device. A plain C++ header
// (no CUDA types): the engine and the tests include it without the CUDA toolkit. Status, Metric,
// Storage, DeviceCount and QueryMemory are in status.h (included here).
//
// Thread safety: a FlatIndex is owned by one thread at a time (the engine gives each device one
// owner thread); it must not be used concurrently. Every failure (no device, out of device
// memory, a launch or cuBLAS error) comes back as a Status: nothing here aborts or throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "vecmesh_gpu/status.h"

namespace vecmesh::gpu {

class FlatIndex {
 public:
  static constexpr size_t kMaxK = 1024;

  // dim in [1, INT_MAX]. kNoDevice if `device` does not exist.
  static Status Create(int device, size_t dim, Metric metric, Storage storage,
                       std::unique_ptr<FlatIndex>* out);
  ~FlatIndex();
  FlatIndex(const FlatIndex&) = delete;
  FlatIndex& operator=(const FlatIndex&) = delete;

  // x: n * dim floats, row-major, finite (and within fp16's range for kFloat16); ids: n, not
  // already in the index. Cosine vectors are normalised here. On failure (kOutOfMemory...) the
  // index is unchanged.
  Status Add(size_t n, const float* x, const int64_t* ids);
  // Removes those of the n ids that are present; *removed counts them. A device error leaves the
  // index unusable for those ids (Reset and add again).
  Status Remove(size_t n, const int64_t* ids, size_t* removed);
  // Drops every vector and frees the device memory.
  void Reset();

  // For nq queries (nq * dim floats): the k nearest, nearest first, into distances and labels
  // (nq * k each). Distances are lower-is-better: squared L2 for kL2, the negated inner product
  // (or cosine similarity) otherwise. Fewer than k vectors: the rest are label -1 (distance
  // +inf).
  Status Search(size_t nq, const float* queries, size_t k, float* distances, int64_t* labels);

  size_t size() const;
  size_t dim() const;
  // Device memory this index holds: vectors, norms, ids, and the buffers searches keep (sized
  // for the largest search so far; Reset frees all of it).
  size_t device_bytes() const;

 private:
  struct Impl;
  explicit FlatIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vecmesh::gpu
