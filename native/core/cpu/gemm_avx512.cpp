// AVX-512 fp32 GEMM path: 14x32 micro-kernel (28 zmm accumulators, B loaded as two vectors
// per k, A broadcast from memory with embedded {1to16} FMAs). Also emulates Bf16 precision by
// rounding operands to bf16 while packing. Compile with:
//   -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma -mf16c
// The code is gemm_avx512_tu.h (shared with gemm_avx512bf16.cpp), in an anonymous namespace.
#include "gemm_avx512_tu.h"

namespace sd::cpu::gemm_detail {
namespace { const GemmKernels kKernels = zmm_kernels<ZmmF32>("avx512-f32-14x32"); }
const GemmKernels* gemm_kernels_avx512() { return &kKernels; }
}  // namespace sd::cpu::gemm_detail
