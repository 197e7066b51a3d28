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
#define SD_ATTN_OWN_ROW_MAX
#include "attention_generic.h"  // q_finalize, round_row_bf16

#include "vec_acc.h"

// The f32 vector ops of attention_rows.h on ymm registers (8 lanes).
struct YmmAcc : VecAcc<Vec8f> {
  static A set1(float x) { return _mm256_set1_ps(x); }
  static A fmadd(A a, A b, A c) { return _mm256_fmadd_ps(a, b, c); }
  static A fnmadd(A a, A b, A c) { return _mm256_fnmadd_ps(a, b, c); }
};
using YmmF32 = F32Dot<YmmAcc>;

#include "attention_rows.h"  // s_rows, pv_rows, exp_reduced

using TileOps = YmmF32;
constexpr int kSRows = 6, kSCols = 16, kPvRows = 6, kPvKeyStep = 1;

#include "attention_tiled.h"  // s_block, pv_block

// Same reduction and polynomial as exp_poly in attention_generic.h (and exp512), in the short
// evaluation order, 8 lanes at a time, for x <= 0 (scores minus their running max): only the lower clamp is needed.
inline __m256 exp256(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 y = exp_reduced_short<YmmF32>(x, n);
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

inline float hsum(__m256 v) {
  alignas(32) float t[8];
  _mm256_store_ps(t, v);
  return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
}

float exp_sub_row(float* s, int n, float m) {  // all kBlockK entries; first n summed
  const __m256 mv = _mm256_set1_ps(m);
  if (n == kBlockK) {  // every block of a non-causal row but the last: no masking
    __m256 sum0 = _mm256_setzero_ps(), sum1 = _mm256_setzero_ps();
    for (int j = 0; j < kBlockK; j += 16) {
      const __m256 e0 = exp256(_mm256_sub_ps(_mm256_load_ps(s + j), mv));
      const __m256 e1 = exp256(_mm256_sub_ps(_mm256_load_ps(s + j + 8), mv));
      _mm256_store_ps(s + j, e0);
      _mm256_store_ps(s + j + 8, e1);
      sum0 = _mm256_add_ps(sum0, e0);
      sum1 = _mm256_add_ps(sum1, e1);
    }
    return hsum(_mm256_add_ps(sum0, sum1));
  }
  __m256 sum = _mm256_setzero_ps();
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int j = 0; j < kBlockK; j += 8) {
    const __m256 e = exp256(_mm256_sub_ps(_mm256_load_ps(s + j), mv));
    _mm256_store_ps(s + j, e);
    const __m256 keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n - j), lane));
    sum = _mm256_add_ps(sum, _mm256_and_ps(e, keep));
  }
  return hsum(sum);
}

// The running-max rescale, one per row and key block: the vector exp, not a libm call.
inline float exp_one(float x) { return _mm256_cvtss_f32(exp256(_mm256_set1_ps(x))); }
#define SD_ATTN_OWN_EXP_ONE

// GCC keeps the generic loop's compare-select chain scalar (NaN order); this is a max tree.
float row_max(const float* x, int n) {  // n >= 1
  __m256 mx = _mm256_set1_ps(x[0]);
  int j = 0;
  for (; j + 8 <= n; j += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(x + j));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_movehdup_ps(h));
  float m = _mm_cvtss_f32(h);
  for (; j < n; ++j) m = x[j] > m ? x[j] : m;
  return m;
}

#include "attention_impl.h"

}  // namespace

const AttentionKernels* attention_kernels_avx2() { return &kAttentionKernels; }

}  // namespace sd::cpu::attention_detail
