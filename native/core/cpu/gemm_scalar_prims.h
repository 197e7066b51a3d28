// Private to the gemm ISA translation units: portable versions of the row primitives that
// gemm_pack_impl.h needs. Included INSIDE a TU's anonymous namespace (internal linkage, the
// TU's own flags). Needs <cstdint> and <cstring> at file scope.

inline size_t dtype_size_local(DType t) { return t == DType::F32 ? 4 : 2; }

inline float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {
      int e = -1;
      do { mant <<= 1; ++e; } while ((mant & 0x400u) == 0);
      bits = sign | (uint32_t(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint32_t bf16_bits_rne(float f) {  // round to nearest even, NaN stays NaN
  uint32_t b;
  std::memcpy(&b, &f, 4);
  if ((b & 0x7fffffffu) > 0x7f800000u) return (b >> 16) | 0x40u;
  return (b + 0x7fffu + ((b >> 16) & 1u)) >> 16;
}

inline void cvt_row_scalar(const void* src, DType dt, int n, float* dst) {
  switch (dt) {
    case DType::F16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int i = 0; i < n; ++i) dst[i] = half_to_float(s[i]);
      break;
    }
    case DType::BF16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int i = 0; i < n; ++i) {
        const uint32_t b = uint32_t(s[i]) << 16;
        std::memcpy(dst + i, &b, 4);
      }
      break;
    }
    default:
      std::memcpy(dst, src, sizeof(float) * size_t(n));
  }
}

inline void round_row_bf16_scalar(float* x, int n) {
  for (int i = 0; i < n; ++i) {
    const uint32_t b = bf16_bits_rne(x[i]) << 16;
    std::memcpy(x + i, &b, 4);
  }
}

// One-float vector ops for gemm_tile_impl.h (the portable kernel's tile store).
struct F32x1 {
  using T = float;
  static constexpr int kWidth = 1;
  static T load(const float* p) { return *p; }
  static T loadu(const float* p) { return *p; }
  static void storeu(float* p, T x) { *p = x; }
  static T add(T a, T b) { return a + b; }
  static T set1(float x) { return x; }
};
