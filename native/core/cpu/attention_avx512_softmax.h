// Private to the AVX-512 attention TUs: the online-softmax step of attention_impl.h
// (softmax_block) sixteen query rows at a time. Row by row, each row's max and sum were a
// horizontal reduction and its rescale a libm expf, a chain of latencies per 64 scores that
// took as long as the exps; here the sixteen rows' maxima and sums are reduced together into
// one vector (a transpose tree), and the running max, sum and rescale are vector operations.
// Numerics: the maxima are the same; the rescale takes exp512 (the probabilities' exp, ~1e-7
// relative) instead of expf, and each row's sum adds in a fixed tree order instead of
// _mm512_reduce_add_ps's: equally accurate, and still independent of threads and tiling.
// Included INSIDE the TU's anonymous namespace after attention_avx512_math.h; the TU defines
// before it
//   void store_probabilities(float* s, int r, const __m512 (&p)[kRowVectors], bool bf16);
// which puts row r's probabilities (p[c] = keys 16c .. 16c+15) where its pv_block reads them.
// Every row's store may overwrite the scores of rows up to r (they are read by then).

#define SD_ATTN_OWN_SOFTMAX

// Lane 4k + j of the tree's result holds row k + 4j: this index puts row i in lane i.
inline __m512i tree_row_order() {
  return _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
}

// Lane i of the result = op over the 16 lanes of v[i]: halves of pairs, then quarters of pairs
// of those, and so on, each level one op over two shuffles. Max is exact in any order; the sum
// is a fixed tree, so the same scores give the same bytes.
template <class Op>
inline __m512 reduce16(__m512 (&v)[16], Op op) {
  __m512 h[8], q[4], e[2];
  for (int i = 0; i < 8; ++i)
    h[i] = op(_mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0x44), _mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0xee));
  for (int i = 0; i < 4; ++i)
    q[i] = op(_mm512_shuffle_f32x4(h[2 * i], h[2 * i + 1], 0x88), _mm512_shuffle_f32x4(h[2 * i], h[2 * i + 1], 0xdd));
  for (int i = 0; i < 2; ++i)
    e[i] = op(_mm512_shuffle_ps(q[2 * i], q[2 * i + 1], 0x44), _mm512_shuffle_ps(q[2 * i], q[2 * i + 1], 0xee));
  const __m512 t = op(_mm512_shuffle_ps(e[0], e[1], 0x88), _mm512_shuffle_ps(e[0], e[1], 0xdd));
  return _mm512_permutexvar_ps(tree_row_order(), t);
}

// Scores of keys 16c .. 16c+15 that row v sees; all of them (no mask work) when kFull.
template <bool kFull>
inline __m512 visible_scores(const float* sr, int c, int v, __mmask16& k) {
  if (kFull) return _mm512_loadu_ps(sr + 16 * c);
  k = lanes_below(v - 16 * c);
  return _mm512_maskz_loadu_ps(k, sr + 16 * c);
}

// Rows r0 .. r0+15 (those past n and keys past valid[r] masked off: nothing read, stored or
// summed). kFull: n == 16 and every key visible, the usual case, without masks.
template <bool kFull>
void softmax_rows16(float* s, int r0, int n, const int* valid, float* m, float* l, float* alpha, bool bf16) {
  const __m512 neg_inf = _mm512_set1_ps(-__builtin_inff());
  auto valid_of = [&](int i) { return i < n ? valid[r0 + i] : 0; };
  __m512 part[16];
  for (int i = 0; i < 16; ++i) {
    const float* sr = s + (r0 + i) * kBlockK;
    __m512 mx = neg_inf;
#pragma GCC unroll 4
    for (int c = 0; c < kRowVectors; ++c) {
      __mmask16 k = 0xffff;
      const __m512 x = visible_scores<kFull>(sr, c, valid_of(i), k);
      mx = _mm512_mask_max_ps(mx, k, mx, x);
    }
    part[i] = mx;
  }
  const __mmask16 live = lanes_below(n);
  const __m512 m_old = _mm512_mask_loadu_ps(neg_inf, live, m + r0);
  const __m512 m_new = _mm512_max_ps(m_old, reduce16(part, [](__m512 a, __m512 b) { return _mm512_max_ps(a, b); }));
  // a row's first visible block has nothing earlier to rescale (and -inf - -inf is NaN)
  const __mmask16 first = _mm512_cmp_ps_mask(m_old, neg_inf, _CMP_EQ_OQ);
  const __m512 a = _mm512_maskz_mov_ps(__mmask16(~first), exp512(_mm512_sub_ps(m_old, m_new)));
  for (int i = 0; i < 16; ++i) {
    const float* sr = s + (r0 + i) * kBlockK;
    const __m512 mi = _mm512_permutexvar_ps(_mm512_set1_epi32(i), m_new);
    __m512 p[kRowVectors];
    __m512 sum = _mm512_setzero_ps();
#pragma GCC unroll 4
    for (int c = 0; c < kRowVectors; ++c) {
      __mmask16 k = 0xffff;
      const __m512 x = visible_scores<kFull>(sr, c, valid_of(i), k);
      p[c] = _mm512_maskz_mov_ps(k, exp512(_mm512_sub_ps(x, mi)));
      sum = _mm512_add_ps(sum, p[c]);
    }
    part[i] = sum;
    if (i < n) store_probabilities(s, r0 + i, p, bf16);
  }
  const __m512 l_old = _mm512_maskz_loadu_ps(live, l + r0);
  const __m512 sums = reduce16(part, [](__m512 x, __m512 y) { return _mm512_add_ps(x, y); });
  _mm512_mask_storeu_ps(l + r0, live, _mm512_fmadd_ps(l_old, a, sums));
  _mm512_mask_storeu_ps(m + r0, live, m_new);
  _mm512_mask_storeu_ps(alpha + r0, live, a);
}

void softmax_block(float* s, int rows, const int* valid, float* m, float* l, float* alpha, bool bf16) {
  for (int r0 = 0; r0 < rows; r0 += 16) {
    const int n = rows - r0 < 16 ? rows - r0 : 16;
    bool full = n == 16;
    for (int i = 0; i < n; ++i) full = full && valid[r0 + i] == kBlockK;
    if (full) softmax_rows16<true>(s, r0, n, valid, m, l, alpha, bf16);
    else softmax_rows16<false>(s, r0, n, valid, m, l, alpha, bf16);
  }
}
