// AVX512-BF16 GEMM path for Bf16 precision: 14x32 micro-kernel on vdpbf16ps (each instruction
// multiplies 16 lanes x 2 k of bf16 pairs and accumulates in f32). Operands are rounded to bf16
// (nearest even) while packing; A broadcasts one (k, k+1) pair per row, B holds [k/2][n][2].
// Compile with: -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma -mf16c -mavx512bf16
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
void kernel_bf16(int kc, const void* a_v, const void* b_v, float* c, int64_t ldc, int m_valid,
                 int n_valid, int flags, const float* bias_m, const float* bias_n) {
  const uint16_t* a = static_cast<const uint16_t*>(a_v);  // [kc/32][MR][32]
  const uint16_t* b = static_cast<const uint16_t*>(b_v);  // [kc/2][NV*16][2]
  __m512 acc[MR][NV];
#pragma GCC unroll 32
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int g = 0; g < kc; g += 32, a += MR * 32) {
#pragma GCC unroll 2
    for (int kp = 0; kp < 16; ++kp) {
      __m512bh bv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) bv[v] = (__m512bh)_mm512_load_si512(b + v * 32);
      b += NV * 32;
#pragma GCC unroll 32
      for (int r = 0; r < MR; ++r) {
        int32_t pair;
        std::memcpy(&pair, a + r * 32 + kp * 2, 4);
        const __m512bh av = (__m512bh)_mm512_set1_epi32(pair);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], av, bv[v]);
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
    "avx512bf16-14x32", kMr, kNr, 32, 2, 768, 8 * kMr,
    pack_a_bf16_fast<kMr>, pack_b_bf16_fast, pack_b_im2col_bf16_fast, kernel_bf16<kMr, kNv>,
};

}  // namespace

const GemmKernels* gemm_kernels_avx512bf16() { return &kKernels; }

}  // namespace sd::cpu::gemm_detail
