// Softmax, layer norm and group norm (with fused SiLU) over contiguous f32 data.
#pragma once
#include "cuda_util.h"

namespace sd::cuda {

// y[r, :] = softmax(scale · x[r, :]) for rows × n. With causal_offset >= 0, row r only sees
// columns j <= causal_offset + r (the rest become 0): the attention fallback's causal mask.
// y may equal x.
void launch_softmax(cudaStream_t stream, const float* x, float* y, int64_t rows, int64_t n, float scale,
                    int64_t causal_offset = -1);

// Over the last axis (n); gamma/beta are contiguous f32 [n] or null.
void launch_layer_norm(cudaStream_t stream, const float* x, float* y, int64_t rows, int64_t n, const float* gamma,
                       const float* beta, float eps);

// Scratch the group norm needs (device memory, any alignment of 8 bytes).
size_t group_norm_scratch_bytes(int64_t batch, int64_t groups, int64_t channels, int64_t spatial);
// x [batch, channels, spatial...] contiguous; gamma/beta contiguous f32 [channels] or null.
void launch_group_norm(cudaStream_t stream, const float* x, float* y, int64_t batch, int64_t channels,
                       int64_t spatial, int64_t groups, const float* gamma, const float* beta, float eps, bool silu,
                       void* scratch);

}  // namespace sd::cuda
