// Fused multi-head attention for the CPU backend, flash-style: softmax(q kᵀ · scale) v is
// computed block by block with a running max and sum, so the [Tq, Tk] score matrix is never
// materialised (4096×4096 per head at 512² would be 64 MiB each).
#pragma once
#include <cstdint>

#include "gemm.h"

namespace sd::cpu {

struct AttentionParams {
  int64_t batch_heads = 0;   // independent problems (batch × heads)
  int64_t tq = 0, tk = 0, head_dim = 0, head_dim_v = 0;  // head_dim_v == 0 means head_dim
  // Element (bh, t, d) of q is at q[bh * q_bh_stride + t * q_t_stride + d]; same for k, v, out.
  // Strides let q/k/v be read straight out of a [B, T, heads*d] projection with no permute copy.
  const float* q = nullptr; int64_t q_bh_stride = 0, q_t_stride = 0;
  const float* k = nullptr; int64_t k_bh_stride = 0, k_t_stride = 0;
  const float* v = nullptr; int64_t v_bh_stride = 0, v_t_stride = 0;
  float* out = nullptr;     int64_t o_bh_stride = 0, o_t_stride = 0;
  // For [B*heads] problems stored as [B, T, heads*d]: bh = b*heads + h maps to the
  // base offset b*batch_stride + h*head_stride when heads > 0 (then *_bh_stride are ignored).
  int64_t heads = 0;
  int64_t q_batch_stride = 0, q_head_stride = 0;
  int64_t k_batch_stride = 0, k_head_stride = 0;
  int64_t v_batch_stride = 0, v_head_stride = 0;
  int64_t o_batch_stride = 0, o_head_stride = 0;
  float scale = 1.0f;
  bool causal = false;       // query t sees keys 0..t (CLIP text encoder)
  GemmPrecision precision = GemmPrecision::F32;
  Isa isa = Isa::Scalar;
};

void attention(const AttentionParams& p, ThreadPool& pool);
void attention_reference(const AttentionParams& p);  // double precision, materialises scores

}  // namespace sd::cpu
