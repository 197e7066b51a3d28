// Dense matrix products for linear, matmul and the attention fallback:
//   C[z, m, n] = sum_k A[z, m, k] · B[z, n, k]  (+ bias_m[m]) (+ bias_n[n]) (+ residual)
// A is f32 with k contiguous; B is f32/f16/bf16 with k contiguous (weights [out, in]) or f32
// with n contiguous (b_n_major: V in P·V). Kernels are in gemm_kernels.cuh.
#pragma once
#include "cuda_backend.h"
#include "cuda_util.h"

namespace sd::cuda {

struct GemmConfig {
  Precision precision = Precision::F32;
  GemmPath path = GemmPath::Auto;
  bool tensor_cores = false;  // the device is sm_80+
};

struct DenseGemm {
  int m = 0, n = 0, k = 0, batch = 1;
  const float* a = nullptr;  // (z, m, k) at a[z*a_batch + m*lda + k]
  int64_t lda = 0, a_batch = 0;
  const void* b = nullptr;   // (z, n, k) at b[z*b_batch + n*ldb + k], or b[z*b_batch + k*ldb + n] if b_n_major
  DType b_dtype = DType::F32;
  bool b_n_major = false;    // f32 only
  int64_t ldb = 0, b_batch = 0;
  float* c = nullptr;        // (z, m, n) at c[z*c_batch + m*ldc + n]
  int64_t ldc = 0, c_batch = 0;
  const float* bias_m = nullptr;    // contiguous f32 [m] or null
  const float* bias_n = nullptr;    // contiguous f32 [n] or null
  const float* residual = nullptr;  // same layout as c, or null
};

void launch_gemm(cudaStream_t stream, const GemmConfig& cfg, const DenseGemm& g);

// Which kernel a config runs (for names and benchmarks): "reference", "simt", "wmma-bf16", "wmma-f16".
const char* gemm_kernel_name(const GemmConfig& cfg);

}  // namespace sd::cuda
