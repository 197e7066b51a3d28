// Data movement: concat along one axis and nearest 2x upsampling, both reading strided views.
// (Contiguous copies are launch_unary(Unary::Copy) in elementwise.cuh.)
#pragma once
#include "cuda_util.h"

namespace sd::cuda {

// y (contiguous, shape gy) = cat(a, b) along axis4 (an axis of the right-aligned 4-d geometry);
// len_a is a's extent along it.
void launch_concat(cudaStream_t stream, const float* a, const Geom4& ga, const float* b, const Geom4& gb, float* y,
                   const Geom4& gy, int axis4, int64_t len_a, int64_t n);

// y [N, C, 2H, 2W] (contiguous) = x[n, c, oy/2, ox/2], x [N, C, H, W] with strides gx.
void launch_upsample2x(cudaStream_t stream, const float* x, const Geom4& gx, float* y, const Geom4& gy, int64_t n);

}  // namespace sd::cuda
