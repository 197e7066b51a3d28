// Flash attention, AVX2+FMA path. The scores of a block are kept transposed, sT[key][query], so
// that the online softmax runs down the columns eight queries to a register: the running max,
// the sums and the rescale factors are vectors, and the exps of a whole block are independent of
// each other (row-wise, each row's max and sum were horizontal reductions and its exps one short
// dependent chain: a third of the time went there). q.k^T and p.v are 6x16 register tiles
// (12 accumulators) fed by broadcasts. Bf16 precision is emulated (q, k, v and the
// probabilities rounded to bf16, f32 accumulation).
// Compile with: -mavx2 -mfma -mf16c
// Everything except the accessor lives in an anonymous namespace (see attention_kernels.h).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "attention_kernels.h"

namespace sd::cpu::attention_detail {
namespace {

#define SD_ATTN_GENERIC_HELPERS_ONLY
#include "attention_generic.h"  // round_row_bf16

#include "vec_acc.h"

// The f32 vector ops of attention_rows.h on ymm registers (8 lanes).
struct YmmAcc : VecAcc<Vec8f> {
  static A set1(float x) { return _mm256_set1_ps(x); }
  static A fmadd(A a, A b, A c) { return _mm256_fmadd_ps(a, b, c); }
  static A fnmadd(A a, A b, A c) { return _mm256_fnmadd_ps(a, b, c); }
};
using YmmF32 = F32Dot<YmmAcc>;

#include "attention_rows.h"        // exp_reduced_short
#include "attention_tile_loops.h"  // for_row_tiles, with_col_tile

// Same reduction and polynomial as exp_poly in attention_generic.h (and exp512), in the short
// evaluation order, 8 lanes at a time, for x <= 0 (scores minus their running max): only the
// lower clamp is needed.
inline __m256 exp256(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 y = exp_reduced_short<YmmF32>(x, n);
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

// acc[r][c] += sum_{x<n} a[r*ars + x*axs] . m[x*ldm + 8c]: R broadcast rows against NV vectors.
template <int R, int NV>
inline __attribute__((always_inline)) void tile_fma(__m256 (&acc)[R][NV], const float* a, int64_t ars,
                                                    int64_t axs, const float* m, int64_t ldm, int n) {
  for (int x = 0; x < n; ++x) {
    __m256 mv[NV];
#pragma GCC unroll 8
    for (int c = 0; c < NV; ++c) mv[c] = _mm256_loadu_ps(m + x * ldm + 8 * c);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 ab = _mm256_broadcast_ss(a + r * ars + x * axs);
#pragma GCC unroll 8
      for (int c = 0; c < NV; ++c) acc[r][c] = _mm256_fmadd_ps(ab, mv[c], acc[r][c]);
    }
  }
}

// f(RowTile<R>, ColTile<NV>, r0, c0) over rows [0, rows) in tiles of up to 6 and columns
// [0, cols) (a multiple of 8) in tiles of up to 16: the 12 accumulators fit the 16 registers.
template <class F>
void for_tiles_6x16(int rows, int cols, F&& f) {
  for (int c0 = 0; c0 < cols; c0 += 16) {
    auto columns = [&](auto ct) { for_row_tiles<6>(rows, [&](auto tile, int r0) { f(tile, ct, r0, c0); }); };
    with_col_tile<2>(cols - c0 >= 16 ? 2 : (cols - c0) / 8, columns);
  }
}

// sT[j][0 : q_cols) = scale * sum_x kt[x][j] . qT[x][...] for keys j < bk (kt [dp][kBlockK]
// packed, qT [dp][kBlockQ]): keys broadcast, queries in registers.
void scores_t(const float* kt, const float* qT, float* sT, int bk, int q_cols, int d, float scale) {
  const __m256 sv = _mm256_set1_ps(scale);
  for_tiles_6x16(bk, q_cols, [&](auto tile, auto ct, int j0, int c0) {
    constexpr int R = decltype(tile)::rows, NV = decltype(ct)::vectors;
    __m256 acc[R][NV];
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < NV; ++c) acc[r][c] = _mm256_setzero_ps();
    tile_fma<R, NV>(acc, kt + j0, 1, kBlockK, qT + c0, kBlockQ, d);
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < NV; ++c) _mm256_store_ps(sT + (j0 + r) * kBlockQ + c0 + 8 * c, _mm256_mul_ps(acc[r][c], sv));
  });
}

