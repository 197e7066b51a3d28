// Element types the core understands, and the scalar conversions every backend shares.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sd {

enum class DType : uint8_t { F32, F16, BF16, I32, I64 };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::I32: return 4;
    case DType::I64: return 8;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
    case DType::I32: return "i32";
    case DType::I64: return "i64";
  }
  return "?";
}

#include "dtype_bits.h"  // bf16_to_f32, f32_to_bf16, f16_to_f32, f32_to_f16

// Element i of a float tensor (f32, f16 or bf16) as f32, from bytes at any alignment (safetensors
// does not align tensor data, so typed pointers into a mapped file would be undefined behaviour).
inline float load_as_f32(const void* data, DType t, size_t i) {
  const uint8_t* p = static_cast<const uint8_t*>(data) + i * dtype_size(t);
  if (t == DType::F32) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, p, 2);
  return t == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
}

}  // namespace sd
