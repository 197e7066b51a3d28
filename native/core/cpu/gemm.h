// Matrix products for the CPU backend: the one kernel family that decides Stable Diffusion's
// speed (linear layers, convolutions as implicit GEMM, attention blocks).
//
//   C[m, n] (+)= sum_k A[m, k] * B[n, k]  (+ bias_m[m]) (+ bias_n[n])
//
// Both operands are "K-contiguous" logical matrices (rows of length K), which is how PyTorch
// stores Linear weights [out, in] and conv weights [Cout, Cin*kh*kw]. Operands are read in
// place (f32, f16 or bf16, e.g. straight from an mmap'd checkpoint) and packed per block into
// the layout the micro-kernel wants; B may also be a virtual im2col view of an NCHW image.
#pragma once
#include <cstdint>

#include "../dtype.h"
#include "isa.h"
#include "thread_pool.h"

namespace sd::cpu {

// Arithmetic the products run in. Bf16 rounds both operands to bf16 and accumulates in f32
// (AVX512-BF16 vdpbf16ps where present, emulated exactly elsewhere).
enum class GemmPrecision { F32, Bf16 };

struct Im2col {            // B[n, k] for a conv: n = output pixel (oy*out_w + ox), k = (c, ky, kx)
  const float* image;      // one image, [channels, height, width] contiguous
  int channels, height, width;
  int kernel_h, kernel_w, stride, pad_top, pad_left;  // padding is zeros
  int out_h, out_w;
};

struct GemmOperand {
  enum class Kind { Dense, Im2col } kind = Kind::Dense;
  // Dense: element (r, k) is at data[r * row_stride + k] (k is contiguous), type dtype.
  const void* data = nullptr;
  DType dtype = DType::F32;
  int64_t row_stride = 0;
  Im2col im2col{};          // Kind::Im2col only (always f32)

  static GemmOperand dense(const void* data, DType dtype, int64_t row_stride) {
    GemmOperand op;
    op.data = data;
    op.dtype = dtype;
    op.row_stride = row_stride;
    return op;
  }
};

struct GemmParams {
  int64_t m = 0, n = 0, k = 0;
  GemmOperand a, b;
  float* c = nullptr;        // element (m, n) at c[m * c_row_stride + n]
  int64_t c_row_stride = 0;
  const float* bias_m = nullptr;  // optional, added per row (conv bias when A = weights)
  const float* bias_n = nullptr;  // optional, added per column (linear bias when B = weights)
  bool accumulate = false;   // C += product (fused residual add) instead of C = product
  GemmPrecision precision = GemmPrecision::F32;
  Isa isa = Isa::Scalar;     // path to use; must be supported by this CPU
  // Convolutions whose whole packed im2col B is at most this many bytes take the one-barrier
  // path; larger ones are packed per K block. -1: the tuned default (tests force each path).
  int64_t im2col_whole_b_max = -1;
};

// Runs on all threads of the pool. Safe for any m, n, k >= 0 (k == 0 gives bias only).
void gemm(const GemmParams& p, ThreadPool& pool);

// The double-precision reference every path is tested against (single-threaded, slow).
void gemm_reference(const GemmParams& p);

}  // namespace sd::cpu
