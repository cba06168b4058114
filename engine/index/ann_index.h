// Approximate nearest-neighbour indexes over slots: HNSW (our own graph, hnsw_graph.h) and the
// FAISS IVF family (ivf_flat, ivf_pq, ivf_sq8).
//
// Thread safety: Search and Encode are safe to call concurrently with each other. AddEncoded
// must not run concurrently with anything: the Collection calls it under its exclusive lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/index/distance.h"
#include "engine/logger.h"
#include "engine/segment/bitset.h"
#include "engine/status.h"
#include "engine/types.h"

namespace vecmesh::engine {

struct AnnSearchParams {
  int ef_search = 64;
  int nprobe = 16;
};

struct BuildOptions;

class AnnIndex {
 public:
  virtual ~AnnIndex() = default;

  // Up to k neighbours of `query` (dim floats) among the slots set in `allowed` (null: all
  // slots in the index), nearest first, distances in the engine's lower-is-better convention.
  // Approximate scores (PQ, SQ8) are the caller's to refine.
  virtual std::vector<Neighbor> Search(const float* query, size_t k, const Bitset* allowed,
                                       const AnnSearchParams& params) const = 0;

  // Search for n queries (x: n * dim) sharing k, filter and parameters, on up to `threads`
  // OpenMP threads. The default runs Search per query; FAISS indexes batch the coarse search.
  virtual std::vector<std::vector<Neighbor>> SearchBatch(const float* queries, size_t n, size_t k,
                                                         const Bitset* allowed,
                                                         const AnnSearchParams& params,
                                                         int threads) const;

  // Adding is split so that the expensive part runs outside the collection's exclusive lock:
  // Encode(n, x) prepares n vectors (x: n * dim, row-major); AddEncoded stores them with their
  // slots (ascending, each above every slot already held).
  virtual std::vector<uint8_t> Encode(size_t n, const float* x) const = 0;
  virtual void AddEncoded(size_t n, const float* x, const uint8_t* codes,
                          const uint32_t* slots) = 0;
  // How many points one AddEncoded call should take, to bound how long searches wait for it.
  virtual size_t AddBatchSize() const = 0;

  // Whether Grown is there: a type that has it takes many new points without a rebuild.
  virtual bool can_grow() const { return false; }
  // A copy of this index with n more points (as AddEncoded takes them), made on
  // options.threads threads while this one goes on answering searches. Null when cancelled.
  // Only where can_grow(); not concurrent with AddEncoded.
  virtual StatusOr<std::unique_ptr<AnnIndex>> Grown(size_t n, const float* x, const uint32_t* slots,
                                                    const BuildOptions& options) const;

  // The index as bytes (HnswGraph's and FAISS's own serialisations) for a checkpoint, which writes
  // them through its own checked file; empty for GPU indexes, which are rebuilt from the points
  // after a restart. Not concurrent with AddEncoded.
  virtual std::string Save() const = 0;

  // Whether the stored vectors are exact (scores need no refinement).
  virtual bool exact_vectors() const = 0;
  // Whether the index lost points it was given (a GPU add that failed after AddEncoded
  // returned): its searches then come back empty, so they are answered exactly, and the
  // collection rebuilds it.
  virtual bool needs_rebuild() const { return false; }
  virtual size_t dim() const = 0;
};

struct BuildOptions {
  const std::atomic<bool>* cancelled = nullptr;  // polled: once true the build ends early
  int threads = 1;  // threads that link an HNSW graph, OpenMP threads that train an IVF index
  // Called, from any thread, when the built index finds later that it needs_rebuild.
  std::function<void()> request_rebuild;
  // Where the built index reports failures it meets later, which no caller is waiting for
  // (GPU indexes: a failed search answered exactly, a failed add); empty: StderrLogger().
  Logger logger;
};

// Builds an index of `config.index.type` (not kFlat; GPU types through BuildGpuIndex) over n
// vectors with their slots, training it first when the type needs it. A cancelled build returns a
// null index. FAISS exceptions come back as Internal.
StatusOr<std::unique_ptr<AnnIndex>> BuildAnnIndex(const CollectionConfig& config, size_t n,
                                                  const float* x, const uint32_t* slots,
                                                  const BuildOptions& options);

// Reads back an AnnIndex::Save image of an index built for `config` over slots [0, slots). An
// image that does not fit them is Internal, naming what is wrong.
StatusOr<std::unique_ptr<AnnIndex>> LoadAnnIndex(const CollectionConfig& config,
                                                 std::string_view image, uint32_t slots);

}  // namespace vecmesh::engine

namespace vecmesh::engine {
// The implementations BuildAnnIndex and LoadAnnIndex pick from (hnsw_index.cc, ivf_index.cc).
StatusOr<std::unique_ptr<AnnIndex>> BuildHnswIndex(const CollectionConfig& config, size_t n,
                                                   const float* x, const uint32_t* slots,
                                                   const BuildOptions& options);
StatusOr<std::unique_ptr<AnnIndex>> BuildIvfIndex(const CollectionConfig& config, size_t n,
                                                  const float* x, const uint32_t* slots,
                                                  const BuildOptions& options);
StatusOr<std::unique_ptr<AnnIndex>> LoadHnswIndex(const CollectionConfig& config,
                                                  std::string_view image, uint32_t slots);
StatusOr<std::unique_ptr<AnnIndex>> LoadIvfIndex(const CollectionConfig& config,
                                                 std::string_view image, uint32_t slots);
}  // namespace vecmesh::engine
