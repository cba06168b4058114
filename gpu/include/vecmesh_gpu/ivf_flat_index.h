// vecmesh's GPU library: approximate k-nearest-neighbour search with an inverted file (IVF-Flat)
// on one CUDA device. A plain C++ header (no CUDA types); Status, Metric, Storage, DeviceCount
// and QueryMemory are in status.h.
//
// The vectors are partitioned by a coarse quantizer of `nlist` centroids (k-means, trained here
// on the GPU or computed elsewhere and set); each vector is kept, uncompressed (fp32 or fp16), in
// the inverted list of its nearest centroid. A search ranks the centroids for each query, scans
// the `nprobe` best lists exactly and keeps the k nearest. nprobe = nlist scans every list: the
// answer is then exact.
//
// Quantizer and metric: k-means, assignment of added vectors and (for l2 and cosine) the choice
// of lists to probe all use squared L2 to the centroids; cosine vectors are normalised first, so
// that is the spherical geometry. For inner product the centroids come from the same L2 k-means
// on the raw vectors and vectors go to their L2-nearest centroid (compact lists), but a query
// probes the lists whose centroid has the largest inner product with it: a centroid is the mean
// of its list, so q.c is the mean score of the list's vectors.
//
// Thread safety: an IvfFlatIndex is owned by one thread at a time (the engine gives each device
// one owner thread); it must not be used concurrently. Every failure (no device, out of device
// memory, a launch or cuBLAS error) comes back as a Status: nothing here aborts or throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "vecmesh_gpu/status.h"

namespace vecmesh::gpu {

class IvfFlatIndex {
 public:
  static constexpr size_t kMaxK = 1024;
  static constexpr size_t kMaxNlist = size_t{1} << 20;
  // Train uses at most this many vectors per centroid (a fixed-seed sample of larger sets).
  static constexpr size_t kMaxTrainingPointsPerCentroid = 256;
  static constexpr int kTrainingIterations = 20;

  // nlist in [1, kMaxNlist]. kNoDevice if `device` does not exist. The index starts untrained.
  static Status Create(int device, size_t dim, Metric metric, Storage storage, size_t nlist,
                       std::unique_ptr<IvfFlatIndex>* out);
  ~IvfFlatIndex();
  IvfFlatIndex(const IvfFlatIndex&) = delete;
  IvfFlatIndex& operator=(const IvfFlatIndex&) = delete;

  // k-means on the device for the coarse quantizer. x: n * dim floats, row-major, finite,
  // n >= nlist. Random-sample initialisation and sampling with a fixed seed (the same input
  // gives the same centroids), kTrainingIterations Lloyd iterations (assignment on the GPU,
  // centroid update on the host), an empty cluster is re-seeded by splitting the largest.
  // Only an empty index can be (re)trained; on failure the previous quantizer is kept.
  Status Train(size_t n, const float* x);
  // Sets a quantizer computed elsewhere: centroids: nlist * dim floats, row-major, finite, in
  // the space the index assigns in (for cosine: of normalised vectors). Empty index only.
  Status SetCentroids(const float* centroids);
  // The quantizer's centroids into centroids (nlist * dim floats). kInvalidArgument if untrained.
  Status GetCentroids(float* centroids) const;
  bool is_trained() const;

  // x: n * dim floats, row-major, finite (and within fp16's range for kFloat16); ids: n, unique,
  // not already in the index. Needs a trained index. Cosine vectors are normalised here. On
  // failure (kOutOfMemory...) the index is unchanged.
  Status Add(size_t n, const float* x, const int64_t* ids);
  // Removes those of the n ids that are present; *removed counts them. A device error leaves the
  // index unusable for those ids (Reset and add again).
  Status Remove(size_t n, const int64_t* ids, size_t* removed);
  // Drops every vector and frees their device memory and the search buffers; keeps the
  // quantizer (the index stays trained).
  void Reset();

  // For nq queries (nq * dim floats): the k (in [1, kMaxK]) nearest among the vectors of the
  // nprobe lists nearest each query (nprobe is clamped to [1, nlist]), nearest first, into
  // distances and labels (nq * k each). Distances are lower-is-better: squared L2 for kL2, the
  // negated inner product (or cosine similarity) otherwise. Fewer than k vectors in the probed
  // lists: the rest are label -1 (distance +inf). kInvalidArgument if untrained.
  Status Search(size_t nq, const float* queries, size_t k, size_t nprobe, float* distances,
                int64_t* labels);

  size_t size() const;
  size_t dim() const;
  size_t nlist() const;
  // Device memory this index holds: centroids, list tables, the inverted lists (vectors and
  // ids, at their capacity) and the buffers searches keep (sized for the largest search so far).
  size_t device_bytes() const;

 private:
  struct Impl;
  explicit IvfFlatIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vecmesh::gpu
