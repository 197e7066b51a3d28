// Elementwise kernels. Bandwidth-bound: one grid-stride loop per op, 32-bit index arithmetic
// whenever the tensor has fewer than 2^31 elements, a contiguous fast path with no index math.
#include "common.cuh"
#include "elementwise.cuh"

namespace sd::cuda {
namespace {

constexpr int kThreads = 256;
constexpr float kSqrtHalf = 0.70710678118654752f;
constexpr float kSqrt2OverPi = 0.79788456080286536f;

template <Unary OP>
__device__ __forceinline__ float apply(float x, float s, float b) {
  if constexpr (OP == Unary::Copy) return x;
  else if constexpr (OP == Unary::Scale) return x * s + b;
  else if constexpr (OP == Unary::Silu) return x / (1.0f + expf(-x));
  // 1 + erf(z) = erfc(-z): no cancellation for negative inputs.
  else if constexpr (OP == Unary::Gelu) return 0.5f * x * erfcf(-x * kSqrtHalf);
  // 1 + tanh(u) = 2 / (1 + exp(-2u)).
  else if constexpr (OP == Unary::GeluTanh) return x / (1.0f + expf(-2.0f * kSqrt2OverPi * (x + 0.044715f * x * x * x)));
  else if constexpr (OP == Unary::Relu) return x < 0.0f ? 0.0f : x;
  else if constexpr (OP == Unary::TanhClamp) return tanhf(x / s) * s;
  else return x / (1.0f + expf(-1.702f * x));  // QuickGelu
}

template <Unary OP, DType D, bool CONTIG, typename I>
__global__ void unary_kernel(const void* __restrict__ x, Geom4 gx, Geom4 gy, float* __restrict__ y, I n, float s, float b) {
  for (I i = I(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += I(gridDim.x) * blockDim.x) {
    const int64_t off = CONTIG ? int64_t(i) : offset_of(unravel(i, gy), gx);
    y[i] = apply<OP>(load_f<D>(x, off), s, b);
  }
}

template <bool MUL, DType DB, typename I>
__global__ void binary_kernel(const float* __restrict__ a, Geom4 ga, const void* __restrict__ b, Geom4 gb,
                              float* __restrict__ y, Geom4 gy, I n) {
  for (I i = I(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += I(gridDim.x) * blockDim.x) {
    const Idx4<I> idx = unravel(i, gy);
    const float av = a[offset_of(idx, ga)];
    const float bv = load_f<DB>(b, offset_of(idx, gb));
    y[i] = MUL ? av * bv : av + bv;
  }
}

template <bool MUL>
__global__ void binary_dense_kernel(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ y, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = MUL ? a[i] * b[i] : a[i] + b[i];
}

template <typename I>
__global__ void geglu_kernel(const float* __restrict__ x, Geom4 gx, float* __restrict__ y, Geom4 gy, I n) {
  const int64_t gate = gy.shape[3] * gx.stride[3];  // the second half of the last axis
  for (I i = I(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += I(gridDim.x) * blockDim.x) {
    const int64_t off = offset_of(unravel(i, gy), gx);
    const float g = x[off + gate];
    y[i] = x[off] * (0.5f * g * erfcf(-g * kSqrtHalf));
  }
}

bool is_dense(const Geom4& g) {
  int64_t expect = 1;
  for (int i = 3; i >= 0; --i) {
    if (g.shape[i] != 1 && g.stride[i] != expect) return false;
    expect *= g.shape[i];
  }
  return true;
}

bool same_shape(const Geom4& a, const Geom4& b) {
  for (int i = 0; i < 4; ++i)
    if (a.shape[i] != b.shape[i]) return false;
  return true;
}

template <Unary OP, DType D>
void unary_typed(cudaStream_t st, const void* x, const Geom4& gx, float* y, const Geom4& gy, int64_t n, float s, float b) {
  const bool contig = is_dense(gx);
  launch_elements(n, kThreads, "unary_kernel", [&](unsigned grid, auto count) {
    using I = decltype(count);
    if (contig) unary_kernel<OP, D, true, I><<<grid, kThreads, 0, st>>>(x, gx, gy, y, count, s, b);
    else unary_kernel<OP, D, false, I><<<grid, kThreads, 0, st>>>(x, gx, gy, y, count, s, b);
  });
}

template <bool MUL, DType DB>
void binary_typed(cudaStream_t st, const float* a, const Geom4& ga, const void* b, const Geom4& gb, float* y,
                  const Geom4& gy, int64_t n) {
  launch_elements(n, kThreads, "binary_kernel", [&](unsigned grid, auto count) {
    binary_kernel<MUL, DB, decltype(count)><<<grid, kThreads, 0, st>>>(a, ga, b, gb, y, gy, count);
  });
}

template <bool MUL>
void binary_mul(cudaStream_t st, const float* a, const Geom4& ga, const void* b, DType bt, const Geom4& gb, float* y,
                const Geom4& gy, int64_t n) {
  if (bt == DType::F32 && is_dense(ga) && is_dense(gb) && same_shape(ga, gy) && same_shape(gb, gy)) {
    binary_dense_kernel<MUL><<<grid_for(n, kThreads), kThreads, 0, st>>>(a, static_cast<const float*>(b), y, n);
    SD_CUDA_CHECK_LAUNCH("binary_dense_kernel");
    return;
  }
  switch (bt) {
    case DType::F32: return binary_typed<MUL, DType::F32>(st, a, ga, b, gb, y, gy, n);
    case DType::F16: return binary_typed<MUL, DType::F16>(st, a, ga, b, gb, y, gy, n);
    case DType::BF16: return binary_typed<MUL, DType::BF16>(st, a, ga, b, gb, y, gy, n);
    default: throw_cuda_error(cudaErrorInvalidValue, "binary op: operand must be f32, f16 or bf16", __FILE__, __LINE__);
  }
}

}  // namespace

void launch_unary(cudaStream_t st, Unary op, const void* x, DType xt, const Geom4& gx, float* y, const Geom4& gy,
                  int64_t n, float s, float b) {
  if (n <= 0) return;
  if (op == Unary::Copy) {
    switch (xt) {
      case DType::F32: return unary_typed<Unary::Copy, DType::F32>(st, x, gx, y, gy, n, s, b);
      case DType::F16: return unary_typed<Unary::Copy, DType::F16>(st, x, gx, y, gy, n, s, b);
      case DType::BF16: return unary_typed<Unary::Copy, DType::BF16>(st, x, gx, y, gy, n, s, b);
      default: throw_cuda_error(cudaErrorInvalidValue, "copy: source must be f32, f16 or bf16", __FILE__, __LINE__);
    }
  }
  if (xt != DType::F32) throw_cuda_error(cudaErrorInvalidValue, "activation input must be f32", __FILE__, __LINE__);
  switch (op) {
    case Unary::Scale: return unary_typed<Unary::Scale, DType::F32>(st, x, gx, y, gy, n, s, b);
    case Unary::Silu: return unary_typed<Unary::Silu, DType::F32>(st, x, gx, y, gy, n, s, b);
    case Unary::Gelu: return unary_typed<Unary::Gelu, DType::F32>(st, x, gx, y, gy, n, s, b);
    case Unary::GeluTanh: return unary_typed<Unary::GeluTanh, DType::F32>(st, x, gx, y, gy, n, s, b);
    case Unary::QuickGelu: return unary_typed<Unary::QuickGelu, DType::F32>(st, x, gx, y, gy, n, s, b);
    case Unary::Relu: return unary_typed<Unary::Relu, DType::F32>(st, x, gx, y, gy, n, s, b);
    case Unary::TanhClamp: return unary_typed<Unary::TanhClamp, DType::F32>(st, x, gx, y, gy, n, s, b);
    case Unary::Copy: break;
  }
}

void launch_binary(cudaStream_t st, bool mul, const float* a, const Geom4& ga, const void* b, DType bt, const Geom4& gb,
                   float* y, const Geom4& gy, int64_t n) {
  if (n <= 0) return;
  if (mul) binary_mul<true>(st, a, ga, b, bt, gb, y, gy, n);
  else binary_mul<false>(st, a, ga, b, bt, gb, y, gy, n);
}

void launch_geglu(cudaStream_t st, const float* x, const Geom4& gx, float* y, const Geom4& gy, int64_t n) {
  launch_elements(n, kThreads, "geglu_kernel", [&](unsigned grid, auto count) {
    geglu_kernel<decltype(count)><<<grid, kThreads, 0, st>>>(x, gx, y, gy, count);
  });
}

}  // namespace sd::cuda
