// Flash attention in f32. One block of 128 threads per (batch·head, 64 queries); K/V tiles of
// 64 keys (32 for heads wider than 64) are staged in shared memory, scores live in registers,
// and a running max / sum per query row rescales the output accumulators (online softmax).
//
// Thread layout: lane bits [0..2] = tk, warp·4 + lane>>3 = tq. A thread owns query rows
// tq·4..tq·4+3 for both products: scores for keys tk + 8c, outputs for dims tk·4 + 32c + {0..3}.
// The 8 threads sharing tq reduce row max/sum with three xor-shuffles, so every one of them
// holds the same running statistics and no statistics go through shared memory.
//
// Shared memory (floats): Q [64][DP+4], K [BK][DP+4], V [BK][DP+4], P [BK][64+4] (transposed
// probabilities). Row pads of 4 keep float4 accesses aligned and spread rows over the banks.
#include <algorithm>

#include "../error.h"
#include "attention.cuh"
#include "common.cuh"
#include "norm.cuh"

namespace sd::cuda {
namespace {

constexpr int kBQ = 64, kThreads = 128;

__host__ __device__ constexpr int block_keys(int dp) { return dp <= 64 ? 64 : 32; }

constexpr size_t flash_smem_bytes(int dp) {
  return size_t(kBQ * (dp + 4) + 2 * block_keys(dp) * (dp + 4) + block_keys(dp) * (kBQ + 4)) * sizeof(float);
}

int padded_head_dim(const AttnArgs& a) {
  const int d = std::max(a.d, a.dv);
  return (d + 31) / 32 * 32;
}

// dst[r][i] = src[(row0 + r)*ts + i] for r < ROWS, i < DP; zero outside nrows × width.
template <int DP, int ROWS, bool VEC>
__device__ __forceinline__ void load_tile(float* dst, const float* src, int64_t ts, int row0, int nrows, int width) {
  constexpr int LD = DP + 4;
  if constexpr (VEC) {  // width % 4 == 0, ts % 4 == 0, src 16-byte aligned
    constexpr int U = DP / 4;
    for (int e = threadIdx.x; e < ROWS * U; e += kThreads) {
      const int r = e / U, i = (e - r * U) * 4;
      float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      if (row0 + r < nrows && i < width) v = *reinterpret_cast<const float4*>(src + int64_t(row0 + r) * ts + i);
      *reinterpret_cast<float4*>(dst + r * LD + i) = v;
    }
  } else {
    for (int e = threadIdx.x; e < ROWS * DP; e += kThreads) {
      const int r = e / DP, i = e - r * DP;
      dst[r * LD + i] = (row0 + r < nrows && i < width) ? src[int64_t(row0 + r) * ts + i] : 0.0f;
    }
  }
}

template <int DP, bool VEC>
__global__ void __launch_bounds__(kThreads) flash_attention_kernel(AttnArgs a) {
  constexpr int BQ = kBQ, BK = block_keys(DP), LD = DP + 4, LDP = BQ + 4;
  constexpr int KC = BK / 8;   // keys per thread
  constexpr int DC = DP / 32;  // float4 output chunks per thread
  extern __shared__ float4 smem4[];
  float* Qs = reinterpret_cast<float*>(smem4);
  float* Ks = Qs + BQ * LD;
  float* Vs = Ks + BK * LD;
  float* Ps = Vs + BK * LD;

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int tk = lane & 7, tq = warp * 4 + (lane >> 3);
  const int bh = blockIdx.y, b = bh / a.heads, h = bh - b * a.heads;
  const int q0 = blockIdx.x * BQ;
  const float* qb = a.q + b * a.q_bs + int64_t(h) * a.d;
  const float* kb = a.k + b * a.k_bs + int64_t(h) * a.d;
  const float* vb = a.v + b * a.v_bs + int64_t(h) * a.dv;
  float* ob = a.o + b * a.o_bs + int64_t(h) * a.dv;

  load_tile<DP, BQ, VEC>(Qs, qb, a.q_ts, q0, a.tq, a.d);

  float m_run[4], l_run[4], acc[4][DC * 4];
#pragma unroll
  for (int r = 0; r < 4; ++r) {
    m_run[r] = -INFINITY;
    l_run[r] = 0.0f;
#pragma unroll
    for (int e = 0; e < DC * 4; ++e) acc[r][e] = 0.0f;
  }
  // Keys after the block's last query are masked for every row under a causal mask.
  const int k_end = a.causal ? min(a.tk, q0 + BQ) : a.tk;
  const int dq = (a.d + 3) & ~3;  // Q and K are zero beyond d

  for (int k0 = 0; k0 < k_end; k0 += BK) {
    __syncthreads();  // the previous tile is consumed (and Q is stored, on the first pass)
    load_tile<DP, BK, VEC>(Ks, kb, a.k_ts, k0, a.tk, a.d);
    load_tile<DP, BK, VEC>(Vs, vb, a.v_ts, k0, a.tk, a.dv);
    __syncthreads();

    float s[4][KC];
#pragma unroll
    for (int r = 0; r < 4; ++r)
#pragma unroll
      for (int c = 0; c < KC; ++c) s[r][c] = 0.0f;
#pragma unroll 2
    for (int i = 0; i < dq; i += 4) {
      float4 qv[4];
#pragma unroll
      for (int r = 0; r < 4; ++r) qv[r] = *reinterpret_cast<const float4*>(Qs + (tq * 4 + r) * LD + i);
#pragma unroll
      for (int c = 0; c < KC; ++c) {
        const float4 kv = *reinterpret_cast<const float4*>(Ks + (tk + 8 * c) * LD + i);
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          s[r][c] = fmaf(qv[r].x, kv.x, s[r][c]);
          s[r][c] = fmaf(qv[r].y, kv.y, s[r][c]);
          s[r][c] = fmaf(qv[r].z, kv.z, s[r][c]);
          s[r][c] = fmaf(qv[r].w, kv.w, s[r][c]);
        }
      }
    }

#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int qi = q0 + tq * 4 + r;
      float mt = -INFINITY;
#pragma unroll
      for (int c = 0; c < KC; ++c) {
        const int kj = k0 + tk + 8 * c;
        const bool ok = kj < a.tk && (!a.causal || kj <= qi);
        s[r][c] = ok ? s[r][c] * a.scale : -INFINITY;
        mt = fmaxf(mt, s[r][c]);
      }
      mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, 1));
      mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, 2));
      mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, 4));
      const float m_new = fmaxf(m_run[r], mt);
      const float m_use = m_new == -INFINITY ? 0.0f : m_new;  // nothing visible yet: p = 0, no NaN
      const float alpha = expf(m_run[r] - m_use);
      float ps = 0.0f;
