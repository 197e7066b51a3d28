// AArch64 NEON GEMM path: 8x12 micro-kernel, 24 q-register accumulators. Per k, A is two
// vectors (rows 0-3, 4-7) and B three (columns 0-11); each FMA takes its A value from a lane
// (vfmaq_laneq_f32), so both panels are k-major ([kc][8] and [kc][12], see gemm_kernels.h).
// Bf16 precision is emulated (operands rounded to bf16 while packing, f32 accumulation).
// No extra flags: Advanced SIMD is baseline on AArch64. The x86 builds compile this file empty.
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

// Rows [r0, r0 + rows) of a K-contiguous operand into a k-major panel [kc][W], four rows by
// four k per 4x4 register transpose (instead of one strided scalar store per element). Edge
// panels (rows < W) go through the generic packer.
template <int W>
void pack_kmajor(const DenseView& v, int64_t K, int64_t r0, int rows, int64_t k0, int kc,
                 bool round_bf16, void* dst_v) {
  if (rows != W) {
    pack_b_f32<W>(v, K, r0, rows, k0, kc, round_bf16, dst_v);
    return;
  }
  float* dst = static_cast<float*>(dst_v);
  const int valid = int(K - k0 < kc ? K - k0 : kc);
  const size_t es = dtype_size_local(v.dtype);
  const size_t row_bytes = size_t(v.row_stride) * es;
  const char* base = static_cast<const char*>(v.data) + (r0 * v.row_stride + k0) * es;
  int t = 0;
  for (; t + 4 <= valid; t += 4) {
    for (int g = 0; g < W; g += 4) {
      float32x4_t r[4];
      for (int i = 0; i < 4; ++i) r[i] = load4(base + (g + i) * row_bytes + t * es, v.dtype);
      transpose4(r);
      for (int i = 0; i < 4; ++i) vst1q_f32(dst + (t + i) * W + g, round_bf16 ? round_bf16_vec(r[i]) : r[i]);
    }
  }
  for (; t < kc; ++t) {  // last few k of K, then the zero padding up to kc
    for (int n = 0; n < W; ++n) {
      float x = 0.0f;
      if (t < valid) cvt_row_scalar(base + n * row_bytes + t * es, v.dtype, 1, &x);
      if (round_bf16) round_row_bf16_scalar(&x, 1);
      dst[t * W + n] = x;
    }
  }
}

#define SD_FMA_ROW(r, av, lane)                     \
  c##r##0 = vfmaq_laneq_f32(c##r##0, b0, av, lane); \
  c##r##1 = vfmaq_laneq_f32(c##r##1, b1, av, lane); \
  c##r##2 = vfmaq_laneq_f32(c##r##2, b2, av, lane)
#define SD_STORE_ROW(r) \
  vst1q_f32(tile[r], c##r##0), vst1q_f32(tile[r] + 4, c##r##1), vst1q_f32(tile[r] + 8, c##r##2)

// Accumulators are named variables so that they stay in registers across the k loop.
void kernel_neon(int kc, const void* a_v, const void* b_v, float* c, int64_t ldc, int m_valid,
                 int n_valid, int flags, const float* bias_m, const float* bias_n) {
  const float* a = static_cast<const float*>(a_v);
  const float* b = static_cast<const float*>(b_v);
  float32x4_t c00 = vdupq_n_f32(0.0f), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00,
              c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00,
              c40 = c00, c41 = c00, c42 = c00, c50 = c00, c51 = c00, c52 = c00,
              c60 = c00, c61 = c00, c62 = c00, c70 = c00, c71 = c00, c72 = c00;
#pragma GCC unroll 4
  for (int k = 0; k < kc; ++k, a += kMr, b += kNr) {
    const float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
    const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8);
    SD_FMA_ROW(0, a0, 0); SD_FMA_ROW(1, a0, 1); SD_FMA_ROW(2, a0, 2); SD_FMA_ROW(3, a0, 3);
    SD_FMA_ROW(4, a1, 0); SD_FMA_ROW(5, a1, 1); SD_FMA_ROW(6, a1, 2); SD_FMA_ROW(7, a1, 3);
  }
  alignas(16) float tile[kMr][kNr];
  SD_STORE_ROW(0); SD_STORE_ROW(1); SD_STORE_ROW(2); SD_STORE_ROW(3);
  SD_STORE_ROW(4); SD_STORE_ROW(5); SD_STORE_ROW(6); SD_STORE_ROW(7);
  store_tile<F32x4>(tile, c, ldc, m_valid, n_valid, flags, bias_m, bias_n);
}

#undef SD_FMA_ROW
#undef SD_STORE_ROW

const GemmKernels kKernels = {
    "neon-f32-8x12", kMr, kNr, 4, 4, 256, 16 * kMr,
    pack_kmajor<kMr>, pack_kmajor<kNr>, pack_b_im2col_f32<kNr>, kernel_neon,
};

}  // namespace

const GemmKernels* gemm_kernels_neon() { return &kKernels; }

}  // namespace sd::cpu::gemm_detail
#endif  // __aarch64__