// o[r][0 : cols) = o[r] * alpha[r] + sum_{j<bk} pT[j][r] . v[j][...] for queries r < nq.
void values(const float* pT, const float* vb, int64_t dvp, float* o, const float* alpha, int nq, int bk,
            int cols) {
  for_tiles_6x16(nq, cols, [&](auto tile, auto ct, int r0, int c0) {
    constexpr int R = decltype(tile)::rows, NV = decltype(ct)::vectors;
    __m256 acc[R][NV];
    for (int r = 0; r < R; ++r) {
      const __m256 a = _mm256_set1_ps(alpha[r0 + r]);
      for (int c = 0; c < NV; ++c) acc[r][c] = _mm256_mul_ps(a, _mm256_load_ps(o + (r0 + r) * dvp + c0 + 8 * c));
    }
    tile_fma<R, NV>(acc, pT + r0, 1, kBlockQ, vb + c0, dvp, bk);
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < NV; ++c) _mm256_store_ps(o + (r0 + r) * dvp + c0 + 8 * c, acc[r][c]);
  });
}

// The online softmax of one key block over eight queries (columns q0 .. q0+7 of sT): running
// max m, sum l, and the factor alpha that rescales what the earlier blocks put in o. A causal
// block hides key k0 + j from query qi when k0 + j > qi; a hidden score weighs exactly zero.
void softmax_columns(float* sT, int bk, int col, float* m, float* l, float* alpha, bool causal,
                     int64_t key0, int64_t query0, bool bf16) {
  const __m256 neg_inf = _mm256_set1_ps(-__builtin_inff());
  const __m256i query = _mm256_add_epi32(_mm256_set1_epi32(int(query0 + col)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  auto hidden = [&](int j) {  // lanes whose query comes before key j
    return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(int(key0 + j)), query));
  };
  __m256 mx0 = neg_inf, mx1 = neg_inf;
  int j = 0;
  for (; j + 2 <= bk; j += 2) {
    __m256 s0 = _mm256_load_ps(sT + j * kBlockQ + col), s1 = _mm256_load_ps(sT + (j + 1) * kBlockQ + col);
    if (causal) s0 = _mm256_blendv_ps(s0, neg_inf, hidden(j)), s1 = _mm256_blendv_ps(s1, neg_inf, hidden(j + 1));
    mx0 = _mm256_max_ps(mx0, s0), mx1 = _mm256_max_ps(mx1, s1);
  }
  if (j < bk) {
    __m256 s0 = _mm256_load_ps(sT + j * kBlockQ + col);
    if (causal) s0 = _mm256_blendv_ps(s0, neg_inf, hidden(j));
    mx0 = _mm256_max_ps(mx0, s0);
  }
  const __m256 m_old = _mm256_load_ps(m + col);
  const __m256 m_new = _mm256_max_ps(m_old, _mm256_max_ps(mx0, mx1));
  // a query with no visible key yet keeps max -inf: its exps must come out 0, not NaN
  const __m256 m_safe = _mm256_blendv_ps(m_new, _mm256_setzero_ps(), _mm256_cmp_ps(m_new, neg_inf, _CMP_EQ_OQ));
  const __m256 a = exp256(_mm256_sub_ps(m_old, m_safe));  // m_old = -inf: ~1e-38 times an o and l of 0
  __m256 sum0 = _mm256_setzero_ps(), sum1 = _mm256_setzero_ps();
  auto one = [&](int jj, __m256& sum) {
    __m256 p = exp256(_mm256_sub_ps(_mm256_load_ps(sT + jj * kBlockQ + col), m_safe));
    if (causal) p = _mm256_andnot_ps(hidden(jj), p);
    sum = _mm256_add_ps(sum, p);
    _mm256_store_ps(sT + jj * kBlockQ + col, p);
  };
  for (j = 0; j + 2 <= bk; j += 2) one(j, sum0), one(j + 1, sum1);
  if (j < bk) one(j, sum0);
  _mm256_store_ps(l + col, _mm256_fmadd_ps(_mm256_load_ps(l + col), a, _mm256_add_ps(sum0, sum1)));
  _mm256_store_ps(m + col, m_new);
  _mm256_store_ps(alpha + col, a);
  if (bf16)
    for (j = 0; j < bk; ++j) round_row_bf16(sT + j * kBlockQ + col, 8);
}

