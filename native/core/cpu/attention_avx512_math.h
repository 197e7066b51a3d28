// Private to the AVX-512 attention TUs: vector exp and bf16 rounding for attention_impl.h and
// attention_avx512_softmax.h. Included INSIDE the TU's anonymous namespace (internal linkage).

// exp(x) for x <= 0 (inputs below -87 give ~1e-38 rather than 0): x = n ln2 + r, e^r by
// exp_reduced (attention_rows.h), then scale by 2^n.
inline __m512 exp512(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 y = exp_reduced<ZmmAcc>(x, n);
  return _mm512_scalef_ps(y, n);
}

constexpr int kRowVectors = kBlockK / 16;  // zmm registers per row of scores

inline __mmask16 lanes_below(int n) {  // the first n of 16 lanes, n clamped to 0 .. 16
  return n >= 16 ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

#include "avx512_round_bf16.h"  // round_bf16_bits, round_row_bf16
