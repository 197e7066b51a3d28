// Elementwise kernels: numpy-broadcast add/mul, the unary activations (also the strided
// copy / dtype cast every other family uses), geglu.
#pragma once
#include "cuda_util.h"

namespace sd::cuda {

enum class Unary { Copy, Scale, Silu, Gelu, GeluTanh, QuickGelu, Relu, TanhClamp };

// y (contiguous f32, shape gy) = op(x), x read through its own strides (gx, same shape).
// Copy accepts any float dtype for x (a cast to f32); the activations need f32.
void launch_unary(cudaStream_t stream, Unary op, const void* x, DType x_dtype, const Geom4& gx, float* y,
                  const Geom4& gy, int64_t n, float scale = 1.0f, float bias = 0.0f);

// y (contiguous, shape gy) = a (f32) + or * b (any float dtype), both broadcast to gy.
void launch_binary(cudaStream_t stream, bool mul, const float* a, const Geom4& ga, const void* b, DType b_dtype,
                   const Geom4& gb, float* y, const Geom4& gy, int64_t n);

// y [..., f] = x[..., :f] * gelu(x[..., f:]); gx is x's geometry with its last dim set to f.
void launch_geglu(cudaStream_t stream, const float* x, const Geom4& gx, float* y, const Geom4& gy, int64_t n);

}  // namespace sd::cuda
