// Private to the NEON gemm TUs: row primitives for gemm_pack_impl.h (cvt_row, round_row_bf16),
// the vector ops for gemm_tile_impl.h and the 4x4 transposes the k-major packers use. Included
// INSIDE the TU's anonymous namespace after <arm_neon.h>, <cstdint>, <cstring> and
// gemm_scalar_prims.h.

// Four f32, f16 or bf16 values as f32 (f16 widening is baseline AArch64: FCVTL).
inline float32x4_t load4(const void* src, DType dt) {
  switch (dt) {
    case DType::F16:
      return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(static_cast<const uint16_t*>(src))));
    case DType::BF16:
      return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(static_cast<const uint16_t*>(src)), 16));
    default:
      return vld1q_f32(static_cast<const float*>(src));
  }
}

void cvt_row(const void* src, DType dt, int n, float* dst) {
  if (dt == DType::F32) {
    std::memcpy(dst, src, sizeof(float) * size_t(n));
    return;
  }
  const uint16_t* s = static_cast<const uint16_t*>(src);
  int i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, load4(s + i, dt));
  if (i < n) cvt_row_scalar(s + i, dt, n - i, dst + i);
}

// Round to nearest even to bf16 as f32 bits (low half zero); NaN kept, made quiet, as
// f32_to_bf16 in dtype.h does.
inline uint32x4_t bf16_round_bits(float32x4_t x) {
  const uint32x4_t b = vreinterpretq_u32_f32(x);
  const uint32x4_t lsb = vandq_u32(vshrq_n_u32(b, 16), vdupq_n_u32(1));
  uint32x4_t r = vaddq_u32(b, vaddq_u32(lsb, vdupq_n_u32(0x7fff)));
  const uint32x4_t nan = vmvnq_u32(vceqq_f32(x, x));
  r = vbslq_u32(nan, vorrq_u32(b, vdupq_n_u32(0x400000)), r);
  return vandq_u32(r, vdupq_n_u32(0xffff0000u));
}

inline float32x4_t round_bf16_vec(float32x4_t x) { return vreinterpretq_f32_u32(bf16_round_bits(x)); }

// Four bf16 words (rounded to nearest even) of four floats.
inline uint16x4_t bf16_narrow(float32x4_t x) { return vshrn_n_u32(bf16_round_bits(x), 16); }

[[maybe_unused]] void round_row_bf16(float* x, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(x + i, round_bf16_vec(vld1q_f32(x + i)));
  if (i < n) round_row_bf16_scalar(x + i, n - i);
}

// r[i] lane j -> r[j] lane i.
inline void transpose4(float32x4_t r[4]) {
  const float32x4x2_t t01 = vtrnq_f32(r[0], r[1]), t23 = vtrnq_f32(r[2], r[3]);
  r[0] = vcombine_f32(vget_low_f32(t01.val[0]), vget_low_f32(t23.val[0]));
  r[1] = vcombine_f32(vget_low_f32(t01.val[1]), vget_low_f32(t23.val[1]));
  r[2] = vcombine_f32(vget_high_f32(t01.val[0]), vget_high_f32(t23.val[0]));
  r[3] = vcombine_f32(vget_high_f32(t01.val[1]), vget_high_f32(t23.val[1]));
}

// Four-float vector ops for gemm_tile_impl.h.
struct F32x4 : VecAcc<float32x4_t> {
  static A set1(float x) { return vdupq_n_f32(x); }
};
