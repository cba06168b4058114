// Device discovery for the whole library (declared in vecmesh_gpu/status.h).
#include "cuda_util.cuh"
#include "vecmesh_gpu/status.h"

namespace vecmesh::gpu {

int DeviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n;
}

Status QueryMemory(int device, DeviceMemory* out) {
  if (device < 0 || device >= DeviceCount()) {
    return {Code::kNoDevice, "no CUDA device " + std::to_string(device)};
  }
  VECMESH_RETURN_IF_ERROR(FromCuda(cudaSetDevice(device), "cudaSetDevice"));
  return FromCuda(cudaMemGetInfo(&out->free_bytes, &out->total_bytes), "cudaMemGetInfo");
}

}  // namespace vecmesh::gpu
