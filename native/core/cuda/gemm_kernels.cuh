// The matrix-product kernels shared by gemm.cu (linear, matmul, attention fallback) and conv.cu
// (implicit GEMM):
//
//   C[z, m, n] = sum_k A[z, m, k] * B[z, n, k]  (+ bias_m[m]) (+ bias_n[n]) (+ residual)
//
// A and B are "sources": logical [rows, K] matrices read with bounds checks (zero outside), so
// every kernel handles any M, N, K. A source is dense with k contiguous (weights [out, in],
// activations), dense with rows contiguous (V in P·V), or an on-the-fly im2col view of an NCHW
// image (conv). The epilogue maps (z, m, n) to memory and adds bias and residual.
//
// Three kernels over the same sources:
//   gemm_reference  one thread per output, double accumulation (the yardstick for tests)
//   gemm_simt       128×128×8 tiles, 256 threads with 8×8 register blocks, f32 FMA,
//                   register-staged double buffering (one barrier per k-step)
//   gemm_wmma       128×128×32 tiles, 8 warps of 64×32, WMMA 16×16×16 bf16/f16 with f32
//                   accumulators (sm_80+), the same double buffering
#pragma once
#include <mma.h>

#include <type_traits>

#include "common.cuh"

namespace sd::cuda::gemm_detail {

// ---- sources ------------------------------------------------------------------------------

// Element (r, k) of batch z: DenseK at p[z*batch_stride + r*ld + k] (k contiguous), DenseN at
// p[z*batch_stride + k*ld + r] (rows contiguous). Threads walk the contiguous axis (coalesced).
template <DType D, bool RowFastest>
struct Dense {
  static constexpr bool kRowFastest = RowFastest;
  const void* p;
  int64_t ld, batch_stride;
  int rows, K;
  struct Ctx {
    int64_t off;
    bool ok;
  };
  __device__ __forceinline__ Ctx ctx(int z, int r) const {
    if constexpr (RowFastest) return {int64_t(z) * batch_stride + r, r < rows};
    else return {int64_t(z) * batch_stride + int64_t(r) * ld, r < rows};
  }
  __device__ __forceinline__ float at(const Ctx& c, int k) const {
    if constexpr (RowFastest) return (c.ok && k < K) ? load_f<D>(p, c.off + int64_t(k) * ld) : 0.0f;
    else return (c.ok && k < K) ? load_f<D>(p, c.off + k) : 0.0f;
  }
};
template <DType D>
using DenseK = Dense<D, false>;
template <DType D>
using DenseN = Dense<D, true>;

// B[n, k] of a convolution: n = image·out_h·out_w + oy·out_w + ox, k = (c·kh + ky)·kw + kx.
// x is [N, C, H, W] contiguous f32; zero padding. KH/KW > 0 fix the kernel size at compile time
// (divisions by constants), 0 reads kh/kw.
template <int KH, int KW>
struct Im2col {
  static constexpr bool kRowFastest = true;  // threads walk output pixels: coalesced along x
  const float* x;
  int C, H, W, kh, kw, stride, pad_top, pad_left, out_h, out_w;
  int rows, K;
  struct Ctx {
    const float* img;
    int iy0, ix0;
    bool ok;
  };
  __device__ __forceinline__ Ctx ctx(int, int n) const {
    if (n >= rows) return {x, 0, 0, false};
    const int pixels = out_h * out_w;
    const int img = n / pixels, pix = n - img * pixels;
    const int oy = pix / out_w, ox = pix - oy * out_w;
    return {x + int64_t(img) * C * H * W, oy * stride - pad_top, ox * stride - pad_left, true};
  }
  __device__ __forceinline__ float at(const Ctx& c, int k) const {
    if (!c.ok || k >= K) return 0.0f;
    const int khh = KH > 0 ? KH : kh, kww = KW > 0 ? KW : kw;
    const int ch = k / (khh * kww);
    const int r = k - ch * (khh * kww);
    const int ky = r / kww, kx = r - ky * kww;
    const int iy = c.iy0 + ky, ix = c.ix0 + kx;
    if (unsigned(iy) >= unsigned(H) || unsigned(ix) >= unsigned(W)) return 0.0f;
    return c.img[(int64_t(ch) * H + iy) * W + ix];
  }
};

// ---- epilogues ----------------------------------------------------------------------------

// C[z, m, n] at c[z*batch_stride + m*ldc + n]; residual has the same layout as c.
struct EpiDense {
  float* c;
  int64_t ldc, batch_stride;
  const float* bias_m;
  const float* bias_n;
  const float* residual;
  __device__ __forceinline__ void store(int z, int m, int n, float v) const {
    const int64_t o = int64_t(z) * batch_stride + int64_t(m) * ldc + n;
    if (bias_m) v += bias_m[m];
    if (bias_n) v += bias_n[n];
    if (residual) v += residual[o];
    c[o] = v;
  }
};

// Convolution output [N, M, pixels]: n = image·pixels + pixel.
struct EpiConv {
  float* c;
  int pixels, M;
  const float* bias_m;
  const float* residual;
  __device__ __forceinline__ void store(int, int m, int n, float v) const {
    const int img = n / pixels, pix = n - img * pixels;
    const int64_t o = (int64_t(img) * M + m) * pixels + pix;
    if (bias_m) v += bias_m[m];
    if (residual) v += residual[o];
    c[o] = v;
  }
};

// ---- tile staging -------------------------------------------------------------------------

// One thread's share of a ROWS × BK tile, held in registers between the global load and the
// shared-memory store. Row-fastest sources give each thread one fixed row (its context is
// computed once per tile); k-fastest sources give each thread one fixed k.
template <class Src, int ROWS, int BK, int NT>
struct TileRegs {
  static_assert((ROWS * BK) % NT == 0, "tile must split evenly over the threads");
  static_assert(Src::kRowFastest ? NT % ROWS == 0 : NT % BK == 0, "thread layout");
  static constexpr int kN = ROWS * BK / NT;
  float v[kN];

