// Row kernels for the bandwidth-bound ops (activations, norms, softmax). The same source,
// vec_kernels.inc, is compiled once per ISA with that ISA's flags so the compiler vectorises it
// for each; the backend picks the table for the CPU it runs on.
#pragma once
#include <cstdint>

#include "isa.h"

namespace sd::cpu {

enum class Unary : int { Silu, Gelu, GeluTanh, QuickGelu };
enum class Binary : int { Add, Mul };

struct VecKernels {
  void (*unary)(Unary op, const float* x, float* y, int64_t n);
  // y[i] = a[i*a_step] (op) b[i*b_step], steps 0 (broadcast) or 1
  void (*binary)(Binary op, const float* a, int64_t a_step, const float* b, int64_t b_step, float* y, int64_t n);
  void (*scale)(const float* x, float* y, int64_t n, float s, float bias);
  void (*geglu)(const float* x, float* y, int64_t f);  // x [2f] -> y [f]
  // mean and variance (population) of n values, accumulated in double across blocks
  void (*moments)(const float* x, int64_t n, double* mean, double* var);
  // y = x*mul + add, then SiLU if silu
  void (*affine)(const float* x, float* y, int64_t n, float mul, float add, bool silu);
  void (*layer_norm)(const float* x, float* y, int64_t n, const float* gamma, const float* beta, float eps);
  void (*softmax)(const float* x, float* y, int64_t n, float scale);
  // f16 bit patterns to f32, exactly as f16_to_f32 (subnormals, inf and NaN included)
  void (*f16_to_f32)(const uint16_t* src, float* dst, int64_t n);
};

const VecKernels& vec_kernels(Isa isa);

}  // namespace sd::cpu
