// Dense GEMM entry point: binds the operands of a DenseGemm to sources and the dense epilogue.
#include "gemm_dispatch.cuh"

namespace sd::cuda {
namespace {

using namespace gemm_detail;

template <class SB>
void with_b(cudaStream_t st, const GemmConfig& cfg, const DenseGemm& g, const SB& b) {
  const DenseK<DType::F32> a{g.a, g.lda, g.a_batch, g.m, g.k};
  const EpiDense epi{g.c, g.ldc, g.c_batch, g.bias_m, g.bias_n, g.residual};
  run_gemm(st, cfg, a, b, epi, g.m, g.n, g.k, g.batch);
}

}  // namespace

void launch_gemm(cudaStream_t st, const GemmConfig& cfg, const DenseGemm& g) {
  if (g.m <= 0 || g.n <= 0 || g.batch <= 0) return;
  if (g.b_n_major) {
    if (g.b_dtype != DType::F32) throw Error("cuda: gemm with an n-major B needs f32");
    return with_b(st, cfg, g, DenseN<DType::F32>{g.b, g.ldb, g.b_batch, g.n, g.k});
  }
  switch (g.b_dtype) {
    case DType::F32: return with_b(st, cfg, g, DenseK<DType::F32>{g.b, g.ldb, g.b_batch, g.n, g.k});
    case DType::F16: return with_b(st, cfg, g, DenseK<DType::F16>{g.b, g.ldb, g.b_batch, g.n, g.k});
    case DType::BF16: return with_b(st, cfg, g, DenseK<DType::BF16>{g.b, g.ldb, g.b_batch, g.n, g.k});
    default: throw Error(std::string("cuda: gemm operand of dtype ") + dtype_name(g.b_dtype));
  }
}

const char* gemm_kernel_name(const GemmConfig& cfg) { return kernel_name(pick_kernel(cfg)); }

}  // namespace sd::cuda