  __device__ __forceinline__ static int row_of(int tid, int i) {
    return Src::kRowFastest ? tid % ROWS : tid / BK + i * (NT / BK);
  }
  __device__ __forceinline__ static int k_of(int tid, int i) {
    return Src::kRowFastest ? tid / ROWS + i * (NT / ROWS) : tid % BK;
  }
  __device__ __forceinline__ void load(const Src& s, int z, int row0, int k0, int tid) {
    if constexpr (Src::kRowFastest) {
      const typename Src::Ctx c = s.ctx(z, row0 + tid % ROWS);
#pragma unroll
      for (int i = 0; i < kN; ++i) v[i] = s.at(c, k0 + k_of(tid, i));
    } else {
#pragma unroll
      for (int i = 0; i < kN; ++i) v[i] = s.at(s.ctx(z, row0 + row_of(tid, i)), k0 + k_of(tid, i));
    }
  }
  // Shared layout [BK][ROWS + pad] (k-major) for the SIMT kernel.
  __device__ __forceinline__ void store_kmajor(float* sm, int ld, int tid) const {
#pragma unroll
    for (int i = 0; i < kN; ++i) sm[k_of(tid, i) * ld + row_of(tid, i)] = v[i];
  }
  // Shared layout [ROWS][BK + pad] (row-major, k contiguous) for WMMA, rounded to T.
  template <typename T>
  __device__ __forceinline__ void store_rowmajor(T* sm, int ld, int tid) const {
#pragma unroll
    for (int i = 0; i < kN; ++i) sm[row_of(tid, i) * ld + k_of(tid, i)] = to_t<T>(v[i]);
  }
  template <typename T>
  __device__ __forceinline__ static T to_t(float x) {
    if constexpr (std::is_same<T, __half>::value) return __float2half_rn(x);
    else return __float2bfloat16_rn(x);
  }
};

// ---- reference: one thread per output, double accumulation --------------------------------

// round: 0 none, 1 bf16, 2 f16 (operands rounded as the tensor-core path rounds them).
__device__ __forceinline__ float round_operand(float x, int round) {
  if (round == 1) return __bfloat162float(__float2bfloat16_rn(x));
  if (round == 2) return __half2float(__float2half_rn(x));
  return x;
}

template <class SA, class SB, class Epi>
__global__ void gemm_reference(SA A, SB B, Epi epi, int M, int N, int K, int round) {
  const int z = blockIdx.y;
  const int64_t total = int64_t(M) * N;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int m = int(i / N), n = int(i - int64_t(m) * N);
    const typename SA::Ctx ca = A.ctx(z, m);
    const typename SB::Ctx cb = B.ctx(z, n);
    double s = 0;
    for (int k = 0; k < K; ++k) s += double(round_operand(A.at(ca, k), round)) * double(round_operand(B.at(cb, k), round));
    epi.store(z, m, n, float(s));
  }
}

