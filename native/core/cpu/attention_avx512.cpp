// Flash attention, AVX-512 path: register-tiled q.k^T (6 queries x 64 keys, 24 zmm
// accumulators) and p.v (6 queries x 64 output columns; attention_avx512_tiles.h, shared with
// attention_avx512bf16.cpp), vectorised exp. Bf16 precision is
// emulated (q, k, v and probabilities rounded to bf16, f32 accumulation).
// Compile with: -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma -mf16c
// Everything except the accessor lives in an anonymous namespace (see attention_kernels.h).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "attention_kernels.h"

// GCC 12 warns about the _mm512_undefined_* inside masked intrinsics; the lanes are never used.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace sd::cpu::attention_detail {
namespace {

#include "avx512_dot_ops.h"

#include "attention_avx512_tiles.h"

void q_finalize(float*, int, int64_t, int) {}

void s_block(const float* q, int64_t ldq, const float* kt, float* s, int rows, int d, float scale) {
  s_block_zmm<ZmmF32>(q, ldq, kt, s, rows, d, scale);
}

void pv_block(const float* p, const float* v, int64_t ldv, float* o, int64_t ldo,
              const float* alpha, int rows, int bk, int dv) {
  pv_block_zmm<ZmmF32>(p, v, ldv, o, ldo, alpha, rows, bk, dv);
}

#include "attention_avx512_math.h"

void store_probabilities(float* s, int r, const __m512 (&p)[kRowVectors], bool bf16) {
#pragma GCC unroll 4
  for (int c = 0; c < kRowVectors; ++c) _mm512_store_ps(s + r * kBlockK + 16 * c, bf16 ? _mm512_castsi512_ps(round_bf16_bits(p[c])) : p[c]);
}

#include "attention_avx512_softmax.h"

#include "attention_impl.h"

}  // namespace

const AttentionKernels* attention_kernels_avx512() { return &kAttentionKernels; }

}  // namespace sd::cpu::attention_detail
