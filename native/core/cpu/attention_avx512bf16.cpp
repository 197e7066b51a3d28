// Flash attention for Bf16 precision on AVX512-BF16: q.k^T and p.v on vdpbf16ps (16 lanes x
// 2 products per instruction, f32 accumulation). Packed layouts differ from the f32 paths:
// keys [dp/2][kBlockK] and values [kBlockK/2][dvp] as (k, k+1) bf16 pair words, queries turned
// into pair words in place, probabilities paired along keys just before p.v.
// Compile with: -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma -mf16c -mavx512bf16
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

#include "attention_avx512_math.h"

inline uint32_t bf16_rne(float f) {  // round to nearest even, NaN stays NaN
  uint32_t b;
  std::memcpy(&b, &f, 4);
  if ((b & 0x7fffffffu) > 0x7f800000u) return (b >> 16) | 0x40u;
  return (b + 0x7fffu + ((b >> 16) & 1u)) >> 16;
}

#define SD_ATTN_OWN_PACK
void attention_pack(const AttnPackJob& t) {
  const int64_t dp = attention_round16(t.d), dvp = attention_round16(t.dv);
  const int d = int(t.d), dv = int(t.dv);
  const int bk = int(t.tk - t.k0 < kBlockK ? t.tk - t.k0 : kBlockK);
  uint32_t* kt = reinterpret_cast<uint32_t*>(t.kt);  // [dp/2][kBlockK]
  uint32_t* vb = reinterpret_cast<uint32_t*>(t.vb);  // [kBlockK/2][dvp]
  for (int j = 0; j < kBlockK; ++j) {
    const float* kr = j < bk ? t.k + (t.k0 + j) * t.k_t_stride : nullptr;
    for (int xp = 0; xp < dp / 2; ++xp) {
      const int x = 2 * xp;
      const uint32_t lo = kr && x < d ? bf16_rne(kr[x]) : 0;
      const uint32_t hi = kr && x + 1 < d ? bf16_rne(kr[x + 1]) : 0;
      kt[xp * kBlockK + j] = lo | (hi << 16);
    }
  }
  for (int jp = 0; jp < kBlockK / 2; ++jp) {
    const float* v0 = 2 * jp < bk ? t.v + (t.k0 + 2 * jp) * t.v_t_stride : nullptr;
    const float* v1 = 2 * jp + 1 < bk ? t.v + (t.k0 + 2 * jp + 1) * t.v_t_stride : nullptr;
    for (int x = 0; x < dvp; ++x) {
      const uint32_t lo = v0 && x < dv ? bf16_rne(v0[x]) : 0;
      const uint32_t hi = v1 && x < dv ? bf16_rne(v1[x]) : 0;
      vb[jp * dvp + x] = lo | (hi << 16);
    }
  }
}

// Rows of (already bf16-rounded) queries become pair words in place: word i of row r holds
// (q[2i], q[2i+1]); writes never overtake reads.
void q_finalize(float* q, int rows, int64_t ldq, int) {
  for (int r = 0; r < rows; ++r) {
    float* qr = q + r * ldq;
    uint32_t* w = reinterpret_cast<uint32_t*>(qr);
    for (int64_t i = 0; i < ldq / 2; ++i) {
      const uint32_t lo = bf16_rne(qr[2 * i]), hi = bf16_rne(qr[2 * i + 1]);
      w[i] = lo | (hi << 16);
    }
  }
}

constexpr int kRows = 6;

template <int R>
void s_rows(const uint32_t* q, int64_t ldq, const uint32_t* kt, float* s, int d_pairs, __m512 scale) {
  __m512 acc[R][4];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < 4; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int xp = 0; xp < d_pairs; ++xp) {
    const uint32_t* kr = kt + xp * kBlockK;
    const __m512bh k0 = (__m512bh)_mm512_load_si512(kr), k1 = (__m512bh)_mm512_load_si512(kr + 16),
                   k2 = (__m512bh)_mm512_load_si512(kr + 32), k3 = (__m512bh)_mm512_load_si512(kr + 48);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512bh qb = (__m512bh)_mm512_set1_epi32(int(q[r * ldq + xp]));
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], qb, k0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], qb, k1);
      acc[r][2] = _mm512_dpbf16_ps(acc[r][2], qb, k2);
      acc[r][3] = _mm512_dpbf16_ps(acc[r][3], qb, k3);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < 4; ++v) _mm512_store_ps(s + r * kBlockK + v * 16, _mm512_mul_ps(acc[r][v], scale));
}

void s_block(const float* qf, int64_t ldq_f, const float* ktf, float* s, int rows, int d, float scale_f) {
  const uint32_t* q = reinterpret_cast<const uint32_t*>(qf);
  const uint32_t* kt = reinterpret_cast<const uint32_t*>(ktf);
  const int64_t ldq = ldq_f;  // row stride in floats = stride in words (pairs fill half a row)
  const int d_pairs = (d + 1) / 2;
  const __m512 scale = _mm512_set1_ps(scale_f);
  int r = 0;
  for (; r + kRows <= rows; r += kRows) s_rows<kRows>(q + r * ldq, ldq, kt, s + r * kBlockK, d_pairs, scale);
  const uint32_t* qr = q + r * ldq;
  float* sr = s + r * kBlockK;
  switch (rows - r) {
    case 1: s_rows<1>(qr, ldq, kt, sr, d_pairs, scale); break;
    case 2: s_rows<2>(qr, ldq, kt, sr, d_pairs, scale); break;
    case 3: s_rows<3>(qr, ldq, kt, sr, d_pairs, scale); break;
    case 4: s_rows<4>(qr, ldq, kt, sr, d_pairs, scale); break;
    case 5: s_rows<5>(qr, ldq, kt, sr, d_pairs, scale); break;
    default: break;
  }
}

