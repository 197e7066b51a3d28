// Private to the AVX-512 gemm and attention TUs: f32 to bf16 rounding on the bits, vector-wide,
// shared by both so that they round alike (as f32_to_bf16_word in dtype_bits.h). Included
// INSIDE a TU's anonymous namespace, after <immintrin.h>; needs -mavx512f.
#pragma once

// Round-to-nearest-even to bf16 (NaN kept quiet), result as f32 bits in the high half.
inline __m512i round_bf16_bits(__m512 x) {
  const __m512i b = _mm512_castps_si512(x);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
  __m512i r = _mm512_add_epi32(b, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
  const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  r = _mm512_mask_or_epi32(r, nan, b, _mm512_set1_epi32(0x400000));
  return _mm512_and_si512(r, _mm512_set1_epi32(int(0xffff0000u)));
}

// A row rounded in place (values stay f32 with the low half zero).
inline void round_row_bf16(float* x, int n) {
  for (int i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(x + i, k, _mm512_castsi512_ps(round_bf16_bits(_mm512_maskz_loadu_ps(k, x + i))));
  }
}
