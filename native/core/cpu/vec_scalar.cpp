// The row kernels compiled for scalar (flags set per file in CMakeLists.txt / binding.gyp).
#include "vec_kernels.inc"

namespace sd::cpu {
const VecKernels& vec_kernels_scalar() { return kTable; }
}  // namespace sd::cpu
