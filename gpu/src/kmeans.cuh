// Internal to the GPU library: IvfFlatIndex's coarse quantizer. Assigning vectors to their
// L2-nearest centroid (k-means, IvfFlatIndex::Add) is a cuBLAS GEMM of a tile of vectors against
// the centroids and a warp-per-row argmin of |c|^2 - 2 x.c; k-means (IvfFlatIndex::Train) runs
// that assignment on the device and the centroid update on the host.
#pragma once

#include <cublas_v2.h>

#include <cstddef>
#include <vector>

#include "vecmesh_gpu/ivf_flat_index.h"

namespace vecmesh::gpu {

// Centroid dots one GEMM computes at most (an assignment tile, and a chunk of a search's ranking
// of the lists): 128 MiB.
constexpr size_t kMaxTileFloats = size_t{32} << 20;

// The squared norm of each of the x.size() / dim vectors of x (row-major), summed in double.
std::vector<float> SquaredNorms(const std::vector<float>& x, size_t dim);

// Assignment against nlist centroids of dim floats, with GEMMs on `cublas` (the index's handle),
// on the device current when called. A view: owns nothing, copied freely.
struct CentroidAssigner {
  cublasHandle_t cublas = nullptr;
  size_t nlist = 0;
  size_t dim = 0;

  // Vectors assigned per GEMM: the dots tile (rows * nlist) stays within kMaxTileFloats and an
  // Add's staging copy of the vectors (rows * dim) within kMaxAssignFloats.
  size_t assign_rows() const;

  // assign[r] = the L2-nearest of the given centroids (nlist * dim, norms: nlist) to x[r], for
  // rows (<= assign_rows()) vectors x (rows * dim), all on the device; dots: rows * nlist.
  Status NearestCentroids(const float* cents, const float* norms, const float* x, size_t rows,
                          float* dots, int* assign) const;

  // The L2-nearest centroid of each of the n host vectors x (n * dim, already normalised for
  // cosine), computed on the device with the given device centroids.
  Status AssignOnDevice(const float* cents, const float* norms, size_t n, const float* x,
                        std::vector<int>* assign) const;
};

// k-means on `device` (made current here) for nlist centroids of the n vectors x (n * dim, finite,
// n >= nlist), into *centroids (nlist * dim, row-major; cosine: of normalised vectors). What
// IvfFlatIndex::Train documents: at most kMaxTrainingPointsPerCentroid sampled points per
// centroid, fixed-seed initialisation, kTrainingIterations Lloyd iterations, and an empty cluster
// re-seeded by splitting the largest.
Status TrainKMeans(const CentroidAssigner& assigner, int device, Metric metric, size_t n,
                   const float* x, std::vector<float>* centroids);

}  // namespace vecmesh::gpu
