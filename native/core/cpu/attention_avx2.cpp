// Flash attention, AVX2 path: the portable loops auto-vectorised with -mavx2 -mfma -mf16c. Everything
// except the accessor lives in an anonymous namespace (see attention_kernels.h).
#include <cstdint>
#include <cstring>

#include "attention_kernels.h"

namespace sd::cpu::attention_detail {
namespace {

#include "attention_generic.h"

#include "attention_impl.h"

}  // namespace

const AttentionKernels* attention_kernels_avx2() { return &kAttentionKernels; }

}  // namespace sd::cpu::attention_detail
