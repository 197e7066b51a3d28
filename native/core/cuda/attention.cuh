// Fused multi-head attention: out = softmax(q·kᵀ·scale) v per (batch, head), reading q, k, v
// straight out of [B, T, heads·d] projections (strided views allowed, unit inner stride).
#pragma once
#include "gemm.cuh"

namespace sd::cuda {

struct AttnArgs {
  const float* q = nullptr;  // (b, t, h, i) at q[b*q_bs + t*q_ts + h*d + i]
  const float* k = nullptr;  // same with k_bs, k_ts, d
  const float* v = nullptr;  // same with v_bs, v_ts, dv
  float* o = nullptr;        // same with o_bs, o_ts, dv
  int64_t q_bs = 0, q_ts = 0, k_bs = 0, k_ts = 0, v_bs = 0, v_ts = 0, o_bs = 0, o_ts = 0;
  int batch = 0, heads = 0, tq = 0, tk = 0, d = 0, dv = 0;
  float scale = 1.0f;
  bool causal = false;  // query t sees keys 0..t
};

// Head dims up to 160 run the flash kernel (f32, online softmax, K/V tiles in shared memory,
// no score matrix). Larger heads (the VAE's single 512-wide head) materialise scores for a
// chunk of queries in `scratch` and run two GEMMs and a softmax.
bool attention_uses_flash(const DeviceCaps& caps, const AttnArgs& a);
size_t attention_scratch_bytes(const DeviceCaps& caps, const AttnArgs& a);  // 0 for the flash kernel
void launch_attention(cudaStream_t stream, const GemmConfig& cfg, const DeviceCaps& caps, const AttnArgs& a,
                      float* scratch);

}  // namespace sd::cuda
