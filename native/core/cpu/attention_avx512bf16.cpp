// Flash attention for Bf16 precision on AVX512-BF16: q.k^T and p.v on vdpbf16ps (16 lanes x
// 2 products per instruction, f32 accumulation). Packed layouts differ from the f32 paths:
// keys [dp/2][kBlockK] and values [kBlockK/2][dvp] as (k, k+1) bf16 pair words, queries turned
// into pair words in place, probabilities paired along keys as they are computed. The register
// tiles are attention_avx512_tiles.h, shared with attention_avx512.cpp.
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

#include "../dtype_bits.h"  // f32_to_bf16_word (this TU's copy)

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
      const uint32_t lo = kr && x < d ? f32_to_bf16_word(kr[x]) : 0;
      const uint32_t hi = kr && x + 1 < d ? f32_to_bf16_word(kr[x + 1]) : 0;
      kt[xp * kBlockK + j] = lo | (hi << 16);
    }
  }
  for (int jp = 0; jp < kBlockK / 2; ++jp) {
    const float* v0 = 2 * jp < bk ? t.v + (t.k0 + 2 * jp) * t.v_t_stride : nullptr;
    const float* v1 = 2 * jp + 1 < bk ? t.v + (t.k0 + 2 * jp + 1) * t.v_t_stride : nullptr;
    for (int x = 0; x < dvp; ++x) {
      const uint32_t lo = v0 && x < dv ? f32_to_bf16_word(v0[x]) : 0;
      const uint32_t hi = v1 && x < dv ? f32_to_bf16_word(v1[x]) : 0;
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
      const uint32_t lo = f32_to_bf16_word(qr[2 * i]), hi = f32_to_bf16_word(qr[2 * i + 1]);
      w[i] = lo | (hi << 16);
    }
  }
}

#include "avx512_dot_ops.h"

#include "attention_avx512_tiles.h"

void s_block(const float* qf, int64_t ldq_f, const float* ktf, float* s, int rows, int d, float scale) {
  const uint32_t* q = reinterpret_cast<const uint32_t*>(qf);
  const uint32_t* kt = reinterpret_cast<const uint32_t*>(ktf);
  const int64_t ldq = ldq_f;  // row stride in floats = stride in words (pairs fill half a row)
  s_block_zmm<ZmmBf16Pairs>(q, ldq, kt, s, rows, (d + 1) / 2, scale);
}

// p is store_probabilities' pair words, row r at word r * kBlockK / 2.
void pv_block(const float* p, const float* vbf, int64_t ldv, float* o, int64_t ldo,
              const float* alpha, int rows, int bk, int dv) {
  const uint32_t* pp = reinterpret_cast<const uint32_t*>(p);
  const uint32_t* vb = reinterpret_cast<const uint32_t*>(vbf);
  pv_block_zmm<ZmmBf16Pairs>(pp, vb, ldv, o, ldo, alpha, rows, (bk + 1) / 2, dv);
}

#include "attention_avx512_math.h"

// Straight from registers to the (j, j+1) bf16 pair words p.v takes, by the hardware conversion
// (round to nearest even, as round_row_bf16; probabilities are never subnormal, which it would
// flush): row r at word r * kBlockK / 2.
void store_probabilities(float* s, int r, const __m512 (&p)[kRowVectors], bool) {
  uint32_t* pr = reinterpret_cast<uint32_t*>(s) + r * (kBlockK / 2);
#pragma GCC unroll 4
  for (int c = 0; c < kRowVectors; c += 2)
    _mm512_store_si512(pr + 8 * c, (__m512i)_mm512_cvtne2ps_pbh(p[c + 1], p[c]));
}

#include "attention_avx512_softmax.h"

#include "attention_impl.h"

}  // namespace

const AttentionKernels* attention_kernels_avx512bf16() { return &kAttentionKernels; }

}  // namespace sd::cpu::attention_detail
