// Declarations shared by every index of vecmesh's GPU library (FlatIndex, IvfFlatIndex): the
// Status every call returns, device discovery, and the metric and storage choices. A plain C++
// header (no CUDA types): the engine and the tests include it without the CUDA toolkit.
#pragma once

#include <cstddef>
#include <string>

namespace vecmesh::gpu {

enum class Code { kOk, kInvalidArgument, kNoDevice, kOutOfMemory, kCudaError };

struct Status {
  Code code = Code::kOk;
  std::string message;
  bool ok() const { return code == Code::kOk; }
  static Status Ok() { return {}; }
};

// CUDA devices usable here; 0 when there is none (or no driver).
int DeviceCount();

struct DeviceMemory {
  size_t free_bytes = 0;
  size_t total_bytes = 0;
};
Status QueryMemory(int device, DeviceMemory* out);

enum class Metric { kL2, kInnerProduct, kCosine };
// How vectors are kept on the device: fp16 halves the memory (and the bytes a search reads) at
// a small cost in precision; distances are always accumulated in fp32.
enum class Storage { kFloat32, kFloat16 };

}  // namespace vecmesh::gpu
