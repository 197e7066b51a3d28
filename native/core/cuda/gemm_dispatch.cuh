// Picks and launches one of the gemm_kernels.cuh kernels for a (source A, source B, epilogue)
// triple. Included by gemm.cu and conv.cu only.
#pragma once
#include "../error.h"
#include "gemm.cuh"
#include "gemm_kernels.cuh"

namespace sd::cuda::gemm_detail {

enum class Kernel { Reference, Simt, WmmaBf16, WmmaF16 };

inline Kernel pick_kernel(const GemmConfig& cfg) {
  switch (cfg.path) {
    case GemmPath::Reference: return Kernel::Reference;
    case GemmPath::Simt: return Kernel::Simt;
    case GemmPath::TensorCore:
      if (!cfg.tensor_cores) throw Error("cuda: the tensor-core GEMM needs an sm_80 or newer GPU");
      return cfg.precision == Precision::F16 ? Kernel::WmmaF16 : Kernel::WmmaBf16;
    case GemmPath::Auto: break;
  }
  if (cfg.precision == Precision::F32 || !cfg.tensor_cores) return Kernel::Simt;
  return cfg.precision == Precision::F16 ? Kernel::WmmaF16 : Kernel::WmmaBf16;
}

inline const char* kernel_name(Kernel k) {
  switch (k) {
    case Kernel::Reference: return "reference";
    case Kernel::Simt: return "simt";
    case Kernel::WmmaBf16: return "wmma-bf16";
    case Kernel::WmmaF16: return "wmma-f16";
  }
  return "?";
}

// Bit sets of kernels a call site may instantiate (each instantiation costs nvcc time).
constexpr unsigned kRef = 1, kSimt = 2, kWmma = 4, kAllKernels = kRef | kSimt | kWmma;

// Launches the kernel cfg picks; it must be in KERNELS (callers map the others onto it first).
template <unsigned KERNELS = kAllKernels, class SA, class SB, class Epi>
void run_gemm(cudaStream_t st, const GemmConfig& cfg, const SA& a, const SB& b, const Epi& epi, int M, int N, int K,
              int batch) {
  if (M <= 0 || N <= 0 || batch <= 0) return;
  if (batch > 65535) throw Error("cuda: gemm batch " + std::to_string(batch) + " exceeds 65535");
  const Kernel kernel = pick_kernel(cfg);
  if (kernel == Kernel::Reference) {
    if constexpr ((KERNELS & kRef) != 0) {
      // Rounds operands the way the chosen precision's fast path does.
      const int round = cfg.precision == Precision::Bf16 ? 1 : (cfg.precision == Precision::F16 ? 2 : 0);
      const int64_t total = int64_t(M) * N;
      const dim3 grid{grid_for(total, 256, 1 << 16), unsigned(batch)};
      gemm_reference<SA, SB, Epi><<<grid, 256, 0, st>>>(a, b, epi, M, N, K, round);
      SD_CUDA_CHECK_LAUNCH("gemm_reference");
      return;
    }
    throw Error("cuda: internal error: reference gemm not instantiated here");
  }
  const int64_t tiles_m = (int64_t(M) + 127) / 128, tiles_n = (int64_t(N) + 127) / 128;
  if (tiles_m > 65535) throw Error("cuda: gemm with " + std::to_string(M) + " rows is too large for one launch");
  const dim3 grid{unsigned(tiles_n), unsigned(tiles_m), unsigned(batch)};
  switch (kernel) {
    case Kernel::Simt:
      if constexpr ((KERNELS & kSimt) != 0) {
        gemm_simt<SA, SB, Epi><<<grid, kSimtThreads, 0, st>>>(a, b, epi, M, N, K);
        SD_CUDA_CHECK_LAUNCH("gemm_simt");
        return;
      }
      break;
    case Kernel::WmmaBf16:
    case Kernel::WmmaF16:
      if constexpr ((KERNELS & kWmma) != 0) {
        const bool bf16 = kernel == Kernel::WmmaBf16;
        if (bf16) gemm_wmma<__nv_bfloat16, SA, SB, Epi><<<grid, kWmmaThreads, 0, st>>>(a, b, epi, M, N, K);
        else gemm_wmma<__half, SA, SB, Epi><<<grid, kWmmaThreads, 0, st>>>(a, b, epi, M, N, K);
        SD_CUDA_CHECK_LAUNCH(bf16 ? "gemm_wmma<bf16>" : "gemm_wmma<f16>");
        return;
      }
      break;
    case Kernel::Reference: break;
  }
  throw Error(std::string("cuda: internal error: gemm kernel ") + kernel_name(kernel) + " not instantiated here");
}

}  // namespace sd::cuda::gemm_detail
