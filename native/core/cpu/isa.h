// Which SIMD paths this CPU can run. Kernels take an Isa so tests can force every path
// that the machine supports and compare each with the scalar reference.
#pragma once

namespace sd::cpu {

// x86-64 paths, then AArch64 paths; a binary holds only its own architecture's (plus Scalar).
enum class Isa : int { Scalar = 0, Avx2 = 1, Avx512 = 2, Avx512Bf16 = 3, Neon = 4, NeonBf16 = 5 };
constexpr int kIsaCount = 6;  // loop `for (int i = 0; i < kIsaCount; ++i)` with isa_supported

const char* isa_name(Isa isa);
// Best path this CPU supports. x86: AVX2 implies FMA+F16C; AVX512 = F+BW+DQ+VL.
// AArch64: NEON (Advanced SIMD, with f16 conversions) everywhere; NeonBf16 = FEAT_BF16.
Isa detect_isa();
// Each architecture's paths form a chain (each implies the ones before it on that architecture).
bool isa_supported(Isa want);

}  // namespace sd::cpu
