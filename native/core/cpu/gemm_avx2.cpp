// AVX2+FMA GEMM path: 6x16 micro-kernel (12 ymm accumulators, B as two vectors per k, A
// broadcast from memory). Bf16 precision is emulated (operands rounded to bf16 while packing,
// f32 accumulation). Compile with: -mavx2 -mfma -mf16c
// Everything except the accessor lives in an anonymous namespace (see gemm_kernels.h).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "gemm_kernels.h"

namespace sd::cpu::gemm_detail {
namespace {

#include "gemm_scalar_prims.h"

void cvt_row(const void* src, DType dt, int n, float* dst) {
  if (dt == DType::F16) {
    const uint16_t* s = static_cast<const uint16_t*>(src);
    int i = 0;
    for (; i + 8 <= n; i += 8)
      _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))));
    for (; i < n; ++i) dst[i] = half_to_float(s[i]);
    return;
  }
  cvt_row_scalar(src, dt, n, dst);
}
inline void round_row_bf16(float* x, int n) { round_row_bf16_scalar(x, n); }
inline void bf16_pairs(const float* k0, const float* k1, int n, uint32_t* dst) { bf16_pairs_scalar(k0, k1, n, dst); }
inline void bf16_pairs_strided(const float* x, int np, uint32_t* dst) { bf16_pairs_strided_scalar(x, np, dst); }

#include "gemm_pack_impl.h"

constexpr int kMr = 6, kNr = 16;

// Accumulators are named variables (an __m256 array got spilled to the stack every k step).
void kernel_avx2(int kc, const void* a_v, const void* b_v, float* c, int64_t ldc, int m_valid,
                 int n_valid, int flags, const float* bias_m, const float* bias_n) {
  const float* a = static_cast<const float*>(a_v);
  const float* b = static_cast<const float*>(b_v);
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
         c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int g = 0; g < kc; g += 16, a += kMr * 16) {
#pragma GCC unroll 4
    for (int kk = 0; kk < 16; ++kk) {
      const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
      b += 16;
      __m256 av = _mm256_broadcast_ss(a + 0 * 16 + kk);
      c00 = _mm256_fmadd_ps(av, b0, c00), c01 = _mm256_fmadd_ps(av, b1, c01);
      av = _mm256_broadcast_ss(a + 1 * 16 + kk);
      c10 = _mm256_fmadd_ps(av, b0, c10), c11 = _mm256_fmadd_ps(av, b1, c11);
      av = _mm256_broadcast_ss(a + 2 * 16 + kk);
      c20 = _mm256_fmadd_ps(av, b0, c20), c21 = _mm256_fmadd_ps(av, b1, c21);
      av = _mm256_broadcast_ss(a + 3 * 16 + kk);
      c30 = _mm256_fmadd_ps(av, b0, c30), c31 = _mm256_fmadd_ps(av, b1, c31);
      av = _mm256_broadcast_ss(a + 4 * 16 + kk);
      c40 = _mm256_fmadd_ps(av, b0, c40), c41 = _mm256_fmadd_ps(av, b1, c41);
      av = _mm256_broadcast_ss(a + 5 * 16 + kk);
      c50 = _mm256_fmadd_ps(av, b0, c50), c51 = _mm256_fmadd_ps(av, b1, c51);
    }
  }
  alignas(32) float tile[kMr][kNr];
  _mm256_store_ps(tile[0], c00), _mm256_store_ps(tile[0] + 8, c01);
  _mm256_store_ps(tile[1], c10), _mm256_store_ps(tile[1] + 8, c11);
  _mm256_store_ps(tile[2], c20), _mm256_store_ps(tile[2] + 8, c21);
  _mm256_store_ps(tile[3], c30), _mm256_store_ps(tile[3] + 8, c31);
  _mm256_store_ps(tile[4], c40), _mm256_store_ps(tile[4] + 8, c41);
  _mm256_store_ps(tile[5], c50), _mm256_store_ps(tile[5] + 8, c51);
  if (n_valid == kNr) {
    for (int r = 0; r < m_valid; ++r) {
      for (int v = 0; v < 2; ++v) {
        __m256 x = _mm256_load_ps(tile[r] + v * 8);
        float* cp = c + r * ldc + v * 8;
        if (flags & kLoadC) x = _mm256_add_ps(x, _mm256_loadu_ps(cp));
        if (bias_n) x = _mm256_add_ps(x, _mm256_loadu_ps(bias_n + v * 8));
        if (bias_m) x = _mm256_add_ps(x, _mm256_set1_ps(bias_m[r]));
        _mm256_storeu_ps(cp, x);
      }
    }
    return;
  }
  for (int r = 0; r < m_valid; ++r) {
    for (int j = 0; j < n_valid; ++j) {
      float v = tile[r][j];
      if (flags & kLoadC) v += c[r * ldc + j];
      if (bias_n) v += bias_n[j];
      if (bias_m) v += bias_m[r];
      c[r * ldc + j] = v;
    }
  }
}

const GemmKernels kKernels = {
    "avx2-f32-6x16", kMr, kNr, 16, 4, 256, 16 * kMr,
    pack_a_f32<kMr>, pack_b_f32<kNr>, pack_b_im2col_f32<kNr>, kernel_avx2,
};

}  // namespace

const GemmKernels* gemm_kernels_avx2() { return &kKernels; }

}  // namespace sd::cpu::gemm_detail
