// AArch64 FEAT_BF16 GEMM path for Bf16 precision: 8x12 micro-kernel on BFMMLA (each
// instruction multiplies a 2x4 block of A by a 4x2 block of B, 16 products accumulated in f32).
// Operands are rounded to bf16 (nearest even) while packing, into 2-row x 4-k blocks:
// A [kc/4][4][2][4], B [kc/4][6][2][4]. The 24 accumulators each hold a 2x2 block of C.
// Compile with: -march=armv8.2-a+bf16 (this file only; the driver checks HWCAP2_BF16) and
// -fno-schedule-insns (GCC 12's pre-RA scheduler hoists all six B loads of a k step and spills
// three accumulators to the stack on every step).
// Everything except the accessor lives in an anonymous namespace (see gemm_kernels.h).
#if defined(__aarch64__)
#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#include "gemm_kernels.h"

namespace sd::cpu::gemm_detail {
namespace {

#include "gemm_scalar_prims.h"

#include "gemm_neon_prims.h"

#include "gemm_pack_impl.h"

#include "gemm_tile_impl.h"

constexpr int kMr = 8, kNr = 12;

// Rows [r0, r0 + rows) of a K-contiguous operand as bf16 2x4 blocks [kc/4][W/2][2][4]: each
// row's four k are one 8-byte store.
template <int W>
void pack_pairs(const DenseView& v, int64_t K, int64_t r0, int rows, int64_t k0, int kc, bool,
                void* dst_v) {
  uint16_t* dst = static_cast<uint16_t*>(dst_v);
  const int valid = int(K - k0 < kc ? K - k0 : kc);
  const size_t es = dtype_size_local(v.dtype);
  for (int r = 0; r < W; ++r) {
    uint16_t* d = dst + r * 4;  // this row's slot in k group 0 (row pairs are adjacent)
    if (r >= rows) {
      for (int g = 0; g < kc / 4; ++g) vst1_u16(d + g * W * 4, vdup_n_u16(0));
      continue;
    }
    const char* src = static_cast<const char*>(v.data) + ((r0 + r) * v.row_stride + k0) * es;
    int g = 0;
    for (; (g + 1) * 4 <= valid; ++g) vst1_u16(d + g * W * 4, bf16_narrow(load4(src + g * 4 * es, v.dtype)));
    if (g * 4 < valid) {
      alignas(16) float tmp[4] = {0.0f, 0.0f, 0.0f, 0.0f};
      cvt_row_scalar(src + g * 4 * es, v.dtype, valid - g * 4, tmp);
      vst1_u16(d + g * W * 4, bf16_narrow(vld1q_f32(tmp)));
      ++g;
    }
    for (; g < kc / 4; ++g) vst1_u16(d + g * W * 4, vdup_n_u16(0));
  }
}

// Im2col B: k-major f32 rows from the generic walker, 64 k at a time (a small stack buffer),
// then 4x4 transposes turn four k of a column into its 8-byte slot.
void pack_b_im2col_pairs(const Im2col& g, int64_t K, int64_t n0, int cols, int64_t k0, int kc,
                         bool, void* dst_v) {
  uint16_t* dst = static_cast<uint16_t*>(dst_v);
  constexpr int kChunk = 64;
  alignas(16) float rows[kChunk][kNr];
  for (int t0 = 0; t0 < kc; t0 += kChunk) {
    const int n = kc - t0 < kChunk ? kc - t0 : kChunk;
    im2col_panel<kNr>(g, K, k0 + t0, n, n0, cols, &rows[0][0]);
    for (int t = 0; t < n; t += 4) {
      uint16_t* d = dst + ((t0 + t) / 4) * kNr * 4;
      for (int c = 0; c < kNr; c += 4) {
        float32x4_t r[4] = {vld1q_f32(rows[t] + c), vld1q_f32(rows[t + 1] + c),
                            vld1q_f32(rows[t + 2] + c), vld1q_f32(rows[t + 3] + c)};
        transpose4(r);  // r[i]: column c + i, k t..t+3
        vst1q_u16(d + c * 4, vcombine_u16(bf16_narrow(r[0]), bf16_narrow(r[1])));
        vst1q_u16(d + c * 4 + 8, vcombine_u16(bf16_narrow(r[2]), bf16_narrow(r[3])));
      }
    }
  }
}

inline bfloat16x8_t load_bf16x8(const uint16_t* p) { return vreinterpretq_bf16_u16(vld1q_u16(p)); }

#define SD_MMLA_COL(j)                                  \
  do {                                                  \
    const bfloat16x8_t bj = load_bf16x8(b + (j) * 8);   \
    c0##j = vbfmmlaq_f32(c0##j, a0, bj);                \
    c1##j = vbfmmlaq_f32(c1##j, a1, bj);                \
    c2##j = vbfmmlaq_f32(c2##j, a2, bj);                \
    c3##j = vbfmmlaq_f32(c3##j, a3, bj);                \
  } while (0)
// Row pair i of the tile: accumulator (i, j) holds C[2i][2j], C[2i][2j+1], C[2i+1][2j], C[2i+1][2j+1].
#define SD_STORE_PAIR(i)                                                                 \
  do {                                                                                   \
    const float32x4_t p[6] = {c##i##0, c##i##1, c##i##2, c##i##3, c##i##4, c##i##5};   \
    for (int q = 0; q < 3; ++q) {                                                        \
      vst1q_f32(tile[2 * (i)] + 4 * q,                                                   \
                vcombine_f32(vget_low_f32(p[2 * q]), vget_low_f32(p[2 * q + 1])));       \
      vst1q_f32(tile[2 * (i) + 1] + 4 * q,                                               \
                vcombine_f32(vget_high_f32(p[2 * q]), vget_high_f32(p[2 * q + 1])));     \
    }                                                                                    \
  } while (0)

void kernel_bf16(int kc, const void* a_v, const void* b_v, float* c, int64_t ldc, int m_valid,
                 int n_valid, int flags, const float* bias_m, const float* bias_n) {
  const uint16_t* a = static_cast<const uint16_t*>(a_v);
  const uint16_t* b = static_cast<const uint16_t*>(b_v);
  float32x4_t c00 = vdupq_n_f32(0.0f), c01 = c00, c02 = c00, c03 = c00, c04 = c00, c05 = c00,
              c10 = c00, c11 = c00, c12 = c00, c13 = c00, c14 = c00, c15 = c00,
              c20 = c00, c21 = c00, c22 = c00, c23 = c00, c24 = c00, c25 = c00,
              c30 = c00, c31 = c00, c32 = c00, c33 = c00, c34 = c00, c35 = c00;
  for (int k = 0; k < kc; k += 4, a += kMr * 4, b += kNr * 4) {
    const bfloat16x8_t a0 = load_bf16x8(a), a1 = load_bf16x8(a + 8), a2 = load_bf16x8(a + 16),
                       a3 = load_bf16x8(a + 24);
    SD_MMLA_COL(0); SD_MMLA_COL(1); SD_MMLA_COL(2); SD_MMLA_COL(3); SD_MMLA_COL(4); SD_MMLA_COL(5);
  }
  alignas(16) float tile[kMr][kNr];
  SD_STORE_PAIR(0); SD_STORE_PAIR(1); SD_STORE_PAIR(2); SD_STORE_PAIR(3);
  store_tile<F32x4>(tile, c, ldc, m_valid, n_valid, flags, bias_m, bias_n);
}

#undef SD_MMLA_COL
#undef SD_STORE_PAIR

const GemmKernels kKernels = {
    "neonbf16-mmla-8x12", kMr, kNr, 4, 2, 512, 16 * kMr,
    pack_pairs<kMr>, pack_pairs<kNr>, pack_b_im2col_pairs, kernel_bf16,
};

}  // namespace

const GemmKernels* gemm_kernels_neonbf16() { return &kKernels; }

}  // namespace sd::cpu::gemm_detail
#endif  // __aarch64__
