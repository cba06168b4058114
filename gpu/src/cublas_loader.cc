#include "cublas_loader.h"

#include <dlfcn.h>

#include <mutex>
#include <string>

namespace vecmesh::gpu::blas {
namespace {

// The entry points, with the types cublas_v2.h declares them with (the _v2 names are the ones
// the library exports). C++ overloads cublasGemmEx, so its type is the wrapper's, which repeats
// the C declaration.
struct Api {
  decltype(&::cublasCreate_v2) create = nullptr;
  decltype(&::cublasDestroy_v2) destroy = nullptr;
  decltype(&::cublasSgemm_v2) sgemm = nullptr;
  decltype(&GemmEx) gemm_ex = nullptr;
  std::string error;  // why it could not be opened; empty once it is
};

template <typename F>
bool Find(void* library, const char* name, F* out, std::string* error) {
  *out = reinterpret_cast<F>(::dlsym(library, name));
  if (!*out) *error = std::string("cuBLAS has no ") + name;
  return *out != nullptr;
}

const Api& Loaded() {
  static Api api;
  static std::once_flag once;
  std::call_once(once, [] {
    // The library found at build time, then the loader's search path (the toolkit may live
    // elsewhere where this runs).
    void* library = nullptr;
    for (const char* name : {VECMESH_CUBLAS_PATH, VECMESH_CUBLAS_SONAME}) {
      library = ::dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (library) break;
    }
    if (!library) {
      api.error = std::string("cannot open cuBLAS (") + VECMESH_CUBLAS_SONAME + "): " + ::dlerror();
      return;
    }
    // The library stays open for the life of the process.
    Find(library, "cublasCreate_v2", &api.create, &api.error) &&
        Find(library, "cublasDestroy_v2", &api.destroy, &api.error) &&
        Find(library, "cublasSgemm_v2", &api.sgemm, &api.error) &&
        Find(library, "cublasGemmEx", &api.gemm_ex, &api.error);
  });
  return api;
}

}  // namespace

Status CreateHandle(cublasHandle_t* handle) {
  const Api& api = Loaded();
  if (!api.error.empty()) return {Code::kCudaError, api.error};
  const cublasStatus_t s = api.create(handle);
  if (s == CUBLAS_STATUS_SUCCESS) return Status::Ok();
  return {s == CUBLAS_STATUS_ALLOC_FAILED ? Code::kOutOfMemory : Code::kCudaError,
          "cublasCreate: cuBLAS status " + std::to_string(static_cast<int>(s))};
}

cublasStatus_t Destroy(cublasHandle_t handle) { return Loaded().destroy(handle); }

cublasStatus_t Sgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                     int m, int n, int k, const float* alpha, const float* a, int lda,
                     const float* b, int ldb, const float* beta, float* c, int ldc) {
  return Loaded().sgemm(handle, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

cublasStatus_t GemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                      int m, int n, int k, const void* alpha, const void* a, cudaDataType a_type,
                      int lda, const void* b, cudaDataType b_type, int ldb, const void* beta,
                      void* c, cudaDataType c_type, int ldc, cublasComputeType_t compute_type,
                      cublasGemmAlgo_t algo) {
  return Loaded().gemm_ex(handle, transa, transb, m, n, k, alpha, a, a_type, lda, b, b_type, ldb,
                          beta, c, c_type, ldc, compute_type, algo);
}

}  // namespace vecmesh::gpu::blas
