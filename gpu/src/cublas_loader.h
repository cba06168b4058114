// cuBLAS, opened on first use instead of linked. Linking it makes every process that links gpu/
// (vecmeshd, every test) load and initialise libcublas and libcublasLt at start, GPU or not:
// about 0.4 s and 200 MB of resident memory before main. Opened here, that cost is paid once,
// by the first index created on a device.
//
// The functions have cuBLAS's own signatures and results; CreateHandle also opens the library,
// and the others may be called only with a handle it made.
#pragma once

#include <cublas_v2.h>

#include "vecmesh_gpu/status.h"

namespace vecmesh::gpu::blas {

// Opens cuBLAS (once per process) and creates a handle. kCudaError naming the library and the
// loader's message if it cannot be opened.
Status CreateHandle(cublasHandle_t* handle);
cublasStatus_t Destroy(cublasHandle_t handle);
cublasStatus_t Sgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                     int m, int n, int k, const float* alpha, const float* a, int lda,
                     const float* b, int ldb, const float* beta, float* c, int ldc);
cublasStatus_t GemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                      int m, int n, int k, const void* alpha, const void* a, cudaDataType a_type,
                      int lda, const void* b, cudaDataType b_type, int ldb, const void* beta,
                      void* c, cudaDataType c_type, int ldc, cublasComputeType_t compute_type,
                      cublasGemmAlgo_t algo);

}  // namespace vecmesh::gpu::blas
