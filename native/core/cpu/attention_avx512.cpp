// Flash attention, AVX-512 path: register-tiled q.k^T (6 queries x 64 keys, 24 zmm
// accumulators) and p.v (6 queries x 64 output columns), vectorised exp. Bf16 precision is
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

constexpr int kRows = 6;

template <int R>
void s_rows(const float* q, int64_t ldq, const float* kt, float* s, int d, __m512 scale) {
  __m512 acc[R][4];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < 4; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int x = 0; x < d; ++x) {
    const float* kr = kt + x * kBlockK;
    const __m512 k0 = _mm512_load_ps(kr), k1 = _mm512_load_ps(kr + 16),
                 k2 = _mm512_load_ps(kr + 32), k3 = _mm512_load_ps(kr + 48);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 qb = _mm512_set1_ps(q[r * ldq + x]);
      acc[r][0] = _mm512_fmadd_ps(qb, k0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(qb, k1, acc[r][1]);
      acc[r][2] = _mm512_fmadd_ps(qb, k2, acc[r][2]);
      acc[r][3] = _mm512_fmadd_ps(qb, k3, acc[r][3]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < 4; ++v) _mm512_store_ps(s + r * kBlockK + v * 16, _mm512_mul_ps(acc[r][v], scale));
}

void q_finalize(float*, int, int64_t, int) {}

void s_block(const float* q, int64_t ldq, const float* kt, float* s, int rows, int d, float scale_f) {
  const __m512 scale = _mm512_set1_ps(scale_f);
  int r = 0;
  for (; r + kRows <= rows; r += kRows) s_rows<kRows>(q + r * ldq, ldq, kt, s + r * kBlockK, d, scale);
  const float* qr = q + r * ldq;
  float* sr = s + r * kBlockK;
  switch (rows - r) {
    case 1: s_rows<1>(qr, ldq, kt, sr, d, scale); break;
    case 2: s_rows<2>(qr, ldq, kt, sr, d, scale); break;
    case 3: s_rows<3>(qr, ldq, kt, sr, d, scale); break;
    case 4: s_rows<4>(qr, ldq, kt, sr, d, scale); break;
    case 5: s_rows<5>(qr, ldq, kt, sr, d, scale); break;
    default: break;
  }
}

// o[r][c0 : c0 + 16*NV] = o * alpha[r] + sum_j p[r][j] * v[j][c0 : ...]; columns padded to 16.
template <int R, int NV>
void pv_rows(const float* p, const float* v, int64_t ldv, float* o, int64_t ldo,
             const float* alpha, int bk) {
  __m512 acc[R][NV];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const __m512 a = _mm512_set1_ps(alpha[r]);
#pragma GCC unroll 8
    for (int c = 0; c < NV; ++c) acc[r][c] = _mm512_mul_ps(a, _mm512_load_ps(o + r * ldo + c * 16));
  }
  for (int j = 0; j < bk; ++j) {
    __m512 vv[NV];
#pragma GCC unroll 8
    for (int c = 0; c < NV; ++c) vv[c] = _mm512_load_ps(v + j * ldv + c * 16);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 pb = _mm512_set1_ps(p[r * kBlockK + j]);
#pragma GCC unroll 8
      for (int c = 0; c < NV; ++c) acc[r][c] = _mm512_fmadd_ps(pb, vv[c], acc[r][c]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < NV; ++c) _mm512_store_ps(o + r * ldo + c * 16, acc[r][c]);
}

template <int R>
void pv_rows_any(const float* p, const float* v, int64_t ldv, float* o, int64_t ldo,
                 const float* alpha, int bk, int nv) {
  switch (nv) {
    case 1: pv_rows<R, 1>(p, v, ldv, o, ldo, alpha, bk); break;
    case 2: pv_rows<R, 2>(p, v, ldv, o, ldo, alpha, bk); break;
    case 3: pv_rows<R, 3>(p, v, ldv, o, ldo, alpha, bk); break;
    default: pv_rows<R, 4>(p, v, ldv, o, ldo, alpha, bk); break;
  }
}

// Output columns in chunks of up to 4 vectors with 6 rows (24 accumulators), except widths of
// 5 and 10 vectors (d = 80, 160) which go as chunks of 5 with 4 rows (20 accumulators).
template <int R>
void pv_rows5(const float* p, const float* v, int64_t ldv, float* o, int64_t ldo,
              const float* alpha, int bk) {
  pv_rows<R, 5>(p, v, ldv, o, ldo, alpha, bk);
}

void pv_block(const float* p, const float* v, int64_t ldv, float* o, int64_t ldo,
              const float* alpha, int rows, int bk, int dv) {
  const int dvp = (dv + 15) / 16 * 16;
  if (dvp % 80 == 0) {
    for (int c0 = 0; c0 < dvp; c0 += 80) {
      for (int r = 0; r < rows; r += 4) {
        const float* pr = p + r * kBlockK;
        float* orow = o + r * ldo + c0;
        switch (rows - r < 4 ? rows - r : 4) {
          case 1: pv_rows5<1>(pr, v + c0, ldv, orow, ldo, alpha + r, bk); break;
          case 2: pv_rows5<2>(pr, v + c0, ldv, orow, ldo, alpha + r, bk); break;
          case 3: pv_rows5<3>(pr, v + c0, ldv, orow, ldo, alpha + r, bk); break;
          default: pv_rows5<4>(pr, v + c0, ldv, orow, ldo, alpha + r, bk); break;
        }
      }
    }
    return;
  }
  for (int c0 = 0; c0 < dvp; c0 += 64) {
    const int nv = (dvp - c0) / 16 < 4 ? (dvp - c0) / 16 : 4;
    for (int r = 0; r < rows; r += kRows) {
      const float* pr = p + r * kBlockK;
      float* orow = o + r * ldo + c0;
      const float* vc = v + c0;
      switch (rows - r < kRows ? rows - r : kRows) {
        case 1: pv_rows_any<1>(pr, vc, ldv, orow, ldo, alpha + r, bk, nv); break;
        case 2: pv_rows_any<2>(pr, vc, ldv, orow, ldo, alpha + r, bk, nv); break;
        case 3: pv_rows_any<3>(pr, vc, ldv, orow, ldo, alpha + r, bk, nv); break;
        case 4: pv_rows_any<4>(pr, vc, ldv, orow, ldo, alpha + r, bk, nv); break;
        case 5: pv_rows_any<5>(pr, vc, ldv, orow, ldo, alpha + r, bk, nv); break;
        default: pv_rows_any<6>(pr, vc, ldv, orow, ldo, alpha + r, bk, nv); break;
      }
    }
  }
}

#include "attention_avx512_math.h"

#include "attention_impl.h"

}  // namespace

const AttentionKernels* attention_kernels_avx512() { return &kAttentionKernels; }

}  // namespace sd::cpu::attention_detail
