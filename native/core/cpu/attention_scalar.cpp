// Flash attention, portable path (compiled with NO ISA flags). Everything
// except the accessor lives in an anonymous namespace (see attention_kernels.h).
#include <cstdint>
#include <cstring>

#include "attention_kernels.h"

namespace sd::cpu::attention_detail {
namespace {

#include "attention_generic.h"

#include "attention_impl.h"

}  // namespace

const AttentionKernels* attention_kernels_scalar() { return &kAttentionKernels; }

}  // namespace sd::cpu::attention_detail
