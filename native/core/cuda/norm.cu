// Normalisations. Statistics are accumulated the way the CPU backend does it: float partial
// sums of values shifted by the first element (small even when the mean dwarfs the spread),
// combined in double. Group norm splits each group over several blocks so a 512² VAE's
// 10^6-element groups do not run on 32 blocks only.
#include "common.cuh"
#include "norm.cuh"

namespace sd::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void softmax_kernel(const float* x, float* y, int64_t rows, int64_t n, float scale, int64_t causal_offset) {
  __shared__ float red_f[32];
  __shared__ double red_d[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    int64_t valid = n;
    if (causal_offset >= 0 && causal_offset + r + 1 < n) valid = causal_offset + r + 1;
    float mx = -INFINITY;
    for (int64_t j = threadIdx.x; j < valid; j += blockDim.x) mx = fmaxf(mx, xr[j] * scale);
    mx = block_max(mx, red_f);
    float s = 0.0f;
    for (int64_t j = threadIdx.x; j < valid; j += blockDim.x) s += expf(xr[j] * scale - mx);
    const double total = block_sum(double(s), red_d);
    const float inv = float(1.0 / total);
    // Each thread reads then writes its own elements: in place is safe.
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) yr[j] = j < valid ? expf(xr[j] * scale - mx) * inv : 0.0f;
  }
}

__global__ void layer_norm_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t rows, int64_t n,
                                  const float* __restrict__ gamma, const float* __restrict__ beta, float eps) {
  __shared__ double red[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    const float shift = xr[0];
    float s = 0.0f;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) s += xr[j] - shift;
    const double mean = double(shift) + block_sum(double(s), red) / double(n);
    const float m = float(mean);
    float v = 0.0f;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
      const float d = xr[j] - m;
      v += d * d;
    }
    const double var = block_sum(double(v), red) / double(n);
    const float rstd = float(1.0 / sqrt(var + double(eps)));
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
      float o = (xr[j] - m) * rstd;
      if (gamma) o *= gamma[j];
      if (beta) o += beta[j];
      yr[j] = o;
    }
  }
}

// Pass 1: block `split` of group bg sums (x - shift) and (x - shift)² over its chunk.
__global__ void group_norm_partial_kernel(const float* __restrict__ x, int64_t span, int64_t chunk, int splits,
                                          double* __restrict__ partial) {
  __shared__ double red[32];
  const int64_t bg = blockIdx.x / splits;
  const int split = int(blockIdx.x % splits);
  const float* g = x + bg * span;
  const float shift = g[0];
  const int64_t begin = int64_t(split) * chunk;
  const int64_t end = begin + chunk < span ? begin + chunk : span;
  float s = 0.0f, ss = 0.0f;
  for (int64_t j = begin + threadIdx.x; j < end; j += blockDim.x) {
    const float d = g[j] - shift;
    s += d;
    ss += d * d;
  }
  const double ts = block_sum(double(s), red);
  const double tss = block_sum(double(ss), red);
  if (threadIdx.x == 0) {
    partial[2 * blockIdx.x] = ts;
    partial[2 * blockIdx.x + 1] = tss;
  }
}

// Pass 2: mean and 1/std per (image, group).
__global__ void group_norm_stats_kernel(const float* __restrict__ x, int64_t span, int splits, int64_t count,
                                        const double* __restrict__ partial, float* __restrict__ stats, float eps) {
  for (int64_t bg = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; bg < count; bg += int64_t(gridDim.x) * blockDim.x) {
    double s = 0, ss = 0;
    for (int i = 0; i < splits; ++i) {
      s += partial[2 * (bg * splits + i)];
      ss += partial[2 * (bg * splits + i) + 1];
    }
    const double mu = s / double(span);  // mean of the shifted values
    double var = ss / double(span) - mu * mu;
    if (var < 0) var = 0;
    stats[2 * bg] = float(double(x[bg * span]) + mu);
    stats[2 * bg + 1] = float(1.0 / sqrt(var + double(eps)));
  }
}

