// Device-side helpers shared by the CUDA kernels: element loads for every float dtype, 4-d
// index arithmetic, warp/block reductions. Only for .cu files (launchers declare host functions
// in their .cuh, which include cuda_util.h instead).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda_util.h"

namespace sd::cuda {

template <DType D>
__device__ __forceinline__ float load_f(const void* p, int64_t i) {
  if constexpr (D == DType::F32) return static_cast<const float*>(p)[i];
  else if constexpr (D == DType::F16) return __half2float(static_cast<const __half*>(p)[i]);
  else return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
}

// Index of element i of a row-major 4-d shape, in 32-bit arithmetic when I is 32-bit.
template <typename I>
struct Idx4 {
  I i0, i1, i2, i3;
};

template <typename I>
__device__ __forceinline__ Idx4<I> unravel(I i, const Geom4& g) {
  const I s3 = I(g.shape[3]), s2 = I(g.shape[2]), s1 = I(g.shape[1]);
  Idx4<I> r;
  r.i3 = i % s3;
  i /= s3;
  r.i2 = i % s2;
  i /= s2;
  r.i1 = i % s1;
  r.i0 = i / s1;
  return r;
}

template <typename I>
__device__ __forceinline__ int64_t offset_of(const Idx4<I>& x, const Geom4& g) {
  return int64_t(x.i0) * g.stride[0] + int64_t(x.i1) * g.stride[1] + int64_t(x.i2) * g.stride[2] +
         int64_t(x.i3) * g.stride[3];
}

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Block-wide sum/max; every thread gets the result. blockDim.x must be a multiple of 32;
// `scratch` holds 32 values and may be reused by the next call.
template <typename T>
__device__ __forceinline__ T block_sum(T v, T* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // a previous call may still be reading scratch
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : T(0);
  return warp_sum(v);
}

__device__ __forceinline__ float block_max(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : -INFINITY;
  return warp_max(v);
}

}  // namespace sd::cuda
