// Flash attention, AArch64 NEON path: register-tiled q.k^T (4 queries x 16 keys) and p.v
// (4 queries x 16 output columns), each FMA taking its query or probability from a vector lane
// (four d or four keys per load), and a vectorised exp. Bf16 precision is emulated (q, k, v
// and p rounded by attention_impl.h). No extra flags; the x86 builds compile this file empty.
// Everything except the accessor lives in an anonymous namespace (see attention_kernels.h).
#if defined(__aarch64__)
#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#include "attention_kernels.h"

namespace sd::cpu::attention_detail {
namespace {

#define SD_ATTN_GENERIC_HELPERS_ONLY
#include "attention_generic.h"  // q_finalize, row_max, round_row_bf16

// acc[r][0..3] += lane L of a[r] times the four vectors at m (one row of 16 keys or columns).
// Always inlined: out of line, the accumulators passed by reference live in memory.
#define SD_INLINE inline __attribute__((always_inline))

template <int L, int R>
SD_INLINE void fma_step(float32x4_t (&acc)[R][4], const float32x4_t (&a)[R], const float* m) {
  const float32x4_t m0 = vld1q_f32(m), m1 = vld1q_f32(m + 4), m2 = vld1q_f32(m + 8),
                    m3 = vld1q_f32(m + 12);
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
    acc[r][0] = vfmaq_laneq_f32(acc[r][0], m0, a[r], L);
    acc[r][1] = vfmaq_laneq_f32(acc[r][1], m1, a[r], L);
    acc[r][2] = vfmaq_laneq_f32(acc[r][2], m2, a[r], L);
    acc[r][3] = vfmaq_laneq_f32(acc[r][3], m3, a[r], L);
  }
}

// acc[r] (R rows x 16 columns) += sum over t < n of a[r * lda + t] * m[t * ldm + 0..15]:
// fours of t (one vector load of a per row), then single t.
template <int R>
SD_INLINE void fma_rows(float32x4_t (&acc)[R][4], const float* a, int64_t lda, const float* m,
                     int64_t ldm, int n) {
  int t = 0;
  for (; t + 4 <= n; t += 4) {
    float32x4_t av[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) av[r] = vld1q_f32(a + r * lda + t);
    fma_step<0>(acc, av, m + (t + 0) * ldm);
    fma_step<1>(acc, av, m + (t + 1) * ldm);
    fma_step<2>(acc, av, m + (t + 2) * ldm);
    fma_step<3>(acc, av, m + (t + 3) * ldm);
  }
  for (; t < n; ++t) {  // m rows past n may hold anything (unpacked key dims), so stop at n
    const float* mr = m + t * ldm;
    const float32x4_t m0 = vld1q_f32(mr), m1 = vld1q_f32(mr + 4), m2 = vld1q_f32(mr + 8),
                      m3 = vld1q_f32(mr + 12);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const float x = a[r * lda + t];
      acc[r][0] = vfmaq_n_f32(acc[r][0], m0, x);
      acc[r][1] = vfmaq_n_f32(acc[r][1], m1, x);
      acc[r][2] = vfmaq_n_f32(acc[r][2], m2, x);
      acc[r][3] = vfmaq_n_f32(acc[r][3], m3, x);
    }
  }
}

#include "vec_acc.h"

// The f32 vector ops of attention_rows.h on q registers (4 lanes).
struct QAcc : VecAcc<float32x4_t> {
  static A set1(float x) { return vdupq_n_f32(x); }
  static A fmadd(A a, A b, A c) { return vfmaq_f32(c, a, b); }
  static A fnmadd(A a, A b, A c) { return vfmsq_f32(c, a, b); }
};
using QF32 = F32Dot<QAcc>;

#include "attention_rows.h"  // s_rows, pv_rows, exp_reduced

// q.k^T and p.v take a from vector lanes (fma_rows) rather than broadcasts.
template <>
struct RowFma<QF32> {
  template <int R, int NV>
  static SD_INLINE void run(float32x4_t (&acc)[R][NV], const float* a, int64_t lda, const float* m,
                            int64_t ldm, int n) {
    static_assert(NV == 4, "fma_rows covers 16 columns");
    fma_rows<R>(acc, a, lda, m, ldm, n);
  }
};

using TileOps = QF32;
// pv: bk is a multiple of kPvKeyStep (attention_tiled.h), so fma_rows takes all keys in fours.
constexpr int kSRows = 4, kSCols = 16, kPvRows = 4, kPvKeyStep = 4;

#include "attention_tiled.h"  // s_block, pv_block

// Same reduction and polynomial as exp_poly in attention_generic.h, four lanes at a time.
inline float32x4_t exp_neon(float32x4_t x) {
  x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.0f)), vdupq_n_f32(88.0f));
  const float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504f)));
  const float32x4_t y = exp_reduced<QF32>(x, n);
  const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
  return vmulq_f32(y, vreinterpretq_f32_s32(e));
}

float exp_sub_row(float* s, int n, float m) {  // all kBlockK entries; first n summed
  const float32x4_t mv = vdupq_n_f32(m);
  const int32x4_t lane = {0, 1, 2, 3};
  float32x4_t sum = vdupq_n_f32(0.0f);
  for (int j = 0; j < kBlockK; j += 4) {
    const float32x4_t e = exp_neon(vsubq_f32(vld1q_f32(s + j), mv));
    vst1q_f32(s + j, e);
    const uint32x4_t keep = vcltq_s32(lane, vdupq_n_s32(n - j));
    sum = vaddq_f32(sum, vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(e), keep)));
  }
  return vaddvq_f32(sum);
}

#undef SD_INLINE

#include "attention_impl.h"

}  // namespace

const AttentionKernels* attention_kernels_neon() { return &kAttentionKernels; }

}  // namespace sd::cpu::attention_detail
#endif  // __aarch64__
