// Private to the AVX-512 attention TUs: vector exp, row max and bf16 rounding used by
// attention_impl.h. Included INSIDE the TU's anonymous namespace (internal linkage).

// exp(x) for x <= 0 (inputs below -87 give ~1e-38 rather than 0): x = n ln2 + r, e^r by
// exp_reduced (attention_rows.h), then scale by 2^n.
inline __m512 exp512(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 y = exp_reduced<ZmmAcc>(x, n);
  return _mm512_scalef_ps(y, n);
}

float exp_sub_row(float* s, int n, float m) {
  const __m512 mv = _mm512_set1_ps(m);
  __m512 sum = _mm512_setzero_ps();
  for (int j = 0; j < n; j += 16) {
    const __mmask16 k = n - j >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - j)) - 1);
    const __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + j), mv));
    _mm512_mask_storeu_ps(s + j, k, e);
    sum = _mm512_mask_add_ps(sum, k, sum, e);
  }
  return _mm512_reduce_add_ps(sum);
}

void round_row_bf16(float* x, int n) {
  for (int i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(k, x + i);
    const __m512i b = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(b, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    r = _mm512_mask_or_epi32(r, nan, b, _mm512_set1_epi32(0x400000));
    r = _mm512_and_si512(r, _mm512_set1_epi32(int(0xffff0000u)));
    _mm512_mask_storeu_ps(x + i, k, _mm512_castsi512_ps(r));
  }
}

float row_max(const float* x, int n) {
  __m512 mx = _mm512_set1_ps(x[0]);
  for (int j = 0; j < n; j += 16) {
    const __mmask16 k = n - j >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - j)) - 1);
    mx = _mm512_mask_max_ps(mx, k, mx, _mm512_maskz_loadu_ps(k, x + j));
  }
  return _mm512_reduce_max_ps(mx);
}

