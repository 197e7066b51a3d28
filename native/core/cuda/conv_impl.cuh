// Shared by conv.cu, conv_f16.cu and conv_bf16.cu: the implicit GEMM for one weight dtype.
// (One translation unit per weight dtype: the instantiations of the tiled kernels dominate nvcc
// time, and three files build in parallel.)
#pragma once
#include "conv.cuh"
#include "gemm_dispatch.cuh"

namespace sd::cuda::conv_detail {

using namespace gemm_detail;

template <int KH, int KW, DType DW, unsigned KERNELS>
void run(cudaStream_t st, const GemmConfig& cfg, const ConvArgs& a) {
  const int64_t K = int64_t(a.c) * a.kh * a.kw;
  const int64_t N = int64_t(a.n) * a.out_h * a.out_w;
  if (K >= (int64_t(1) << 31) || N >= (int64_t(1) << 31))
    throw Error("cuda: conv2d too large for 32-bit indexing; split the batch or tile the image");
  const DenseK<DW> A{a.w, K, 0, a.o, int(K)};
  const Im2col<KH, KW> B{a.x, a.c, a.h, a.w_in, a.kh, a.kw, a.stride, a.pad_top, a.pad_left, a.out_h, a.out_w, int(N), int(K)};
  const EpiConv epi{a.y, a.out_h * a.out_w, a.o, a.bias, a.residual};
  run_gemm<KERNELS>(st, cfg, A, B, epi, a.o, int(N), int(K), 1);
}

// The fast kernels are specialised for 1×1 and 3×3 (every conv in SD's UNet and VAE); the
// reference path and other sizes use the runtime-size im2col.
template <DType DW>
void by_kernel_size(cudaStream_t st, const GemmConfig& cfg, const ConvArgs& a) {
  const Kernel kernel = pick_kernel(cfg);
  if (kernel != Kernel::Reference) {
    if (a.kh == 1 && a.kw == 1) return run<1, 1, DW, kSimt | kWmma>(st, cfg, a);
    if (a.kh == 3 && a.kw == 3) return run<3, 3, DW, kSimt | kWmma>(st, cfg, a);
  }
  // Other sizes: SIMT for f32 products; under a 16-bit precision the reference kernel, which
  // rounds operands the same way (slow, but no SD model has such a conv).
  GemmConfig generic = cfg;
  if (kernel == Kernel::WmmaBf16 || kernel == Kernel::WmmaF16) generic.path = GemmPath::Reference;
  else if (kernel == Kernel::Simt) generic.path = GemmPath::Simt;
  return run<0, 0, DW, kRef | kSimt>(st, generic, a);
}

void conv2d_f32(cudaStream_t st, const GemmConfig& cfg, const ConvArgs& a);   // conv.cu
void conv2d_f16(cudaStream_t st, const GemmConfig& cfg, const ConvArgs& a);   // conv_f16.cu
void conv2d_bf16(cudaStream_t st, const GemmConfig& cfg, const ConvArgs& a);  // conv_bf16.cu

}  // namespace sd::cuda::conv_detail
