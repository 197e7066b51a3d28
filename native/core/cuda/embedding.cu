// get_rows and timestep_embedding: small gathers, one thread per output element.
#include "common.cuh"
#include "embedding.cuh"

namespace sd::cuda {
namespace {

constexpr int kThreads = 256;

template <DType D>
__global__ void get_rows_kernel(const void* __restrict__ table, int64_t s0, int64_t s1, int64_t vocab,
                                const int32_t* __restrict__ ids, int64_t ids_stride, float* __restrict__ y, int64_t n,
                                int64_t d) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / d, j = i - r * d;
    int64_t id = ids[r * ids_stride];
    if (id < 0 || id >= vocab) id = 0;  // ids are validated by the caller; never read outside the table
    y[i] = load_f<D>(table, id * s0 + j * s1);
  }
}

__global__ void timestep_kernel(const float* __restrict__ t, int64_t t_stride, float* __restrict__ y, int64_t batch,
                                int dim, float max_period) {
  const int half = dim / 2;
  const int64_t n = batch * half;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = i / half;
    const int j = int(i - b * half);
    // Same f32 evaluation order as the CPU backend and the reference implementations.
    const float freq = expf(-logf(max_period) * float(j) / float(half));
    const float arg = t[b * t_stride] * freq;
    y[b * dim + j] = cosf(arg);
    y[b * dim + half + j] = sinf(arg);
  }
}

}  // namespace

void launch_get_rows(cudaStream_t st, const void* table, DType dt, int64_t s0, int64_t s1, int64_t vocab,
                     const int32_t* ids, int64_t ids_stride, float* y, int64_t rows, int64_t d) {
  const int64_t n = rows * d;
  if (n <= 0) return;
  const unsigned grid = grid_for(n, kThreads);
  switch (dt) {
    case DType::F32: get_rows_kernel<DType::F32><<<grid, kThreads, 0, st>>>(table, s0, s1, vocab, ids, ids_stride, y, n, d); break;
    case DType::F16: get_rows_kernel<DType::F16><<<grid, kThreads, 0, st>>>(table, s0, s1, vocab, ids, ids_stride, y, n, d); break;
    case DType::BF16: get_rows_kernel<DType::BF16><<<grid, kThreads, 0, st>>>(table, s0, s1, vocab, ids, ids_stride, y, n, d); break;
    default: throw_cuda_error(cudaErrorInvalidValue, "get_rows: table must be f32, f16 or bf16", __FILE__, __LINE__);
  }
  SD_CUDA_CHECK_LAUNCH("get_rows_kernel");
}

void launch_timestep_embedding(cudaStream_t st, const float* t, int64_t t_stride, float* y, int64_t batch, int dim,
                               float max_period) {
  const int64_t n = batch * (dim / 2);
  if (n <= 0) return;
  timestep_kernel<<<grid_for(n, kThreads), kThreads, 0, st>>>(t, t_stride, y, batch, dim, max_period);
  SD_CUDA_CHECK_LAUNCH("timestep_kernel");
}

}  // namespace sd::cuda
