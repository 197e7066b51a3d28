// The row kernels compiled for AArch64 NEON (flags in native/sources.json; the x86 builds
// compile this file empty).
#if defined(__aarch64__)
#include "vec_kernels.inc"

namespace sd::cpu {
const VecKernels& vec_kernels_neon() { return kTable; }
}  // namespace sd::cpu
#endif
