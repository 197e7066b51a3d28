// Host-side helpers shared by the CUDA backend and the kernel launchers: error checks, device
// capabilities, 4-d broadcast geometry, launch sizes. Safe to include from plain C++ (.cpp).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "../dtype.h"
#include "../geom4.h"
#include "../tensor.h"

namespace sd::cuda {

// Throws sd::Error with the CUDA message and what to do about it (runtime.cu).
[[noreturn]] void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line);

#define SD_CUDA_CHECK(call)                                                               \
  do {                                                                                    \
    cudaError_t sd_cuda_err_ = (call);                                                    \
    if (sd_cuda_err_ != cudaSuccess) ::sd::cuda::throw_cuda_error(sd_cuda_err_, #call, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: configuration errors show up here, faults at the next sync.
#define SD_CUDA_CHECK_LAUNCH(kernel_name)                                                 \
  do {                                                                                    \
    cudaError_t sd_cuda_err_ = cudaGetLastError();                                        \
    if (sd_cuda_err_ != cudaSuccess) ::sd::cuda::throw_cuda_error(sd_cuda_err_, kernel_name, __FILE__, __LINE__); \
  } while (0)

// What the kernels need to know about the device they run on.
struct DeviceCaps {
  int cc_major = 0, cc_minor = 0, sm_count = 1;
  size_t smem_optin = 48 * 1024;  // largest dynamic shared memory a block may opt into
};

using sd::Geom4;
using sd::geom4;

// Grid size for a grid-stride loop over n items (n > 0).
inline unsigned grid_for(int64_t n, int threads, int64_t max_blocks = int64_t(1) << 20) {
  int64_t b = (n + threads - 1) / threads;
  return unsigned(b < max_blocks ? b : max_blocks);
}

// Launches a grid-stride kernel over n elements (nothing when n <= 0) and checks the launch:
// launch(grid, count) gets the count as uint32_t when it fits in 31 bits (cheaper index
// arithmetic in the kernel), else as int64_t, and picks its kernel from decltype(count).
template <class Launch>
inline void launch_elements(int64_t n, int threads, const char* kernel_name, Launch&& launch) {
  if (n <= 0) return;
  const unsigned grid = grid_for(n, threads);
  if (n < (int64_t(1) << 31)) launch(grid, uint32_t(n));
  else launch(grid, n);
  SD_CUDA_CHECK_LAUNCH(kernel_name);
}

}  // namespace sd::cuda