// Pass 3: y = x·(γ·rstd) + (β − mean·γ·rstd), one affine per channel, SiLU fused.
template <typename I, bool SILU>
__global__ void group_norm_apply_kernel(const float* __restrict__ x, float* __restrict__ y, I channels, I per_group,
                                        I spatial, I n, const float* __restrict__ stats, const float* __restrict__ gamma,
                                        const float* __restrict__ beta) {
  for (I i = I(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += I(gridDim.x) * blockDim.x) {
    const I bc = i / spatial;
    const I b = bc / channels, c = bc - b * channels;
    const I bg = b * (channels / per_group) + c / per_group;
    const float mean = stats[2 * int64_t(bg)], rstd = stats[2 * int64_t(bg) + 1];
    const float mul = gamma ? gamma[c] * rstd : rstd;
    const float add = (beta ? beta[c] : 0.0f) - mean * mul;
    float v = x[i] * mul + add;
    if (SILU) v = v / (1.0f + expf(-v));
    y[i] = v;
  }
}

struct GroupPlan {
  int64_t span, chunk, count;
  int splits;
};

GroupPlan plan_groups(int64_t batch, int64_t groups, int64_t channels, int64_t spatial) {
  GroupPlan p;
  p.span = channels / groups * spatial;
  p.count = batch * groups;
  // Chunks of >= 8192 elements, at most 256 blocks per group.
  p.chunk = p.span / 256 + 1 > 8192 ? p.span / 256 + 1 : 8192;
  p.splits = int((p.span + p.chunk - 1) / p.chunk);
  if (p.splits < 1) p.splits = 1;
  return p;
}

}  // namespace

void launch_softmax(cudaStream_t st, const float* x, float* y, int64_t rows, int64_t n, float scale, int64_t causal_offset) {
  if (rows <= 0 || n <= 0) return;
  softmax_kernel<<<unsigned(rows < (1 << 20) ? rows : (1 << 20)), kThreads, 0, st>>>(x, y, rows, n, scale, causal_offset);
  SD_CUDA_CHECK_LAUNCH("softmax_kernel");
}

void launch_layer_norm(cudaStream_t st, const float* x, float* y, int64_t rows, int64_t n, const float* gamma,
                       const float* beta, float eps) {
  if (rows <= 0 || n <= 0) return;
  const int threads = n <= 256 ? 64 : (n <= 1024 ? 128 : kThreads);
  layer_norm_kernel<<<unsigned(rows < (1 << 20) ? rows : (1 << 20)), threads, 0, st>>>(x, y, rows, n, gamma, beta, eps);
  SD_CUDA_CHECK_LAUNCH("layer_norm_kernel");
}

size_t group_norm_scratch_bytes(int64_t batch, int64_t groups, int64_t channels, int64_t spatial) {
  const GroupPlan p = plan_groups(batch, groups, channels, spatial);
  return size_t(p.count) * size_t(p.splits) * 2 * sizeof(double) + size_t(p.count) * 2 * sizeof(float);
}

void launch_group_norm(cudaStream_t st, const float* x, float* y, int64_t batch, int64_t channels, int64_t spatial,
                       int64_t groups, const float* gamma, const float* beta, float eps, bool silu, void* scratch) {
  const int64_t n = batch * channels * spatial;
  if (n <= 0) return;
  const GroupPlan p = plan_groups(batch, groups, channels, spatial);
  double* partial = static_cast<double*>(scratch);
  float* stats = reinterpret_cast<float*>(partial + p.count * p.splits * 2);
  group_norm_partial_kernel<<<unsigned(p.count * p.splits), kThreads, 0, st>>>(x, p.span, p.chunk, p.splits, partial);
  SD_CUDA_CHECK_LAUNCH("group_norm_partial_kernel");
  group_norm_stats_kernel<<<grid_for(p.count, 128), 128, 0, st>>>(x, p.span, p.splits, p.count, partial, stats, eps);
  SD_CUDA_CHECK_LAUNCH("group_norm_stats_kernel");
  const int64_t per_group = channels / groups;
  launch_elements(n, kThreads, "group_norm_apply_kernel", [&](unsigned grid, auto count) {
    using I = decltype(count);
    if (silu) group_norm_apply_kernel<I, true><<<grid, kThreads, 0, st>>>(x, y, I(channels), I(per_group), I(spatial), count, stats, gamma, beta);
    else group_norm_apply_kernel<I, false><<<grid, kThreads, 0, st>>>(x, y, I(channels), I(per_group), I(spatial), count, stats, gamma, beta);
  });
}

}  // namespace sd::cuda
