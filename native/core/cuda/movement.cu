// Concat and nearest upsampling: one thread per output element, sources read through strides.
#include "common.cuh"
#include "movement.cuh"

namespace sd::cuda {
namespace {

constexpr int kThreads = 256;

template <typename I>
__device__ __forceinline__ I axis_index(const Idx4<I>& c, int axis) {
  return axis == 0 ? c.i0 : axis == 1 ? c.i1 : axis == 2 ? c.i2 : c.i3;
}

template <typename I>
__global__ void concat_kernel(const float* __restrict__ a, Geom4 ga, const float* __restrict__ b, Geom4 gb,
                              float* __restrict__ y, Geom4 gy, int axis, int64_t len_a, I n) {
  for (I i = I(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += I(gridDim.x) * blockDim.x) {
    const Idx4<I> c = unravel(i, gy);
    if (int64_t(axis_index(c, axis)) < len_a) y[i] = a[offset_of(c, ga)];
    else y[i] = b[offset_of(c, gb) - len_a * gb.stride[axis]];  // index along the axis minus len_a
  }
}

template <typename I>
__global__ void upsample2x_kernel(const float* __restrict__ x, Geom4 gx, float* __restrict__ y, Geom4 gy, I n) {
  for (I i = I(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += I(gridDim.x) * blockDim.x) {
    Idx4<I> c = unravel(i, gy);
    c.i2 /= 2;
    c.i3 /= 2;
    y[i] = x[offset_of(c, gx)];
  }
}

}  // namespace

void launch_concat(cudaStream_t st, const float* a, const Geom4& ga, const float* b, const Geom4& gb, float* y,
                   const Geom4& gy, int axis, int64_t len_a, int64_t n) {
  launch_elements(n, kThreads, "concat_kernel", [&](unsigned grid, auto count) {
    concat_kernel<decltype(count)><<<grid, kThreads, 0, st>>>(a, ga, b, gb, y, gy, axis, len_a, count);
  });
}

void launch_upsample2x(cudaStream_t st, const float* x, const Geom4& gx, float* y, const Geom4& gy, int64_t n) {
  launch_elements(n, kThreads, "upsample2x_kernel", [&](unsigned grid, auto count) {
    upsample2x_kernel<decltype(count)><<<grid, kThreads, 0, st>>>(x, gx, y, gy, count);
  });
}

}  // namespace sd::cuda
