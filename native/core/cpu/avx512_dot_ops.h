// Private to the AVX-512 gemm and attention TUs: the one place where their f32 and bf16
// variants differ. A dot-ops type D names the packed element E (one float, or one (k, k+1)
// pair of bf16 in a 32-bit word), the register V holding 16 of them, and
//   static V load(const E* p);                  // 16 elements, 64-byte aligned
//   static V bcast(const E* p);                 // *p in every lane
//   static __m512 madd(__m512 acc, V a, V b);   // acc + a * b, lane by lane (pairs: both halves)
//   kPer: k values per element (1 or 2).
// ZmmF32 is F32Dot over ZmmAcc (vec_acc.h); ZmmBf16Pairs shares ZmmAcc's f32 accumulators.
// Included INSIDE the TU's anonymous namespace after <immintrin.h>, <cstdint> and <cstring>;
// ZmmBf16Pairs only where the TU is compiled with -mavx512bf16.

#include "vec_acc.h"

struct ZmmAcc : VecAcc<Vec16f> {
  static A set1(float x) { return _mm512_set1_ps(x); }
  static A fmadd(A a, A b, A c) { return _mm512_fmadd_ps(a, b, c); }
  static A fnmadd(A a, A b, A c) { return _mm512_fnmadd_ps(a, b, c); }
};

using ZmmF32 = F32Dot<ZmmAcc>;

#ifdef __AVX512BF16__
struct ZmmBf16Pairs : ZmmAcc {
  using E = uint32_t;
  using V = __m512bh;
  static constexpr int kPer = 2;
  static V load(const E* p) { return (__m512bh)_mm512_load_si512(p); }
  static V bcast(const E* p) {
    int32_t pair;
    std::memcpy(&pair, p, 4);
    return (__m512bh)_mm512_set1_epi32(pair);
  }
  static __m512 madd(__m512 acc, V a, V b) { return _mm512_dpbf16_ps(acc, a, b); }
};
#endif
