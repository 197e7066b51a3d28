// Small helpers shared by the CPU op families: 4-d broadcast geometry and dtype casts.
#pragma once
#include <algorithm>
#include <cstdint>

#include "../geom4.h"
#include "../tensor.h"

namespace sd::cpu {

using sd::Geom4;
using sd::geom4;

inline float load_as_f32(const void* base, DType dt, int64_t i) {
  switch (dt) {
    case DType::F32: return static_cast<const float*>(base)[i];
    case DType::F16: return f16_to_f32(static_cast<const uint16_t*>(base)[i]);
    case DType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(base)[i]);
    case DType::I32: return float(static_cast<const int32_t*>(base)[i]);
    case DType::I64: return float(static_cast<const int64_t*>(base)[i]);
  }
  return 0;
}

// Contiguous f32 copy of a small float vector (biases, norm weights) of any float dtype.
inline void to_f32(const Tensor* t, float* dst) {
  Geom4 g = geom4(t);
  int64_t o = 0;
  for (int64_t a = 0; a < g.shape[0]; ++a)
    for (int64_t b = 0; b < g.shape[1]; ++b)
      for (int64_t c = 0; c < g.shape[2]; ++c)
        for (int64_t d = 0; d < g.shape[3]; ++d)
          dst[o++] = load_as_f32(t->data, t->dtype, a * g.stride[0] + b * g.stride[1] + c * g.stride[2] + d * g.stride[3]);
}

}  // namespace sd::cpu
