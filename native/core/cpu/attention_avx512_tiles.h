// Private to the AVX-512 attention TUs: the register-tiled q.k^T (6 queries x 64 keys, 24 zmm
// accumulators) and p.v (6 queries x 64 output columns, or 4 x 80 when the padded width is a
// multiple of 80), written once over a dot-ops type D (avx512_dot_ops.h): f32 FMAs in
// attention_avx512.cpp, bf16 pair dot products in attention_avx512bf16.cpp. Rows are D::E
// elements: queries [rows][ldq], keys [n][kBlockK], probabilities [rows][kBlockK / kPer],
// values [n][ldv], where n counts elements along d (q.k^T) or along keys (p.v). Included
// INSIDE the TU's anonymous namespace after avx512_dot_ops.h.

constexpr int kRows = 6;

#include "attention_rows.h"  // s_rows, pv_rows

template <class D>
void s_block_zmm(const typename D::E* q, int64_t ldq, const typename D::E* kt, float* s, int rows,
                 int n, float scale_f) {
  const __m512 scale = _mm512_set1_ps(scale_f);
  int r = 0;
  for (; r + kRows <= rows; r += kRows) s_rows<D, kRows, 4>(q + r * ldq, ldq, kt, s + r * kBlockK, n, scale);
  const typename D::E* qr = q + r * ldq;
  float* sr = s + r * kBlockK;
  switch (rows - r) {
    case 1: s_rows<D, 1, 4>(qr, ldq, kt, sr, n, scale); break;
    case 2: s_rows<D, 2, 4>(qr, ldq, kt, sr, n, scale); break;
    case 3: s_rows<D, 3, 4>(qr, ldq, kt, sr, n, scale); break;
    case 4: s_rows<D, 4, 4>(qr, ldq, kt, sr, n, scale); break;
    case 5: s_rows<D, 5, 4>(qr, ldq, kt, sr, n, scale); break;
    default: break;
  }
}

template <class D, int R>
void pv_rows_any(const typename D::E* p, const typename D::E* v, int64_t ldv, float* o,
                 int64_t ldo, const float* alpha, int n, int nv) {
  switch (nv) {
    case 1: pv_rows<D, R, 1>(p, v, ldv, o, ldo, alpha, n); break;
    case 2: pv_rows<D, R, 2>(p, v, ldv, o, ldo, alpha, n); break;
    case 3: pv_rows<D, R, 3>(p, v, ldv, o, ldo, alpha, n); break;
    case 4: pv_rows<D, R, 4>(p, v, ldv, o, ldo, alpha, n); break;
    // nv == 5 only with rows_per == 4 (R <= 4); the clamp just keeps other R instantiable.
    default: pv_rows<D, R < 4 ? R : 4, 5>(p, v, ldv, o, ldo, alpha, n); break;
  }
}

// Output columns in chunks of up to 4 vectors with 6 rows (24 accumulators), except widths of
// 5 and 10 vectors (d = 80, 160) which go as chunks of 5 with 4 rows (20 accumulators).
template <class D>
void pv_block_zmm(const typename D::E* p, const typename D::E* v, int64_t ldv, float* o,
                  int64_t ldo, const float* alpha, int rows, int n, int dv) {
  const int dvp = (dv + 15) / 16 * 16;
  const int chunk = dvp % 80 == 0 ? 5 : 4;  // vectors per column chunk
  const int rows_per = chunk == 5 ? 4 : kRows;
  for (int c0 = 0; c0 < dvp; c0 += chunk * 16) {
    const int nv = (dvp - c0) / 16 < chunk ? (dvp - c0) / 16 : chunk;
    for (int r = 0; r < rows; r += rows_per) {
      const typename D::E* pr = p + r * (kBlockK / D::kPer);
      float* orow = o + r * ldo + c0;
      const typename D::E* vc = v + c0;
      switch (rows - r < rows_per ? rows - r : rows_per) {
        case 1: pv_rows_any<D, 1>(pr, vc, ldv, orow, ldo, alpha + r, n, nv); break;
        case 2: pv_rows_any<D, 2>(pr, vc, ldv, orow, ldo, alpha + r, n, nv); break;
        case 3: pv_rows_any<D, 3>(pr, vc, ldv, orow, ldo, alpha + r, n, nv); break;
        case 4: pv_rows_any<D, 4>(pr, vc, ldv, orow, ldo, alpha + r, n, nv); break;
        case 5: pv_rows_any<D, 5>(pr, vc, ldv, orow, ldo, alpha + r, n, nv); break;
        default: pv_rows_any<D, 6>(pr, vc, ldv, orow, ldo, alpha + r, n, nv); break;
      }
    }
  }
}
