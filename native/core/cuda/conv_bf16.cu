// Implicit-GEMM convolution with bf16 weights; see conv_impl.cuh.
#include "conv_impl.cuh"

namespace sd::cuda::conv_detail {
void conv2d_bf16(cudaStream_t st, const GemmConfig& cfg, const ConvArgs& a) { by_kernel_size<DType::BF16>(st, cfg, a); }
}  // namespace sd::cuda::conv_detail