// o[r][0 : 16*NV] = o * alpha[r] + sum_jp pp[r][jp] . vb[jp][:], pairs of keys per step.
template <int R, int NV>
void pv_rows(const uint32_t* pp, const uint32_t* vb, int64_t ldv, float* o, int64_t ldo,
             const float* alpha, int bk_pairs) {
  __m512 acc[R][NV];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const __m512 a = _mm512_set1_ps(alpha[r]);
#pragma GCC unroll 8
    for (int c = 0; c < NV; ++c) acc[r][c] = _mm512_mul_ps(a, _mm512_load_ps(o + r * ldo + c * 16));
  }
  for (int jp = 0; jp < bk_pairs; ++jp) {
    __m512bh vv[NV];
#pragma GCC unroll 8
    for (int c = 0; c < NV; ++c) vv[c] = (__m512bh)_mm512_load_si512(vb + jp * ldv + c * 16);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512bh pb = (__m512bh)_mm512_set1_epi32(int(pp[r * (kBlockK / 2) + jp]));
#pragma GCC unroll 8
      for (int c = 0; c < NV; ++c) acc[r][c] = _mm512_dpbf16_ps(acc[r][c], pb, vv[c]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < NV; ++c) _mm512_store_ps(o + r * ldo + c * 16, acc[r][c]);
}

template <int R>
void pv_rows_any(const uint32_t* pp, const uint32_t* vb, int64_t ldv, float* o, int64_t ldo,
                 const float* alpha, int bk_pairs, int nv) {
  switch (nv) {
    case 1: pv_rows<R, 1>(pp, vb, ldv, o, ldo, alpha, bk_pairs); break;
    case 2: pv_rows<R, 2>(pp, vb, ldv, o, ldo, alpha, bk_pairs); break;
    case 3: pv_rows<R, 3>(pp, vb, ldv, o, ldo, alpha, bk_pairs); break;
    case 4: pv_rows<R, 4>(pp, vb, ldv, o, ldo, alpha, bk_pairs); break;
    // nv == 5 only with rows_per == 4 (R <= 4); the clamp just keeps other R instantiable.
    default: pv_rows<R < 4 ? R : 4, 5>(pp, vb, ldv, o, ldo, alpha, bk_pairs); break;
  }
}

void pv_block(const float* p, const float* vbf, int64_t ldv, float* o, int64_t ldo,
              const float* alpha, int rows, int bk, int dv) {
  const uint32_t* vb = reinterpret_cast<const uint32_t*>(vbf);
  alignas(64) uint32_t pp[kBlockQ * kBlockK / 2];  // probabilities as (j, j+1) pairs
  for (int r = 0; r < rows; ++r)
    for (int jp = 0; jp < kBlockK / 2; ++jp)
      pp[r * (kBlockK / 2) + jp] = bf16_rne(p[r * kBlockK + 2 * jp]) | (bf16_rne(p[r * kBlockK + 2 * jp + 1]) << 16);
  const int bk_pairs = (bk + 1) / 2;
  const int dvp = (dv + 15) / 16 * 16;
  const int chunk = dvp % 80 == 0 ? 5 : 4;  // vectors per column chunk
  const int rows_per = chunk == 5 ? 4 : kRows;
  for (int c0 = 0; c0 < dvp; c0 += chunk * 16) {
    const int nv = (dvp - c0) / 16 < chunk ? (dvp - c0) / 16 : chunk;
    for (int r = 0; r < rows; r += rows_per) {
      const uint32_t* pr = pp + r * (kBlockK / 2);
      float* orow = o + r * ldo + c0;
      const uint32_t* vc = vb + c0;
      switch (rows - r < rows_per ? rows - r : rows_per) {
        case 1: pv_rows_any<1>(pr, vc, ldv, orow, ldo, alpha + r, bk_pairs, nv); break;
        case 2: pv_rows_any<2>(pr, vc, ldv, orow, ldo, alpha + r, bk_pairs, nv); break;
        case 3: pv_rows_any<3>(pr, vc, ldv, orow, ldo, alpha + r, bk_pairs, nv); break;
        case 4: pv_rows_any<4>(pr, vc, ldv, orow, ldo, alpha + r, bk_pairs, nv); break;
        case 5: pv_rows_any<5>(pr, vc, ldv, orow, ldo, alpha + r, bk_pairs, nv); break;
        default: pv_rows_any<6>(pr, vc, ldv, orow, ldo, alpha + r, bk_pairs, nv); break;
      }
    }
  }
}

#include "attention_impl.h"

}  // namespace

const AttentionKernels* attention_kernels_avx512bf16() { return &kAttentionKernels; }

}  // namespace sd::cpu::attention_detail
