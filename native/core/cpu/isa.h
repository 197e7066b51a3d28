// Which SIMD paths this CPU can run. Kernels take an Isa so tests can force every path
// that the machine supports and compare each with the scalar reference.
#pragma once

namespace sd::cpu {

enum class Isa : int { Scalar = 0, Avx2 = 1, Avx512 = 2, Avx512Bf16 = 3 };

const char* isa_name(Isa isa);
Isa detect_isa();  // best path this CPU supports (AVX2 implies FMA+F16C; AVX512 = F+BW+DQ+VL)
inline bool isa_supported(Isa want) { return int(want) <= int(detect_isa()); }

}  // namespace sd::cpu
