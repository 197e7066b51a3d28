// Private to the gemm ISA translation units: portable versions of the row primitives that
// gemm_pack_impl.h needs. Included INSIDE a TU's anonymous namespace (internal linkage, the
// TU's own flags). Needs <cstdint> and <cstring> at file scope.

inline size_t dtype_size_local(DType t) { return t == DType::F32 ? 4 : 2; }

#include "../dtype_bits.h"  // f16_to_f32, f32_to_bf16, ...: this TU's own copies

inline void cvt_row_scalar(const void* src, DType dt, int n, float* dst) {
  switch (dt) {
    case DType::F16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      break;
    }
    case DType::BF16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      break;
    }
    default:
      std::memcpy(dst, src, sizeof(float) * size_t(n));
  }
}

inline void round_row_bf16_scalar(float* x, int n) {
  for (int i = 0; i < n; ++i) x[i] = f32_from_bits(f32_to_bf16_word(x[i]) << 16);
}

// One-float vector ops for gemm_tile_impl.h (the portable kernel's tile store).
#include "vec_acc.h"

struct F32x1 : VecAcc<float> {
  static A set1(float x) { return x; }
};
