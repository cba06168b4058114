// Internal to the GPU library: CUDA and cuBLAS errors as Status, the argument checks and host-side
// preparation every index shares, device memory that frees itself, and small device helpers
// shared by the index kernels. Each .cu file is its own device module (no relocatable device
// code), so everything here has internal linkage or is inline.
#pragma once

#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <climits>
#include <cmath>
#include <cstdint>
#include <string>
#include <unordered_set>
#include <utility>

#include "vecmesh_gpu/status.h"

namespace vecmesh::gpu {

inline Status FromCuda(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::Ok();
  (void)cudaGetLastError();  // clears the error unless it is sticky
  Code code = Code::kCudaError;
  if (e == cudaErrorMemoryAllocation) code = Code::kOutOfMemory;
  if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver || e == cudaErrorInvalidDevice) {
    code = Code::kNoDevice;
  }
  return {code, std::string(what) + ": " + cudaGetErrorString(e)};
}

inline Status FromCublas(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return Status::Ok();
  return {s == CUBLAS_STATUS_ALLOC_FAILED ? Code::kOutOfMemory : Code::kCudaError,
          std::string(what) + ": cuBLAS status " + std::to_string(static_cast<int>(s))};
}

#define VECMESH_RETURN_IF_ERROR(expr)  \
  do {                                 \
    Status status_ = (expr);           \
    if (!status_.ok()) return status_; \
  } while (0)

// The checks every index's Create starts with: dim in [1, INT_MAX] (cuBLAS and the kernels take
// it as an int) and `device` exists; then makes `device` current.
inline Status CheckDimAndUseDevice(int device, size_t dim) {
  if (dim == 0 || dim > static_cast<size_t>(INT_MAX)) {
    return {Code::kInvalidArgument, "dim must be in [1, " + std::to_string(INT_MAX) + "]"};
  }
  const int devices = DeviceCount();
  if (device < 0 || device >= devices) {
    return {Code::kNoDevice, "no CUDA device " + std::to_string(device) + " (" +
                                 std::to_string(devices) + " found)"};
  }
  return FromCuda(cudaSetDevice(device), "cudaSetDevice");
}

// The largest magnitude a value may have to be stored in `storage`.
inline float LargestStored(Storage storage) {
  return storage == Storage::kFloat16 ? 65504.0f : 3.4028235e38f;
}

// kInvalidArgument naming the first value of x (rows * dim) that is not finite, or beyond
// `largest` in magnitude.
inline Status CheckFinite(const float* x, size_t rows, size_t dim, float largest,
                          const char* what) {
  for (size_t i = 0; i < rows * dim; ++i) {
    if (!std::isfinite(x[i]) || std::fabs(x[i]) > largest) {
      return {Code::kInvalidArgument, std::string(what) + " " + std::to_string(i / dim) +
                                          " value " + std::to_string(i % dim) + " is not finite" +
                                          (largest < 1e38f ? " in fp16" : "")};
    }
  }
  return Status::Ok();
}

// kInvalidArgument naming the first of the n ids that is already a key of `present` (the
// index's id map) or that comes twice in ids.
template <typename IdMap>
Status CheckNewIds(size_t n, const int64_t* ids, const IdMap& present) {
  std::unordered_set<int64_t> batch;
  for (size_t i = 0; i < n; ++i) {
    if (present.count(ids[i]) || !batch.insert(ids[i]).second) {
      return {Code::kInvalidArgument, "id " + std::to_string(ids[i]) + " is already present"};
    }
  }
  return Status::Ok();
}

// Scales each of the rows vectors of x (rows * dim) to unit length (zero vectors stay zero).
inline void NormaliseRows(float* x, size_t rows, size_t dim) {
  for (size_t i = 0; i < rows; ++i) {
    float* v = x + i * dim;
    double sum = 0;
    for (size_t d = 0; d < dim; ++d) sum += double{v[d]} * v[d];
    const float scale = sum > 0 ? static_cast<float>(1 / std::sqrt(sum)) : 0.0f;
    for (size_t d = 0; d < dim; ++d) v[d] *= scale;
  }
}

// Device memory that frees itself; an allocation failure is a Status. The owner makes the right
// device current before any call that allocates or frees.
template <typename T>
class DeviceArray {
 public:
  DeviceArray() = default;
  ~DeviceArray() { Free(); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  // Room for n elements, keeping the first `keep`. Unchanged on failure.
  Status Reserve(size_t n, size_t keep = 0) {
    if (n <= capacity_) return Status::Ok();
    T* p = nullptr;
    VECMESH_RETURN_IF_ERROR(FromCuda(cudaMalloc(&p, n * sizeof(T)), "cudaMalloc"));
    if (keep > 0) {
      Status s =
          FromCuda(cudaMemcpy(p, data_, keep * sizeof(T), cudaMemcpyDeviceToDevice), "cudaMemcpy");
      if (!s.ok()) {
        cudaFree(p);
        return s;
      }
    }
    Free();
    data_ = p;
    capacity_ = n;
    return Status::Ok();
  }
  void Free() {
    if (data_) cudaFree(data_);
    data_ = nullptr;
    capacity_ = 0;
  }
  // Exchanges the buffers: lets a caller build a replacement on the side and commit it only
  // once everything else has succeeded.
  void Swap(DeviceArray& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(capacity_, other.capacity_);
  }
  T* get() const { return data_; }
  size_t capacity() const { return capacity_; }
  size_t bytes() const { return capacity_ * sizeof(T); }

 private:
  T* data_ = nullptr;
  size_t capacity_ = 0;
};

// The blocks of `block` threads that cover threads_needed threads.
inline unsigned Blocks(size_t threads_needed, int block) {
  return static_cast<unsigned>((threads_needed + block - 1) / block);
}

__device__ __forceinline__ float ToFloat(float v) { return v; }
__device__ __forceinline__ float ToFloat(__half v) { return __half2float(v); }

// Order-preserving map of a float to an unsigned key (smaller float, smaller key).
__device__ __forceinline__ uint32_t OrderedKey(float f) {
  const uint32_t u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// The inverse of OrderedKey.
__device__ __forceinline__ float FromOrderedKey(uint32_t key) {
  return __uint_as_float((key & 0x80000000u) ? (key & 0x7fffffffu) : ~key);
}

}  // namespace vecmesh::gpu
