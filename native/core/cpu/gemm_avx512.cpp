// AVX-512 fp32 GEMM path: 14x32 micro-kernel (28 zmm accumulators, B loaded as two vectors
// per k, A broadcast from memory with embedded {1to16} FMAs). Also emulates Bf16 precision by
// rounding operands to bf16 while packing. Compile with:
//   -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma -mf16c
// Everything except the accessor lives in an anonymous namespace (see gemm_kernels.h).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "gemm_kernels.h"

// GCC 12 warns about the _mm512_undefined_* inside masked intrinsics; the lanes are never used.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace sd::cpu::gemm_detail {
namespace {

#include "gemm_scalar_prims.h"

#include "gemm_avx512_prims.h"

#include "gemm_pack_impl.h"

#include "gemm_avx512_pack.h"

constexpr int kMr = 14, kNv = 2, kNr = 16 * kNv;

template <int MR, int NV>
void kernel_f32(int kc, const void* a_v, const void* b_v, float* c, int64_t ldc, int m_valid,
                int n_valid, int flags, const float* bias_m, const float* bias_n) {
  const float* a = static_cast<const float*>(a_v);
  const float* b = static_cast<const float*>(b_v);
  __m512 acc[MR][NV];
#pragma GCC unroll 32
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int g = 0; g < kc; g += 16, a += MR * 16) {
#pragma GCC unroll 4
    for (int kk = 0; kk < 16; ++kk) {
      __m512 bv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(b + v * 16);
      b += NV * 16;
#pragma GCC unroll 32
      for (int r = 0; r < MR; ++r) {
        const __m512 av = _mm512_set1_ps(a[r * 16 + kk]);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
      }
    }
  }
  __mmask16 masks[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) masks[v] = tail_mask(n_valid - v * 16 < 0 ? 0 : n_valid - v * 16);
#pragma GCC unroll 32
  for (int r = 0; r < MR; ++r) {
    if (r < m_valid) {
      const float bm = bias_m ? bias_m[r] : 0.0f;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v)
        store_tile_row(c + r * ldc + v * 16, acc[r][v], masks[v], flags,
                       bias_n ? bias_n + v * 16 : nullptr, bm);
    }
  }
}

const GemmKernels kKernels = {
    "avx512-f32-14x32", kMr, kNr, 16, 4, 384, 8 * kMr,
    pack_a_f32_fast<kMr>, pack_b_f32_fast, pack_b_im2col_f32_fast, kernel_f32<kMr, kNv>,
};

}  // namespace

const GemmKernels* gemm_kernels_avx512() { return &kKernels; }

}  // namespace sd::cpu::gemm_detail
