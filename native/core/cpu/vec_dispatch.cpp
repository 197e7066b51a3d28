#include "vec_kernels.h"

namespace sd::cpu {

const VecKernels& vec_kernels_scalar();
const VecKernels& vec_kernels_avx2();
const VecKernels& vec_kernels_avx512();

const VecKernels& vec_kernels(Isa isa) {
  switch (isa) {
    case Isa::Avx512Bf16:
    case Isa::Avx512: return vec_kernels_avx512();
    case Isa::Avx2: return vec_kernels_avx2();
    case Isa::Scalar: break;
  }
  return vec_kernels_scalar();
}

}  // namespace sd::cpu
