// Private to the attention and gemm ISA TUs: the vector ops of attention_rows.h and
// gemm_tile_impl.h that GCC vector types (__m256, __m512, float32x4_t, and plain float) give
// without intrinsics, and f32 dot ops (E, V, kPer, load, bcast, madd as in avx512_dot_ops.h)
// built from a TU's ops. Included INSIDE the TU's anonymous namespace (internal linkage, that
// TU's flags), by more than one of its headers.
#pragma once

// Plain GCC vector types for __m256 / __m512 (their may_alias and alignment attributes would be
// dropped as template arguments); they convert to and from the intrinsics' types.
typedef float Vec8f __attribute__((vector_size(32)));
typedef float Vec16f __attribute__((vector_size(64)));

// A: a register of kLanes floats (Vec8f, Vec16f, float32x4_t, float). loadf/storef are aligned
// accesses, as _mm*_load_ps / _mm*_store_ps (ldr q / str q on NEON); loadu/storeu are not.
template <class A_>
struct VecAcc {
  using A = A_;
  static constexpr int kLanes = int(sizeof(A) / sizeof(float));
  static A zero() { return A{}; }
  static A loadf(const float* p) {
    A x;
    std::memcpy(&x, __builtin_assume_aligned(p, sizeof(A)), sizeof(A));
    return x;
  }
  static void storef(float* p, A x) { std::memcpy(__builtin_assume_aligned(p, sizeof(A)), &x, sizeof(A)); }
  static A loadu(const float* p) {
    A x;
    std::memcpy(&x, p, sizeof(A));
    return x;
  }
  static void storeu(float* p, A x) { std::memcpy(p, &x, sizeof(A)); }
  static A add(A a, A b) { return a + b; }
  static A mul(A a, A b) { return a * b; }
};

// Acc adds set1(float), fmadd(a, b, c) = a*b + c and fnmadd(a, b, c) = c - a*b, both fused.
template <class Acc>
struct F32Dot : Acc {
  using E = float;
  using V = typename Acc::A;
  static constexpr int kPer = 1;
  static V load(const E* p) { return Acc::loadf(p); }
  static V bcast(const E* p) { return Acc::set1(*p); }
  static V madd(V acc, V a, V b) { return Acc::fmadd(a, b, acc); }
};
