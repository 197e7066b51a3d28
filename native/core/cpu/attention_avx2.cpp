// Flash attention, AVX2+FMA path: register-tiled q.k^T (2 queries x 32 keys) and p.v
// (4 queries x 16 output columns) with intrinsics, vectorised exp. Bf16 precision is emulated.
// Compile with: -mavx2 -mfma -mf16c
// Everything except the accessor lives in an anonymous namespace (see attention_kernels.h).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "attention_kernels.h"

namespace sd::cpu::attention_detail {
namespace {

#define SD_ATTN_GENERIC_HELPERS_ONLY
#include "attention_generic.h"  // q_finalize, row_max, round_row_bf16

constexpr int kSRows = 2, kSCols = 32, kPvRows = 4, kPvKeyStep = 1;

template <int R>
void s_rows(const float* q, int64_t ldq, const float* kt, float* s, int d, float scale_f) {
  const __m256 scale = _mm256_set1_ps(scale_f);
  __m256 acc[R][4];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < 4; ++v) acc[r][v] = _mm256_setzero_ps();
  for (int x = 0; x < d; ++x) {
    const float* kr = kt + x * kBlockK;
    const __m256 k0 = _mm256_load_ps(kr), k1 = _mm256_load_ps(kr + 8),
                 k2 = _mm256_load_ps(kr + 16), k3 = _mm256_load_ps(kr + 24);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 qb = _mm256_broadcast_ss(q + r * ldq + x);
      acc[r][0] = _mm256_fmadd_ps(qb, k0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(qb, k1, acc[r][1]);
      acc[r][2] = _mm256_fmadd_ps(qb, k2, acc[r][2]);
      acc[r][3] = _mm256_fmadd_ps(qb, k3, acc[r][3]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < 4; ++v) _mm256_store_ps(s + r * kBlockK + v * 8, _mm256_mul_ps(acc[r][v], scale));
}

template <int R>
void pv_rows(const float* p, const float* v, int64_t ldv, float* o, int64_t ldo,
             const float* alpha, int bk) {
  __m256 acc[R][2];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const __m256 a = _mm256_set1_ps(alpha[r]);
    acc[r][0] = _mm256_mul_ps(a, _mm256_load_ps(o + r * ldo));
    acc[r][1] = _mm256_mul_ps(a, _mm256_load_ps(o + r * ldo + 8));
  }
  for (int j = 0; j < bk; ++j) {
    const __m256 v0 = _mm256_load_ps(v + j * ldv), v1 = _mm256_load_ps(v + j * ldv + 8);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 pb = _mm256_broadcast_ss(p + r * kBlockK + j);
      acc[r][0] = _mm256_fmadd_ps(pb, v0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(pb, v1, acc[r][1]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    _mm256_store_ps(o + r * ldo, acc[r][0]);
    _mm256_store_ps(o + r * ldo + 8, acc[r][1]);
  }
}

#include "attention_tiled.h"  // s_block, pv_block

// Same polynomial as exp_poly in attention_generic.h (and exp512), 8 lanes at a time.
inline __m256 exp256(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145752f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.42860677e-6f), r);
  __m256 y = _mm256_set1_ps(1.0f / 720);
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f / 120));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f / 24));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f / 6));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(0.5f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

float exp_sub_row(float* s, int n, float m) {  // all kBlockK entries; first n summed
  const __m256 mv = _mm256_set1_ps(m);
  __m256 sum = _mm256_setzero_ps();
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int j = 0; j < kBlockK; j += 8) {
    const __m256 e = exp256(_mm256_sub_ps(_mm256_load_ps(s + j), mv));
    _mm256_store_ps(s + j, e);
    const __m256 keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n - j), lane));
    sum = _mm256_add_ps(sum, _mm256_and_ps(e, keep));
  }
  alignas(32) float t[8];
  _mm256_store_ps(t, sum);
  return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
}

#include "attention_impl.h"

}  // namespace

const AttentionKernels* attention_kernels_avx2() { return &kAttentionKernels; }

}  // namespace sd::cpu::attention_detail
