// The GPU index types in a build without CUDA (VECMESH_CUDA=OFF, or no nvcc found).
#include "engine/index/gpu_index.h"

namespace vecmesh::engine {

Status CheckIndexTypeAvailable(IndexType type) {
  if (!IsGpuIndex(type)) return Status::Ok();
  return Status::FailedPrecondition(
      "index.type '" + std::string(IndexTypeName(type)) +
      "' needs a CUDA GPU, and this build of vecmesh has no CUDA support (it was built without "
      "nvcc or with VECMESH_CUDA=OFF); use flat or ivf_flat");
}

std::vector<GpuDeviceStats> GpuDevices() { return {}; }

StatusOr<std::unique_ptr<AnnIndex>> BuildGpuIndex(const CollectionConfig& config, size_t,
                                                  const float*, const uint32_t*,
                                                  const BuildOptions&) {
  return CheckIndexTypeAvailable(config.index.type);
}

}  // namespace vecmesh::engine
