// AVX512-BF16 GEMM path for Bf16 precision: 14x32 micro-kernel on vdpbf16ps (each instruction
// multiplies 16 lanes x 2 k of bf16 pairs and accumulates in f32). Operands are rounded to bf16
// (nearest even) while packing; A broadcasts one (k, k+1) pair per row, B holds [k/2][n][2].
// Compile with: -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma -mf16c -mavx512bf16
// The code is gemm_avx512_tu.h (shared with gemm_avx512.cpp), in an anonymous namespace.
#include "gemm_avx512_tu.h"

namespace sd::cpu::gemm_detail {
namespace { const GemmKernels kKernels = zmm_kernels<ZmmBf16Pairs>("avx512bf16-14x32"); }
const GemmKernels* gemm_kernels_avx512bf16() { return &kKernels; }
}  // namespace sd::cpu::gemm_detail
