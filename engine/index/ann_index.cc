#include "engine/index/ann_index.h"

#include <exception>

#include "engine/index/gpu_index.h"

namespace vecmesh::engine {

std::vector<std::vector<Neighbor>> AnnIndex::SearchBatch(const float* queries, size_t n, size_t k,
                                                         const Bitset* allowed,
                                                         const AnnSearchParams& params,
                                                         int threads) const {
  std::vector<std::vector<Neighbor>> out(n);
  const size_t dim = this->dim();
  const auto count = static_cast<int64_t>(n);
#pragma omp parallel for schedule(dynamic) num_threads(threads) if (threads > 1 && count > 1)
  for (int64_t i = 0; i < count; ++i) out[i] = Search(queries + i * dim, k, allowed, params);
  return out;
}

StatusOr<std::unique_ptr<AnnIndex>> AnnIndex::Grown(size_t, const float*, const uint32_t*,
                                                    const BuildOptions&) const {
  return Status::FailedPrecondition("this index type takes new points one batch at a time");
}

StatusOr<std::unique_ptr<AnnIndex>> BuildAnnIndex(const CollectionConfig& config, size_t n,
                                                  const float* x, const uint32_t* slots,
                                                  const BuildOptions& options) {
  try {
    if (IsGpuIndex(config.index.type)) return BuildGpuIndex(config, n, x, slots, options);
    if (config.index.type == IndexType::kHnsw) {
      return BuildHnswIndex(config, n, x, slots, options);
    }
    return BuildIvfIndex(config, n, x, slots, options);
  } catch (const std::exception& e) {
    return Status::Internal(std::string(IndexTypeName(config.index.type)) + ": " + e.what());
  }
}

StatusOr<std::unique_ptr<AnnIndex>> LoadAnnIndex(const CollectionConfig& config,
                                                 std::string_view image, uint32_t slots) {
  if (IsGpuIndex(config.index.type)) {
    return Status::Internal("GPU indexes are never saved, yet collection '" + config.name +
                            "' has a saved one");
  }
  try {
    if (config.index.type == IndexType::kHnsw) return LoadHnswIndex(config, image, slots);
    return LoadIvfIndex(config, image, slots);
  } catch (const std::exception& e) {
    return Status::Internal("reading the saved " + std::string(IndexTypeName(config.index.type)) +
                            " index of collection '" + config.name + "' failed: " + e.what());
  }
}

}  // namespace vecmesh::engine
