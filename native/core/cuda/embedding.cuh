// Embedding lookups: token/position tables (get_rows) and the sinusoidal timestep embedding.
#pragma once
#include "cuda_util.h"

namespace sd::cuda {

// y [rows, d] = table[ids[r]] (any float dtype, element (v, j) at v*s0 + j*s1); ids outside
// [0, vocab) read row 0, as on the CPU.
void launch_get_rows(cudaStream_t stream, const void* table, DType dtype, int64_t s0, int64_t s1, int64_t vocab,
                     const int32_t* ids, int64_t ids_stride, float* y, int64_t rows, int64_t d);

// y [batch, dim] = cat[cos(t·f), sin(t·f)], f_i = exp(-ln(max_period)·i/half), t[b] at t[b*t_stride].
void launch_timestep_embedding(cudaStream_t stream, const float* t, int64_t t_stride, float* y, int64_t batch,
                               int dim, float max_period);

}  // namespace sd::cuda
