// Private to the AVX-512 gemm and attention TUs: the one place where their f32 and bf16
// variants differ. A dot-ops type D names the packed element E (one float, or one (k, k+1)
// pair of bf16 in a 32-bit word), the register V holding 16 of them, and
//   static V load(const E* p);                  // 16 elements, 64-byte aligned
//   static V bcast(const E* p);                 // *p in every lane
//   static __m512 madd(__m512 acc, V a, V b);   // acc + a * b, lane by lane (pairs: both halves)
//   kPer: k values per element (1 or 2).
// Both share the f32 accumulator ops of ZmmAcc (A, kLanes, zero ... fnmadd: attention_rows.h).
// Included INSIDE the TU's anonymous namespace after <immintrin.h>, <cstdint> and <cstring>;
// ZmmBf16Pairs only where the TU is compiled with -mavx512bf16.

struct ZmmAcc {
  using A = __m512;
  static constexpr int kLanes = 16;
  static A zero() { return _mm512_setzero_ps(); }
  static A set1(float x) { return _mm512_set1_ps(x); }
  static A loadf(const float* p) { return _mm512_load_ps(p); }
  static void storef(float* p, A x) { _mm512_store_ps(p, x); }
  static A mul(A a, A b) { return _mm512_mul_ps(a, b); }
  static A fmadd(A a, A b, A c) { return _mm512_fmadd_ps(a, b, c); }
  static A fnmadd(A a, A b, A c) { return _mm512_fnmadd_ps(a, b, c); }
};

struct ZmmF32 : ZmmAcc {
  using E = float;
  using V = __m512;
  static constexpr int kPer = 1;
  static V load(const E* p) { return _mm512_load_ps(p); }
  static V bcast(const E* p) { return _mm512_set1_ps(*p); }
  static __m512 madd(__m512 acc, V a, V b) { return _mm512_fmadd_ps(a, b, acc); }
};

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
