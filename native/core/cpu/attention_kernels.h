// Private to the attention files: one flash-attention block (a run of queries of one head
// against all its keys) as a plain-data job, and the per-ISA entry points. Only plain data
// crosses between attention.cpp (no ISA flags) and attention_<isa>.cpp (own -m flags); see
// gemm_kernels.h for why.
#pragma once
#include <cstdint>

namespace sd::cpu::attention_detail {

constexpr int kBlockQ = 64;  // queries per task
constexpr int kBlockK = 64;  // keys per inner step

// Keys (transposed) and values of one (batch, head), packed once and shared by all its query
// blocks: kt [k_blocks][dp][kBlockK], vb [k_blocks][kBlockK][dvp] (zero padded; bf16-rounded
// when bf16). dp, dvp = d, dv rounded up to 16.
struct AttnPackJob {
  const float* k; int64_t k_t_stride;
  const float* v; int64_t v_t_stride;
  int64_t k0, tk, d, dv;   // pack keys [k0, min(k0 + kBlockK, tk))
  bool bf16;
  float* kt;               // this block's [dp][kBlockK]
  float* vb;               // this block's [kBlockK][dvp]
};

struct AttnBlock {
  const float* q; int64_t q_t_stride;  // already offset to this (batch, head)
  const float* k; int64_t k_t_stride;
  const float* v; int64_t v_t_stride;
  float* out;     int64_t o_t_stride;
  int64_t q0, nq;          // queries [q0, q0 + nq), nq <= kBlockQ
  int64_t tk, d, dv;
  float scale;
  bool causal;             // query t sees keys 0..t
  bool bf16;               // round q, k, v and probabilities to bf16 (f32 accumulation)
  const float* kt;         // packed keys of this (batch, head), see AttnPackJob
  const float* vb;         // packed values
  float* scratch;          // attention_scratch_floats(d, dv) floats, 64-byte aligned
};

inline int64_t attention_round16(int64_t x) { return (x + 15) / 16 * 16; }
inline int64_t attention_scratch_floats(int64_t d, int64_t dv) {
  const int64_t dp = attention_round16(d), dvp = attention_round16(dv);
  return kBlockQ * dp + kBlockQ * dvp + kBlockQ * kBlockK + 3 * kBlockQ + 64;
}

struct AttentionKernels {
  void (*pack)(const AttnPackJob&);
  void (*block)(const AttnBlock&);
};
const AttentionKernels* attention_kernels_scalar();
const AttentionKernels* attention_kernels_avx2();
const AttentionKernels* attention_kernels_avx512();
const AttentionKernels* attention_kernels_avx512bf16();  // Bf16 precision only
const AttentionKernels* attention_kernels_neon();  // AArch64 builds only

}  // namespace sd::cpu::attention_detail
