// The row kernels compiled for avx512 (flags set per file in CMakeLists.txt / binding.gyp).
#include "vec_kernels.inc"

namespace sd::cpu {
const VecKernels& vec_kernels_avx512() { return kTable; }
}  // namespace sd::cpu