// ---- SIMT: f32 FMA, 128×128×8 tiles, 8×8 outputs per thread --------------------------------

constexpr int kSimtBM = 128, kSimtBN = 128, kSimtBK = 8, kSimtThreads = 256, kSimtPad = 4;

template <class SA, class SB, class Epi>
__global__ void __launch_bounds__(kSimtThreads, 2) gemm_simt(SA A, SB B, Epi epi, int M, int N, int K) {
  constexpr int BM = kSimtBM, BN = kSimtBN, BK = kSimtBK, NT = kSimtThreads;
  constexpr int LDA = BM + kSimtPad, LDB = BN + kSimtPad;  // rows stay 16-byte aligned
  __shared__ __align__(16) float As[2][BK * LDA];
  __shared__ __align__(16) float Bs[2][BK * LDB];
  const int tid = threadIdx.x;
  const int tx = tid % 16, ty = tid / 16;  // thread owns rows ty*4+{0..3}, 64+ty*4+{0..3}; same for cols with tx
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN, z = blockIdx.z;
  TileRegs<SA, BM, BK, NT> ta;
  TileRegs<SB, BN, BK, NT> tb;
  float acc[8][8];
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;

  const int nk = (K + BK - 1) / BK;
  if (nk > 0) {
    ta.load(A, z, m0, 0, tid);
    tb.load(B, z, n0, 0, tid);
    ta.store_kmajor(As[0], LDA, tid);
    tb.store_kmajor(Bs[0], LDB, tid);
    __syncthreads();
  }
  for (int kt = 0; kt < nk; ++kt) {
    const int cur = kt & 1;
    const bool more = kt + 1 < nk;
    if (more) {  // global loads for the next tile are in flight during the FMAs below
      ta.load(A, z, m0, (kt + 1) * BK, tid);
      tb.load(B, z, n0, (kt + 1) * BK, tid);
    }
    const float* as = As[cur];
    const float* bs = Bs[cur];
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      const float4 a0 = *reinterpret_cast<const float4*>(as + kk * LDA + ty * 4);
      const float4 a1 = *reinterpret_cast<const float4*>(as + kk * LDA + 64 + ty * 4);
      const float4 b0 = *reinterpret_cast<const float4*>(bs + kk * LDB + tx * 4);
      const float4 b1 = *reinterpret_cast<const float4*>(bs + kk * LDB + 64 + tx * 4);
      const float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
      const float b[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    if (more) {  // the other buffer was last read before the previous barrier
      ta.store_kmajor(As[cur ^ 1], LDA, tid);
      tb.store_kmajor(Bs[cur ^ 1], LDB, tid);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int m = m0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + (i - 4));
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int n = n0 + (j < 4 ? tx * 4 + j : 64 + tx * 4 + (j - 4));
      if (n < N) epi.store(z, m, n, acc[i][j]);
    }
  }
}

