// 2-d convolution as an implicit GEMM: M = output channels (the weights [O, C·kh·kw] read in
// place, f32/f16/bf16), N = images·output pixels (im2col generated on the fly while loading
// tiles, never materialised), K = C·kh·kw.
#pragma once
#include "gemm.cuh"

namespace sd::cuda {

struct ConvArgs {
  const float* x = nullptr;  // [N, C, H, W] contiguous
  const void* w = nullptr;   // [O, C, kh, kw] contiguous
  DType w_dtype = DType::F32;
  int n = 0, c = 0, h = 0, w_in = 0, o = 0, kh = 0, kw = 0;
  int stride = 1, pad_top = 0, pad_left = 0, out_h = 0, out_w = 0;
  float* y = nullptr;               // [N, O, out_h, out_w]
  const float* bias = nullptr;      // contiguous f32 [O] or null
  const float* residual = nullptr;  // contiguous f32, shape of y, or null
};

void launch_conv2d(cudaStream_t stream, const GemmConfig& cfg, const ConvArgs& a);

}  // namespace sd::cuda
