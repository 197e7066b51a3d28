#include "isa.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#elif defined(__aarch64__) && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

namespace sd::cpu {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Avx512Bf16: return "avx512bf16";
    case Isa::Neon: return "neon";
    case Isa::NeonBf16: return "neonbf16";
  }
  return "?";
}

Isa detect_isa() {
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  bool bf16 = false;
#if defined(__GNUC__) && (__GNUC__ >= 12)
  bf16 = __builtin_cpu_supports("avx512bf16");
#endif
  if (avx512 && avx2 && bf16) return Isa::Avx512Bf16;
  if (avx512 && avx2) return Isa::Avx512;
  if (avx2) return Isa::Avx2;
#elif defined(__aarch64__)
  bool bf16 = false;
#if defined(__linux__)
  // Bit values from the kernel's uapi hwcap.h, for C libraries whose headers lack them.
  constexpr unsigned long kHwcapAsimd = 1ul << 1, kHwcap2Bf16 = 1ul << 14;
  if (!(getauxval(AT_HWCAP) & kHwcapAsimd)) return Isa::Scalar;
  bf16 = (getauxval(AT_HWCAP2) & kHwcap2Bf16) != 0;
#elif defined(__APPLE__)
  int v = 0;
  size_t len = sizeof v;
  bf16 = sysctlbyname("hw.optional.arm.FEAT_BF16", &v, &len, nullptr, 0) == 0 && v != 0;
#endif
  return bf16 ? Isa::NeonBf16 : Isa::Neon;
#endif
  return Isa::Scalar;
}

bool isa_supported(Isa want) {
  if (want == Isa::Scalar) return true;
  static const int best = int(detect_isa());  // the CPU does not change under us
#if defined(__x86_64__) || defined(_M_X64)
  return int(want) >= int(Isa::Avx2) && int(want) <= int(Isa::Avx512Bf16) && int(want) <= best;
#elif defined(__aarch64__)
  return int(want) >= int(Isa::Neon) && int(want) <= int(Isa::NeonBf16) && int(want) <= best;
#else
  (void)best;
  return false;
#endif
}

}  // namespace sd::cpu