// ---- tensor cores: WMMA 16×16×16, T = __nv_bfloat16 or __half, f32 accumulators -------------

constexpr int kWmmaBM = 128, kWmmaBN = 128, kWmmaBK = 32, kWmmaThreads = 256, kWmmaPad = 8;

template <typename T, class SA, class SB, class Epi>
__global__ void __launch_bounds__(kWmmaThreads) gemm_wmma(SA A, SB B, Epi epi, int M, int N, int K) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  __trap();  // the host never selects this kernel below sm_80
#else
  using namespace nvcuda;
  constexpr int BM = kWmmaBM, BN = kWmmaBN, BK = kWmmaBK, NT = kWmmaThreads;
  constexpr int LD = BK + kWmmaPad;  // 40 elements: a multiple of 8 as WMMA needs, rows 80 bytes apart
  constexpr int kTile = BM * LD;     // BM == BN
  static_assert(BM == BN, "A and B tiles share one layout");
  // [stage][A | B][rows][LD]; after the main loop the first 8 KiB hold the epilogue staging.
  __shared__ __align__(128) unsigned char smem[2 * 2 * kTile * sizeof(T)];
  T* tiles = reinterpret_cast<T*>(smem);
  auto a_tile = [&](int stage) { return tiles + (2 * stage) * kTile; };
  auto b_tile = [&](int stage) { return tiles + (2 * stage + 1) * kTile; };

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int wm = warp / 4, wn = warp % 4;  // 2 × 4 warps, each 64 rows × 32 cols
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN, z = blockIdx.z;
  TileRegs<SA, BM, BK, NT> ta;
  TileRegs<SB, BN, BK, NT> tb;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[4][2];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  const int nk = (K + BK - 1) / BK;
  if (nk > 0) {
    ta.load(A, z, m0, 0, tid);
    tb.load(B, z, n0, 0, tid);
    ta.template store_rowmajor<T>(a_tile(0), LD, tid);
    tb.template store_rowmajor<T>(b_tile(0), LD, tid);
    __syncthreads();
  }
  for (int kt = 0; kt < nk; ++kt) {
    const int cur = kt & 1;
    const bool more = kt + 1 < nk;
    if (more) {
      ta.load(A, z, m0, (kt + 1) * BK, tid);
      tb.load(B, z, n0, (kt + 1) * BK, tid);
    }
    const T* as = a_tile(cur);
    const T* bs = b_tile(cur);
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa[4];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> fb[2];
#pragma unroll
      for (int i = 0; i < 4; ++i) wmma::load_matrix_sync(fa[i], as + (wm * 64 + i * 16) * LD + kk, LD);
      // B is stored [n][k]: as a k × n matrix that is column-major.
#pragma unroll
      for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(fb[j], bs + (wn * 32 + j * 16) * LD + kk, LD);
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
    if (more) {
      ta.template store_rowmajor<T>(a_tile(cur ^ 1), LD, tid);
      tb.template store_rowmajor<T>(b_tile(cur ^ 1), LD, tid);
    }
    __syncthreads();
  }
  // Epilogue: each warp stages one 16×16 accumulator at a time in its own 1 KiB of shared memory
  // (the tiles are dead: the loop ended with a barrier), then applies bias/residual with bounds.
  float* stage = reinterpret_cast<float*>(smem) + warp * 256;
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      wmma::store_matrix_sync(stage, acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();
      for (int e = lane; e < 256; e += 32) {
        const int m = m0 + wm * 64 + i * 16 + e / 16;
        const int n = n0 + wn * 32 + j * 16 + e % 16;
        if (m < M && n < N) epi.store(z, m, n, stage[e]);
      }
      __syncwarp();
    }
#endif
}

}  // namespace sd::cuda::gemm_detail
