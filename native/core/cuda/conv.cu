// Convolution entry point: the weights are the dense A source, the image an Im2col B source
// generated while loading tiles, the epilogue writes NCHW. f32 weights here; f16 and bf16
// weights in conv_f16.cu / conv_bf16.cu (see conv_impl.cuh).
#include "conv_impl.cuh"

namespace sd::cuda {

namespace conv_detail {
void conv2d_f32(cudaStream_t st, const GemmConfig& cfg, const ConvArgs& a) { by_kernel_size<DType::F32>(st, cfg, a); }
}  // namespace conv_detail

void launch_conv2d(cudaStream_t st, const GemmConfig& cfg, const ConvArgs& a) {
  if (a.n <= 0 || a.o <= 0 || a.out_h <= 0 || a.out_w <= 0) return;
  switch (a.w_dtype) {
    case DType::F32: return conv_detail::conv2d_f32(st, cfg, a);
    case DType::F16: return conv_detail::conv2d_f16(st, cfg, a);
    case DType::BF16: return conv_detail::conv2d_bf16(st, cfg, a);
    default: throw Error(std::string("cuda: conv2d weight of dtype ") + dtype_name(a.w_dtype));
  }
}

}  // namespace sd::cuda
