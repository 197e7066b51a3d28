// Portable GEMM path (compiled with NO ISA flags: runs on any x86-64 / other CPU): 4x8
// register tile in plain C++ (SSE2 at most after auto-vectorisation). Bf16 precision is
// emulated by rounding operands to bf16 while packing and accumulating in f32.
#include <cstdint>
#include <cstring>

#include "gemm_kernels.h"

namespace sd::cpu::gemm_detail {
namespace {

#include "gemm_scalar_prims.h"

inline void cvt_row(const void* src, DType dt, int n, float* dst) { cvt_row_scalar(src, dt, n, dst); }
inline void round_row_bf16(float* x, int n) { round_row_bf16_scalar(x, n); }

#include "gemm_pack_impl.h"

#include "gemm_tile_impl.h"

constexpr int kMr = 4, kNr = 8;

void kernel_scalar(int kc, const void* a_v, const void* b_v, float* c, int64_t ldc, int m_valid,
                   int n_valid, int flags, const float* bias_m, const float* bias_n) {
  const float* a = static_cast<const float*>(a_v);
  const float* b = static_cast<const float*>(b_v);
  float acc[kMr][kNr] = {};
  for (int g = 0; g < kc; g += 16, a += kMr * 16) {
    for (int kk = 0; kk < 16; ++kk, b += kNr) {
      for (int r = 0; r < kMr; ++r) {
        const float av = a[r * 16 + kk];
        for (int j = 0; j < kNr; ++j) acc[r][j] += av * b[j];
      }
    }
  }
  store_tile<F32x1>(acc, c, ldc, m_valid, n_valid, flags, bias_m, bias_n);
}

const GemmKernels kKernels = {
    "scalar-f32-4x8", kMr, kNr, 16, 4, 256, 16 * kMr,
    pack_a_f32<kMr>, pack_b_f32<kNr>, pack_b_im2col_f32<kNr>, kernel_scalar,
};

}  // namespace

const GemmKernels* gemm_kernels_scalar() { return &kKernels; }

}  // namespace sd::cpu::gemm_detail
