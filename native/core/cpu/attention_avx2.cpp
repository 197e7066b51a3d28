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
constexpr int kSRows = 2, kSCols = 32, kPvRows = 4, kPvKeyStep = 1;

#include "attention_tiled.h"  // s_block, pv_block

// Same reduction and polynomial as exp_poly in attention_generic.h (and exp512), 8 lanes at a time.
inline __m256 exp256(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 y = exp_reduced<YmmF32>(x, n);
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
