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
    for (; i < n; ++i) dst[i] = f16_to_f32(s[i]);
    return;
  }
  cvt_row_scalar(src, dt, n, dst);
}
inline void round_row_bf16(float* x, int n) { round_row_bf16_scalar(x, n); }

#include "gemm_pack_impl.h"

// Eight-float vector ops for gemm_tile_impl.h.
struct F32x8 : VecAcc<Vec8f> {
  static A set1(float x) { return _mm256_set1_ps(x); }
};

#include "gemm_tile_impl.h"

constexpr int kMr = 6, kNr = 16;

// 8x8 transpose of ymm rows r[0..7] in place.
inline void transpose8(__m256 r[8]) {
  __m256 t[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  __m256 u[8];
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

// Weights (f16 or f32, [n][k]) into the [kc][16] B panel: 8 columns x 8 k at a time through an
// 8x8 transpose, instead of one scalar store per element (the B pack of a 256-row linear was a
// fifth of its time). Partial panels and k tails go through the generic packer.
void pack_b_avx2(const DenseView& b, int64_t K, int64_t n0, int cols, int64_t k0, int kc,
                 bool round_bf16, void* dst_v) {
  const int valid = int(K - k0 < kc ? K - k0 : kc);
  if (cols != kNr || round_bf16 || valid != kc || (b.dtype != DType::F16 && b.dtype != DType::F32)) {
    pack_b_f32<kNr>(b, K, n0, cols, k0, kc, round_bf16, dst_v);
    return;
  }
  float* dst = static_cast<float*>(dst_v);
  const bool f16 = b.dtype == DType::F16;
  for (int half = 0; half < 2; ++half) {
    const int64_t nb = n0 + half * 8;
    for (int t = 0; t < kc; t += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i) {
        const int64_t at = (nb + i) * b.row_stride + k0 + t;
        r[i] = f16 ? _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(b.data) + at)))
                   : _mm256_loadu_ps(static_cast<const float*>(b.data) + at);
      }
      transpose8(r);
      for (int i = 0; i < 8; ++i) _mm256_store_ps(dst + (t + i) * kNr + half * 8, r[i]);
    }
  }
}

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
  store_tile<F32x8>(tile, c, ldc, m_valid, n_valid, flags, bias_m, bias_n);
}

const GemmKernels kKernels = {
    "avx2-f32-6x16", kMr, kNr, 16, 4, 256, 16 * kMr,
    pack_a_f32<kMr>, pack_b_avx2, pack_b_im2col_f32<kNr>, kernel_avx2,
};

}  // namespace

const GemmKernels* gemm_kernels_avx2() { return &kKernels; }

}  // namespace sd::cpu::gemm_detail