void attention_block(const AttnBlock& t) {
  const int64_t dp = attention_round16(t.d), dvp = attention_round16(t.dv);
  const int d = int(t.d), dv = int(t.dv), nq = int(t.nq);
  const int q_cols = (nq + 7) / 8 * 8, v_cols = (dv + 7) / 8 * 8;
  float* qT = t.scratch;              // [dp][kBlockQ] queries, transposed
  float* o = qT + kBlockQ * dp;       // [kBlockQ][dvp] running output
  float* sT = o + kBlockQ * dvp;      // [kBlockK][kBlockQ] scores, then probabilities
  float* m = sT + kBlockQ * kBlockK;  // running max per query
  float* l = m + kBlockQ;             // running sum per query
  float* alpha = l + kBlockQ;         // rescale of o for this key block

  alignas(32) float row[1024];
  for (int r = 0; r < q_cols; ++r) {
    for (int x0 = 0; x0 < d; x0 += 1024) {
      const int n = d - x0 < 1024 ? d - x0 : 1024;
      if (r < nq) {
        std::memcpy(row, t.q + (t.q0 + r) * t.q_t_stride + x0, sizeof(float) * size_t(n));
        if (t.bf16) round_row_bf16(row, n);
      } else {
        std::memset(row, 0, sizeof(float) * size_t(n));
      }
      for (int x = 0; x < n; ++x) qT[(x0 + x) * kBlockQ + r] = row[x];
    }
    std::memset(o + r * dvp, 0, sizeof(float) * size_t(dvp));
    m[r] = -__builtin_inff();
    l[r] = 0.0f;
  }
  const int64_t k_end = t.causal ? (t.q0 + nq < t.tk ? t.q0 + nq : t.tk) : t.tk;
  for (int64_t k0 = 0; k0 < k_end; k0 += kBlockK) {
    const int bk = int(k_end - k0 < kBlockK ? k_end - k0 : kBlockK);
    const int64_t blk = k0 / kBlockK;
    scores_t(t.kt + blk * dp * kBlockK, qT, sT, bk, q_cols, d, t.scale);
    for (int col = 0; col < q_cols; col += 8)
      softmax_columns(sT, bk, col, m, l, alpha, t.causal, k0, t.q0, t.bf16);
    values(sT, t.vb + blk * kBlockK * dvp, dvp, o, alpha, nq, bk, v_cols);
  }
  for (int r = 0; r < nq; ++r) {
    const float inv = 1.0f / l[r];
    float* out = t.out + (t.q0 + r) * t.o_t_stride;
    for (int x = 0; x < dv; ++x) out[x] = o[r * dvp + x] * inv;
  }
}

#define SD_ATTN_OWN_BLOCK
#include "attention_impl.h"  // attention_pack, kAttentionKernels

}  // namespace

const AttentionKernels* attention_kernels_avx2() { return &kAttentionKernels; }

}  // namespace sd::cpu::attention_detail
