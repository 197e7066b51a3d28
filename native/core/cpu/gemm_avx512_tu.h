// The body of both AVX-512 gemm TUs, gemm_avx512.cpp (f32, also emulating Bf16 precision by
// rounding operands while packing) and gemm_avx512bf16.cpp (Bf16 precision on vdpbf16ps): the
// packers and the 14x32 micro-kernel (28 zmm accumulators, B loaded as two vectors per k step,
// A broadcast from memory), written once over a dot-ops type D (avx512_dot_ops.h). Seen as D::E
// elements the packed panels (gemm_kernels.h) are A [kc/(16*kPer)][MR][16], B [kc/kPer][NV*16].
// Everything lands in the including TU's anonymous namespace (see gemm_kernels.h); the TU only
// names its table: zmm_kernels<ZmmF32> or zmm_kernels<ZmmBf16Pairs>.
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

#include "avx512_dot_ops.h"

constexpr int kMr = 14, kNv = 2, kNr = 16 * kNv;

template <class D, int MR, int NV>
void kernel_zmm(int kc, const void* a_v, const void* b_v, float* c, int64_t ldc, int m_valid,
                int n_valid, int flags, const float* bias_m, const float* bias_n) {
  const typename D::E* a = static_cast<const typename D::E*>(a_v);
  const typename D::E* b = static_cast<const typename D::E*>(b_v);
  __m512 acc[MR][NV];
#pragma GCC unroll 32
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int g = 0; g < kc; g += 16 * D::kPer, a += MR * 16) {
#pragma GCC unroll 4
    for (int kk = 0; kk < 16; ++kk) {
      typename D::V bv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) bv[v] = D::load(b + v * 16);
      b += NV * 16;
#pragma GCC unroll 32
      for (int r = 0; r < MR; ++r) {
        const typename D::V av = D::bcast(a + r * 16 + kk);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[r][v] = D::madd(acc[r][v], av, bv[v]);
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

// f32 panels (kstep 16) or bf16 pair panels (kstep 32), by D::kPer.
template <class D>
constexpr GemmKernels zmm_kernels(const char* name) {
  if constexpr (D::kPer == 1)
    return {name, kMr, kNr, 16, 4, 384, 8 * kMr, pack_a_f32_fast<kMr>, pack_b_f32_fast,
            pack_b_im2col_f32_fast, kernel_zmm<D, kMr, kNv>};
  else
    return {name, kMr, kNr, 32, 2, 768, 8 * kMr, pack_a_bf16_fast<kMr>, pack_b_bf16_fast,
            pack_b_im2col_bf16_fast, kernel_zmm<D, kMr, kNv>};
}

}  // namespace
}  // namespace sd::cpu::gemm_detail
