// Internal to the GPU library: CUDA and cuBLAS errors as Status, device memory that frees itself,
// and small device helpers shared by the index kernels. Each .cu file is its own device module
// (no relocatable device code), so everything here has internal linkage or is inline.
#pragma once

#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
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
