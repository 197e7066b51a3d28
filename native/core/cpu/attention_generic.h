// Private to the attention ISA TUs: portable (auto-vectorisable) inner loops for
// attention_impl.h. Included INSIDE a TU's anonymous namespace. Defining
// SD_ATTN_GENERIC_HELPERS_ONLY keeps only q_finalize, row_max and round_row_bf16.

inline void q_finalize(float*, int, int64_t, int) {}

#ifndef SD_ATTN_GENERIC_HELPERS_ONLY  // a TU with its own s_block / pv_block / exp_sub_row
// Inner loops have fixed trip counts (16 or 32 lanes over zero-padded rows) so that GCC
// vectorises them at -O2 (its "very cheap" cost model skips loops that need an epilogue).
void s_block(const float* __restrict q, int64_t ldq, const float* __restrict kt,
             float* __restrict s, int rows, int d, float scale) {
  for (int r = 0; r < rows; ++r) {
    for (int j0 = 0; j0 < kBlockK; j0 += 32) {
      float acc[32] = {};
      for (int x = 0; x < d; ++x) {
        const float qv = q[r * ldq + x];
        const float* __restrict kr = kt + x * kBlockK + j0;
        for (int j = 0; j < 32; ++j) acc[j] += qv * kr[j];
      }
      for (int j = 0; j < 32; ++j) s[r * kBlockK + j0 + j] = acc[j] * scale;
    }
  }
}

void pv_block(const float* __restrict p, const float* __restrict v, int64_t ldv,
              float* __restrict o, int64_t ldo, const float* alpha, int rows, int bk, int dv) {
  const int dvp = (dv + 15) / 16 * 16;  // o and v rows are zero-padded to this
  for (int r = 0; r < rows; ++r) {
    const float a = alpha[r];
    for (int x0 = 0; x0 < dvp; x0 += 16) {
      float acc[16];
      float* __restrict orow = o + r * ldo + x0;
      for (int x = 0; x < 16; ++x) acc[x] = orow[x] * a;
      for (int j = 0; j < bk; ++j) {
        const float pj = p[r * kBlockK + j];
        const float* __restrict vr = v + j * ldv + x0;
        for (int x = 0; x < 16; ++x) acc[x] += pj * vr[x];
      }
      for (int x = 0; x < 16; ++x) orow[x] = acc[x];
    }
  }
}

// Scalar float as the vector ops of attention_rows.h (for exp_reduced).
struct F32x1 {
  using A = float;
  static A set1(float x) { return x; }
  static A fmadd(A a, A b, A c) { return a * b + c; }
  static A fnmadd(A a, A b, A c) { return c - a * b; }
};

#include "attention_rows.h"  // exp_reduced

// exp(x) for x <= 0 without libm calls, written so the compiler vectorises the row loop:
// x = n ln2 + r, e^r by exp_reduced, 2^n via the exponent bits.
inline float exp_poly(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float n = __builtin_floorf(x * 1.44269504f + 0.5f);
  const float y = exp_reduced<F32x1>(x, n);
  const uint32_t bits = uint32_t(int32_t(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return y * scale;
}

// All kBlockK entries are computed (the caller zeroes those past n); only the first n summed.
float exp_sub_row(float* __restrict s, int n, float m) {
  float part[16] = {};
  for (int j0 = 0; j0 < kBlockK; j0 += 16) {
    for (int j = 0; j < 16; ++j) {
      const float e = exp_poly(s[j0 + j] - m);
      s[j0 + j] = e;
      part[j] += j0 + j < n ? e : 0.0f;
    }
  }
  float sum = 0.0f;
  for (int j = 0; j < 16; ++j) sum += part[j];
  return sum;
}

#endif  // SD_ATTN_GENERIC_HELPERS_ONLY

inline void round_row_bf16(float* x, int n) {
  for (int i = 0; i < n; ++i) {
    uint32_t b;
    std::memcpy(&b, x + i, 4);
    if ((b & 0x7fffffffu) > 0x7f800000u) {
      b |= 0x400000u;
    } else {
      b = (b + 0x7fffu + ((b >> 16) & 1u)) & 0xffff0000u;
    }
    std::memcpy(x + i, &b, 4);
  }
}

inline float row_max(const float* x, int n) {
  float mx = x[0];
  for (int j = 1; j < n; ++j) mx = x[j] > mx ? x[j] : mx;
  return mx;
}