#pragma unroll
      for (int c = 0; c < KC; ++c) {
        const float p = expf(s[r][c] - m_use);
        s[r][c] = p;
        ps += p;
      }
      ps += __shfl_xor_sync(0xffffffffu, ps, 1);
      ps += __shfl_xor_sync(0xffffffffu, ps, 2);
      ps += __shfl_xor_sync(0xffffffffu, ps, 4);
      l_run[r] = l_run[r] * alpha + ps;
      m_run[r] = m_new;
#pragma unroll
      for (int e = 0; e < DC * 4; ++e) acc[r][e] *= alpha;
    }
#pragma unroll
    for (int c = 0; c < KC; ++c)
      *reinterpret_cast<float4*>(Ps + (tk + 8 * c) * LDP + tq * 4) = make_float4(s[0][c], s[1][c], s[2][c], s[3][c]);
    __syncthreads();

    // acc += P · V; masked keys have p = 0 and rows past tk are zero in V.
#pragma unroll 4
    for (int j = 0; j < BK; ++j) {
      const float4 p = *reinterpret_cast<const float4*>(Ps + j * LDP + tq * 4);
      const float pr[4] = {p.x, p.y, p.z, p.w};
#pragma unroll
      for (int c = 0; c < DC; ++c) {
        const float4 v = *reinterpret_cast<const float4*>(Vs + j * LD + tk * 4 + 32 * c);
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          acc[r][c * 4 + 0] = fmaf(pr[r], v.x, acc[r][c * 4 + 0]);
          acc[r][c * 4 + 1] = fmaf(pr[r], v.y, acc[r][c * 4 + 1]);
          acc[r][c * 4 + 2] = fmaf(pr[r], v.z, acc[r][c * 4 + 2]);
          acc[r][c * 4 + 3] = fmaf(pr[r], v.w, acc[r][c * 4 + 3]);
        }
      }
    }
  }

#pragma unroll
  for (int r = 0; r < 4; ++r) {
    const int qi = q0 + tq * 4 + r;
    if (qi >= a.tq) continue;
    const float inv = l_run[r] > 0.0f ? 1.0f / l_run[r] : 0.0f;
    float* orow = ob + int64_t(qi) * a.o_ts;
#pragma unroll
    for (int c = 0; c < DC; ++c)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int i = tk * 4 + 32 * c + e;
        if (i < a.dv) orow[i] = acc[r][c * 4 + e] * inv;
      }
  }
}

