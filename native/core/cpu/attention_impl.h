// Private to the attention ISA TUs: the flash-attention block written once, included INSIDE a
// TU's anonymous namespace (internal linkage, that TU's flags). The TU defines first:
//   void s_block(const float* q, int64_t ldq, const float* kt, float* s, int rows, int d,
//                float scale);
//       s[r*kBlockK + j] = scale * sum_x q[r*ldq + x] * kt[x*kBlockK + j], all kBlockK columns
//   void q_finalize(float* q, int rows, int64_t ldq, int d);  // after loading (and rounding)
// and, when it defines SD_ATTN_OWN_PACK, its own attention_pack (other packed layouts).
//   void pv_block(const float* p, const float* v, int64_t ldv, float* o, int64_t ldo,
//                 const float* alpha, int rows, int bk, int dv);
//       o[r] = o[r] * alpha[r] + sum_{j<bk} p[r*kBlockK + j] * v[j*ldv + :dv]
//   float exp_sub_row(float* s, int n, float m);  // s[j] = exp(s[j] - m), returns the sum
//   void round_row_bf16(float* x, int n);
//   float row_max(const float* x, int n);           // n >= 1
// A TU that defines SD_ATTN_OWN_SOFTMAX gives instead of exp_sub_row and row_max
//   void softmax_block(float* s, int rows, const int* valid, float* m, float* l, float* alpha,
//                      bool bf16);
//       as the one below: the online-softmax step of a block of scores, its probabilities in
//       the layout its pv_block reads.
// A TU that defines SD_ATTN_OWN_BLOCK (its own attention_block, another score layout) needs
// none of the above but round_row_bf16.
// Needs <cstdint>, <cstring> at file scope and attention_kernels.h.

inline float neg_inf() { return -__builtin_inff(); }

#ifndef SD_ATTN_OWN_PACK
void attention_pack(const AttnPackJob& t) {
  const int64_t dvp = attention_round16(t.dv);
  const int d = int(t.d), dv = int(t.dv);
  const int bk = int(t.tk - t.k0 < kBlockK ? t.tk - t.k0 : kBlockK);
  alignas(64) float row[1024];
  for (int j = 0; j < kBlockK; ++j) {
    if (j < bk) {
      const float* kr = t.k + (t.k0 + j) * t.k_t_stride;
      for (int x0 = 0; x0 < d; x0 += 1024) {
        const int n = d - x0 < 1024 ? d - x0 : 1024;
        std::memcpy(row, kr + x0, sizeof(float) * size_t(n));
        if (t.bf16) round_row_bf16(row, n);
        for (int x = 0; x < n; ++x) t.kt[(x0 + x) * kBlockK + j] = row[x];
      }
      float* vr = t.vb + j * dvp;
      std::memcpy(vr, t.v + (t.k0 + j) * t.v_t_stride, sizeof(float) * size_t(dv));
      if (t.bf16) round_row_bf16(vr, dv);
      for (int64_t x = dv; x < dvp; ++x) vr[x] = 0.0f;
    } else {  // zero keys keep the scores of padded columns finite; zero values add nothing
      for (int x = 0; x < d; ++x) t.kt[x * kBlockK + j] = 0.0f;
      for (int64_t x = 0; x < dvp; ++x) t.vb[j * dvp + x] = 0.0f;
    }
  }
}

#endif  // SD_ATTN_OWN_PACK

#ifndef SD_ATTN_OWN_BLOCK
#ifndef SD_ATTN_OWN_SOFTMAX
// Row r's first valid[r] scores become probabilities (zero past them; bf16-rounded when bf16);
// m, l: running max and sum, alpha: the factor this block applies to the earlier output.
void softmax_block(float* s, int rows, const int* valid, float* m, float* l, float* alpha, bool bf16) {
  for (int r = 0; r < rows; ++r) {
    float* sr = s + r * kBlockK;
    if (valid[r] == 0) {
      alpha[r] = 1.0f;
      for (int j = 0; j < kBlockK; ++j) sr[j] = 0.0f;
      continue;
    }
    const float mx = row_max(sr, valid[r]);
    const float m_new = mx > m[r] ? mx : m[r];
    alpha[r] = m[r] == neg_inf() ? 0.0f : __builtin_expf(m[r] - m_new);
    const float sum = exp_sub_row(sr, valid[r], m_new);
    for (int j = valid[r]; j < kBlockK; ++j) sr[j] = 0.0f;
    if (bf16) round_row_bf16(sr, valid[r]);
    l[r] = l[r] * alpha[r] + sum;
    m[r] = m_new;
  }
}
#endif  // SD_ATTN_OWN_SOFTMAX

void attention_block(const AttnBlock& t) {
  const int64_t dp = attention_round16(t.d), dvp = attention_round16(t.dv);
  const int d = int(t.d), dv = int(t.dv), nq = int(t.nq);
  float* q = t.scratch;             // [kBlockQ][dp] queries (bf16-rounded when bf16)
  float* o = q + kBlockQ * dp;      // [kBlockQ][dvp] running output
  float* s = o + kBlockQ * dvp;     // [kBlockQ][kBlockK] scores, then probabilities
  float* m = s + kBlockQ * kBlockK; // running max per query
  float* l = m + kBlockQ;           // running sum per query
  float* alpha = l + kBlockQ;       // rescale of o for this key block

  for (int r = 0; r < nq; ++r) {
    float* qr = q + r * dp;
    std::memcpy(qr, t.q + (t.q0 + r) * t.q_t_stride, sizeof(float) * size_t(d));
    if (t.bf16) round_row_bf16(qr, d);
    for (int64_t x = d; x < dp; ++x) qr[x] = 0.0f;
    for (int64_t x = 0; x < dvp; ++x) o[r * dvp + x] = 0.0f;
    m[r] = neg_inf();
    l[r] = 0.0f;
  }
  q_finalize(q, nq, dp, d);
  const int64_t k_end = t.causal ? (t.q0 + nq < t.tk ? t.q0 + nq : t.tk) : t.tk;
  for (int64_t k0 = 0; k0 < k_end; k0 += kBlockK) {
    const int bk = int(k_end - k0 < kBlockK ? k_end - k0 : kBlockK);
    const int64_t blk = k0 / kBlockK;
    const float* kt = t.kt + blk * dp * kBlockK;
    const float* vb = t.vb + blk * kBlockK * dvp;
    s_block(q, dp, kt, s, nq, d, t.scale);
    int valid[kBlockQ];
    for (int r = 0; r < nq; ++r) {
      valid[r] = bk;
      if (t.causal) {
        const int64_t lim = t.q0 + r - k0 + 1;  // keys k0 .. q0+r are visible
        valid[r] = int(lim < bk ? (lim < 0 ? 0 : lim) : bk);
      }
    }
    softmax_block(s, nq, valid, m, l, alpha, t.bf16);
    pv_block(s, vb, dvp, o, dvp, alpha, nq, bk, dv);
  }
  for (int r = 0; r < nq; ++r) {
    const float inv = 1.0f / l[r];
    float* out = t.out + (t.q0 + r) * t.o_t_stride;
    for (int x = 0; x < dv; ++x) out[x] = o[r * dvp + x] * inv;
  }
}

#endif  // SD_ATTN_OWN_BLOCK

const AttentionKernels kAttentionKernels = {attention_pack, attention_block};
