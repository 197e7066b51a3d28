// Implicit-GEMM convolution with f16 weights (SD checkpoints are mostly f16); see conv_impl.cuh.
#include "conv_impl.cuh"

namespace sd::cuda::conv_detail {
void conv2d_f16(cudaStream_t st, const GemmConfig& cfg, const ConvArgs& a) { by_kernel_size<DType::F16>(st, cfg, a); }
}  // namespace sd::cuda::conv_detail