template <int DP>
void launch_flash(cudaStream_t st, const AttnArgs& a, bool vec) {
  const size_t smem = flash_smem_bytes(DP);
  const dim3 grid{unsigned((a.tq + kBQ - 1) / kBQ), unsigned(a.batch * a.heads)};
  if (vec) {
    SD_CUDA_CHECK(cudaFuncSetAttribute(flash_attention_kernel<DP, true>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
    flash_attention_kernel<DP, true><<<grid, kThreads, smem, st>>>(a);
  } else {
    SD_CUDA_CHECK(cudaFuncSetAttribute(flash_attention_kernel<DP, false>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
    flash_attention_kernel<DP, false><<<grid, kThreads, smem, st>>>(a);
  }
  SD_CUDA_CHECK_LAUNCH("flash_attention_kernel");
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

// float4 loads are valid when every row start is 16-byte aligned and widths are multiples of 4.
bool can_vectorise(const AttnArgs& a) {
  return a.d % 4 == 0 && a.dv % 4 == 0 && aligned16(a.q) && aligned16(a.k) && aligned16(a.v) && a.q_bs % 4 == 0 &&
         a.q_ts % 4 == 0 && a.k_bs % 4 == 0 && a.k_ts % 4 == 0 && a.v_bs % 4 == 0 && a.v_ts % 4 == 0;
}

int64_t fallback_chunk(const AttnArgs& a) {
  const int64_t budget = int64_t(64) << 20;  // floats of scores per chunk (256 MiB)
  return std::max<int64_t>(1, std::min<int64_t>(a.tq, budget / std::max(1, a.tk)));
}

// Scores for a chunk of queries in scratch, softmax in place, then P·V, per (batch, head).
void launch_fallback(cudaStream_t st, const GemmConfig& cfg, const AttnArgs& a, float* scratch) {
  const int64_t chunk = fallback_chunk(a);
  for (int b = 0; b < a.batch; ++b)
    for (int h = 0; h < a.heads; ++h)
      for (int64_t q0 = 0; q0 < a.tq; q0 += chunk) {
        const int rows = int(std::min<int64_t>(chunk, a.tq - q0));
        DenseGemm s;
        s.m = rows; s.n = a.tk; s.k = a.d;
        s.a = a.q + b * a.q_bs + q0 * a.q_ts + int64_t(h) * a.d; s.lda = a.q_ts;
        s.b = a.k + b * a.k_bs + int64_t(h) * a.d; s.ldb = a.k_ts;
        s.c = scratch; s.ldc = a.tk;
        launch_gemm(st, cfg, s);
        launch_softmax(st, scratch, scratch, rows, a.tk, a.scale, a.causal ? q0 : -1);
        DenseGemm o;
        o.m = rows; o.n = a.dv; o.k = a.tk;
        o.a = scratch; o.lda = a.tk;
        o.b = a.v + b * a.v_bs + int64_t(h) * a.dv; o.ldb = a.v_ts; o.b_n_major = true;  // V[j][i]: (n=i, k=j)
        o.c = a.o + b * a.o_bs + q0 * a.o_ts + int64_t(h) * a.dv; o.ldc = a.o_ts;
        launch_gemm(st, cfg, o);
      }
}

}  // namespace

bool attention_uses_flash(const DeviceCaps& caps, const AttnArgs& a) {
  const int dp = padded_head_dim(a);
  return dp <= 160 && flash_smem_bytes(dp) <= caps.smem_optin && int64_t(a.batch) * a.heads <= 65535;
}

size_t attention_scratch_bytes(const DeviceCaps& caps, const AttnArgs& a) {
  if (attention_uses_flash(caps, a)) return 0;
  return size_t(fallback_chunk(a)) * size_t(std::max(1, a.tk)) * sizeof(float);
}

void launch_attention(cudaStream_t st, const GemmConfig& cfg, const DeviceCaps& caps, const AttnArgs& a, float* scratch) {
  if (a.batch <= 0 || a.heads <= 0 || a.tq <= 0) return;
  if (a.tk <= 0) throw Error("attention: tk must be > 0 (softmax over no keys)");
  if (!attention_uses_flash(caps, a)) {
    if (!scratch) throw Error("cuda: attention fallback needs scratch memory");
    return launch_fallback(st, cfg, a, scratch);
  }
  const bool vec = can_vectorise(a);
  switch (padded_head_dim(a)) {
    case 32: return launch_flash<32>(st, a, vec);
    case 64: return launch_flash<64>(st, a, vec);
    case 96: return launch_flash<96>(st, a, vec);
    case 128: return launch_flash<128>(st, a, vec);
    default: return launch_flash<160>(st, a, vec);
  }
}

}  // namespace sd::cuda
