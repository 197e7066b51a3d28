#include "vec_kernels.h"

namespace sd::cpu {

// Each architecture's tables exist only in its own build (the other's files are not compiled).
const VecKernels& vec_kernels_scalar();
#if defined(__x86_64__) || defined(_M_X64)
const VecKernels& vec_kernels_avx2();
const VecKernels& vec_kernels_avx512();
#elif defined(__aarch64__)
const VecKernels& vec_kernels_neon();
#endif

const VecKernels& vec_kernels(Isa isa) {
  switch (isa) {
#if defined(__x86_64__) || defined(_M_X64)
    case Isa::Avx512Bf16:
    case Isa::Avx512: return vec_kernels_avx512();
    case Isa::Avx2: return vec_kernels_avx2();
#elif defined(__aarch64__)
    case Isa::NeonBf16:
    case Isa::Neon: return vec_kernels_neon();
#endif
    default: break;
  }
  return vec_kernels_scalar();
}

}  // namespace sd::cpu
