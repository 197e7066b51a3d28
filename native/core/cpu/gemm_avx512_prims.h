// Private to the AVX-512 gemm/attention TUs: vector row primitives (f16/bf16 -> f32 widening,
// round-to-nearest-even to bf16, pair interleaving). Included INSIDE a TU's anonymous namespace;
// the TU is compiled with at least -mavx512f -mavx512bw -mavx512vl -mf16c and includes
// <immintrin.h>, <cstdint>, <cstring> and gemm_scalar_prims.h before this file.

inline __mmask16 tail_mask(int n) { return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1); }

inline __m512 load16(const void* src, DType dt, int n) {
  const __mmask16 m = tail_mask(n);
  switch (dt) {
    case DType::F16:
      return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, src));
    case DType::BF16:
      return _mm512_castsi512_ps(
          _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, src)), 16));
    default:
      return _mm512_maskz_loadu_ps(m, src);
  }
}

void cvt_row(const void* src, DType dt, int n, float* dst) {
  const char* s = static_cast<const char*>(src);
  const size_t es = dtype_size_local(dt);
  for (int i = 0; i < n; i += 16) {
    _mm512_mask_storeu_ps(dst + i, tail_mask(n - i), load16(s + i * es, dt, n - i));
  }
}

#include "avx512_round_bf16.h"  // round_bf16_bits, round_row_bf16

// One 16-wide row segment of a C tile: (C +) acc + bias_n + bias_m, masked to the valid columns.
inline void store_tile_row(float* c, __m512 v, __mmask16 m, int flags, const float* bias_n,
                           float bm) {
  if (flags & kLoadC) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, c));
  if (bias_n) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias_n));
  v = _mm512_add_ps(v, _mm512_set1_ps(bm));
  _mm512_mask_storeu_ps(c, m, v);
}

