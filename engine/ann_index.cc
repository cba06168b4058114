#include "engine/ann_index.h"

#include <exception>

namespace vecmesh::engine {

StatusOr<std::unique_ptr<AnnIndex>> BuildAnnIndex(const CollectionConfig& config, size_t n,
                                                  const float* x, const uint32_t* slots,
                                                  const std::atomic<bool>* cancelled) {
  try {
    if (config.index.type == IndexType::kHnsw) {
      return BuildHnswIndex(config, n, x, slots, cancelled);
    }
    return BuildIvfIndex(config, n, x, slots, cancelled);
  } catch (const std::exception& e) {
    return Status::Internal("building the " + std::string(IndexTypeName(config.index.type)) +
                            " index of collection '" + config.name + "' failed: " + e.what());
  }
}

}  // namespace vecmesh::engine
